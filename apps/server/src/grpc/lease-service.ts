import type { ServerDuplexStream } from '@grpc/grpc-js';
import { EtcdErrors, etcdserverpb } from '@raftkv/api';
import { passingEncoded } from './encoded-responses.js';
import type { ServerCore } from '../server-core.js';
import { toServiceError, unary } from './unary.js';
import { WriteResponses } from './write-responses.js';

/** The Lease service definition, with a LeaseGrant serializer that passes pre-encoded answers through. */
export const LeaseServiceWithEncodedGrant = {
  ...etcdserverpb.LeaseService,
  leaseGrant: passingEncoded(etcdserverpb.LeaseService.leaseGrant),
} as const;

/** Renewals of one KeepAlive stream waiting for their turn before the stream stops reading. */
const MAX_QUEUED_RENEWALS = 64;

/**
 * The Lease service. Grants and revokes go through the log; keepalives and time-to-live are
 * answered by the leader's lessor, as in etcd: a follower forwards them to the leader.
 *
 * A KeepAlive stream answers its requests in order and is backpressured: it reads no further
 * while its answers wait on HTTP/2 flow control or {@link MAX_QUEUED_RENEWALS} renewals are
 * queued. After the client half-closes, every request read is answered, then the stream ends
 * with OK (etcd's behaviour).
 */
export function leaseService(core: ServerCore): etcdserverpb.LeaseServer {
  const header = () => core.header(core.store.currentRevision);
  let responses: WriteResponses | undefined; // at the first grant: the member's IDs are known by then
  const grantAnswer = (granted: { id: bigint; ttlSeconds: number; revision: number }): etcdserverpb.LeaseGrantResponse => {
    // Encoded by hand, framed (write-responses.ts); LeaseServiceWithEncodedGrant passes it through.
    // The revision as the grant applied, as etcd's: entries after it in its batch are applied by now.
    responses ??= new WriteResponses(core.clusterId, core.self.id);
    return responses.leaseGrant(granted.revision, core.log.term, granted.id, granted.ttlSeconds) as unknown as etcdserverpb.LeaseGrantResponse;
  };
  return {
    // Promise chains rather than async frames, as KV put (one promise per grant here, one in unary).
    leaseGrant: unary((req: etcdserverpb.LeaseGrantRequest, call) => {
      core.refuseOnLearner();
      const requester = core.authenticator.requester(call);
      const granted = requester instanceof Promise ? requester.then((r) => core.leaseGrant(req, r)) : core.leaseGrant(req, requester);
      return granted.then(grantAnswer);
    }),
    leaseRevoke: unary(async (req: etcdserverpb.LeaseRevokeRequest, call) => {
      core.refuseOnLearner();
      // etcd checks write permission on every key of the lease, at apply.
      return { header: core.header(await core.leaseRevoke(req.ID, await core.authenticator.requester(call))) };
    }),
    leaseTimeToLive: unary(async (req: etcdserverpb.LeaseTimeToLiveRequest) => {
      core.refuseOnLearner();
      try {
        const t = await core.leaseTimeToLive(req.ID, req.keys);
        return {
          header: header(), ID: req.ID, TTL: BigInt(t.ttl), grantedTTL: BigInt(t.grantedTtl),
          keys: t.keys.map((k) => Buffer.from(k, 'base64')),
        };
      } catch (err) {
        // etcd answers an unknown lease with TTL -1, not an error.
        if (EtcdErrors.LeaseNotFound.is(err)) return { header: header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
        throw err;
      }
    }),
    leaseLeases: unary(() => {
      core.refuseOnLearner();
      return { header: header(), leases: core.lessor.leases().map((ID) => ({ ID })) };
    }),
    leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
      if (core.isLearner) {
        call.emit('error', toServiceError(EtcdErrors.NotSupportedForLearner));
        return;
      }
      // Renewals may be forwarded to the leader: answer them one at a time, in request order.
      // A client that sends faster than it reads must not grow the queue of renewals or the
      // send buffer: reading stops while MAX_QUEUED_RENEWALS wait or HTTP/2 flow control holds
      // the answers, and resumes when both have room (etcd receives the next request only
      // once the previous answer is sent).
      let chain = Promise.resolve();
      let failed = false;
      let queued = 0;
      let sendBlocked = false;
      let paused = false;
      const flow = () => {
        const stop = sendBlocked || queued >= MAX_QUEUED_RENEWALS;
        if (stop === paused) return;
        paused = stop;
        if (stop) call.pause();
        else call.resume();
      };
      const done = () => {
        queued--;
        flow();
      };
      // A bug must end this stream (INTERNAL, logged), not reject the chain: a rejection nobody
      // handles stops the process.
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        call.emit('error', toServiceError(err));
      };
      const send = (response: etcdserverpb.LeaseKeepAliveResponse) => {
        if (!call.write(response)) sendBlocked = true;
      };
      // Answers one renewal: at once when the leader renews the lease at once (the hot path: no
      // promise), else returns the wait (forwarded, or an expired lease's revoke).
      const renew = (req: etcdserverpb.LeaseKeepAliveRequest): Promise<void> | undefined => {
        if (failed) return undefined;
        // The header of a renewal is taken before it, so a revoke can never look older than it.
        const response: etcdserverpb.LeaseKeepAliveResponse = { header: header(), ID: req.ID, TTL: 0n };
        const ttl = core.leaseRenew(req.ID);
        if (typeof ttl === 'number') {
          response.TTL = BigInt(ttl);
          send(response);
          return undefined;
        }
        return ttl.then((renewed) => {
          response.TTL = BigInt(renewed);
          send(response);
        }, (err: unknown) => {
          if (!EtcdErrors.LeaseNotFound.is(err)) return fail(err);
          // etcd answers a keepalive of an unknown or expired lease with TTL 0; an expired one's
          // answer waited for its revoke, whose deletes its header must include (etcd's does).
          response.header = header();
          send(response);
        });
      };
      call.on('drain', () => {
        sendBlocked = false;
        flow();
      });
      call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
        queued++;
        flow();
        if (queued > 1) {
          chain = chain.then(() => renew(req)).finally(done).catch(fail);
          return;
        }
        // Nothing waits before this one: it may be answered now, in order.
        let wait: Promise<void> | undefined;
        try {
          wait = renew(req);
        } catch (err) {
          done();
          fail(err);
          return;
        }
        if (wait === undefined) done();
        else chain = wait.finally(done).catch(fail);
      });
      // Every request read is answered before the stream ends with OK, as etcd does.
      call.on('end', () => void chain.then(() => call.end()));
      call.on('error', () => undefined);
    },
  };
}
