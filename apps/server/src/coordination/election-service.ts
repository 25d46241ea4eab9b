import type { ServerWritableStream } from '@grpc/grpc-js';
import { v3electionpb, type mvccpb } from '@raftkv/api';
import { CancelledError, Election, EtcdClientError, type Client } from '@raftkv/client';
import { callerClient, callSignal, orphanSession, relayError } from './lock-service.js';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';

/** etcd's v3election.ErrMissingLeaderKey. */
const MISSING_LEADER_KEY = '"leader" field must be provided';

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void;

function handler<Req, Res>(client: Client, body: (client: Client, req: Req, signal: AbortSignal) => Promise<Res>): Handler<Req, Res> {
  return (call, cb) => {
    body(callerClient(client, call), call.request, callSignal(call)).then((res) => cb(null, res), (err: unknown) => cb(relayError(err)));
  };
}

function leaderKey(req: { leader: v3electionpb.LeaderKey | undefined }): v3electionpb.LeaderKey {
  if (req.leader === undefined) throw new EtcdClientError(MISSING_LEADER_KEY);
  return req.leader;
}

/** v3electionpb.Election, as etcd's v3election server: the Election recipe over the member's own client. */
export function electionService(loopback: Client): v3electionpb.ElectionServer {
  return {
    campaign: handler(loopback, async (client, req: v3electionpb.CampaignRequest, signal) => {
      const s = await orphanSession(client, req.lease, signal);
      const e = new Election(s, req.name);
      await e.campaign(req.value, { signal });
      return { header: e.header, leader: { name: req.name, key: e.key, rev: e.rev, lease: s.lease } };
    }),
    proclaim: handler(loopback, async (client, req: v3electionpb.ProclaimRequest, signal) => {
      const l = leaderKey(req);
      const s = await orphanSession(client, l.lease, signal);
      const e = Election.resume(s, l.name, l.key, l.rev);
      await e.proclaim(req.value, { signal });
      return { header: e.header };
    }),
    leader: handler(loopback, async (client, req: v3electionpb.LeaderRequest, signal) => {
      const s = await orphanSession(client, -1n, signal);
      const l = await new Election(s, req.name).leader({ signal });
      return { header: l.header, kv: l.kv as mvccpb.KeyValue };
    }),
    resign: handler(loopback, async (client, req: v3electionpb.ResignRequest, signal) => {
      const l = leaderKey(req);
      const s = await orphanSession(client, l.lease, signal);
      const e = Election.resume(s, l.name, l.key, l.rev);
      await e.resign({ signal });
      return { header: e.header };
    }),
    observe: (call: ServerWritableStream<v3electionpb.LeaderRequest, v3electionpb.LeaderResponse>) => {
      const signal = callSignal(call);
      const client = callerClient(loopback, call);
      void (async () => {
        const s = await orphanSession(client, -1n, signal);
        for await (const l of new Election(s, call.request.name).observe({ signal })) {
          if (signal.aborted) return;
          if (!call.write({ header: l.header, kv: l.kv })) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      })().catch((err: unknown) => {
        if (signal.aborted || err instanceof CancelledError) return;
        call.emit('error', relayError(err));
      });
    },
  };
}
