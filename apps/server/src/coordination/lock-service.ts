import { Metadata, status, type ServerErrorResponse, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { v3lockpb } from '@raftkv/api';
import { EtcdClientError, EtcdServerError, Mutex, Session, type Client, type Lease } from '@raftkv/client';

/** etcd's default session TTL: the lease a Lock/Campaign without one gets (never kept alive). */
const DEFAULT_SESSION_TTL_SECONDS = 60;

/**
 * A client error as the status the caller sees. etcd's v3lock/v3election return clientv3's errors:
 * etcd's own (rpctypes.EtcdError) are not gRPC statuses, so grpc-go sends them as UNKNOWN with
 * the message (measured: a Lock on a missing lease is `2 etcdserver: requested lease not found`);
 * other statuses keep their code.
 */
export function relayError(err: unknown): ServerErrorResponse {
  const e: ServerErrorResponse = new Error(err instanceof Error ? err.message : String(err));
  if (err instanceof EtcdServerError) {
    e.code = status.UNKNOWN;
    e.details = err.details;
  } else if (err instanceof EtcdClientError) {
    e.code = err.code;
    e.details = err.details;
  } else {
    e.code = status.UNKNOWN; // as grpc-go answers a plain error
    e.details = e.message;
  }
  e.metadata = new Metadata();
  return e;
}

/** Aborted when the caller cancels or its deadline passes. */
export function callSignal(call: { on(event: 'cancelled', cb: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  return ac.signal;
}

/**
 * etcd's concurrency.NewSession(WithLease(id)) followed by Orphan(): the caller's lease, not kept
 * alive by the server; lease 0 means a fresh lease of the default TTL, never kept alive either.
 */
export async function orphanSession(client: Client, lease: bigint, signal: AbortSignal): Promise<Session> {
  let handle: Lease;
  if (lease === 0n) handle = await client.grant(DEFAULT_SESSION_TTL_SECONDS, { keepAlive: false, signal });
  else handle = client.leaseOf(lease);
  return Session.ofLease(client, handle);
}

/** The member's client, sending the caller's auth token (its requests run with the caller's permissions). */
export function callerClient(client: Client, call: { metadata: Metadata }): Client {
  const token = call.metadata.get('token')[0];
  return typeof token === 'string' && token !== '' ? client.withToken(token) : client;
}

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void;

function handler<Req, Res>(client: Client, body: (client: Client, req: Req, signal: AbortSignal) => Promise<Res>): Handler<Req, Res> {
  return (call, cb) => {
    body(callerClient(client, call), call.request, callSignal(call)).then((res) => cb(null, res), (err: unknown) => cb(relayError(err)));
  };
}

/** v3lockpb.Lock, as etcd's v3lock server: a Mutex on the caller's lease, over the member's own client. */
export function lockService(loopback: Client): v3lockpb.LockServer {
  return {
    lock: handler(loopback, async (client, req: v3lockpb.LockRequest, signal) => {
      const session = await orphanSession(client, req.lease, signal);
      const m = new Mutex(session, req.name);
      await m.lock({ signal });
      return { header: m.header, key: m.key };
    }),
    unlock: handler(loopback, async (client, req: v3lockpb.UnlockRequest, signal) => {
      const r = await client.delete(req.key, { signal });
      return { header: r.header };
    }),
  };
}
