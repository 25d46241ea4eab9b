// Waiting for the keys ahead in a queue (a Mutex's or an Election's) to go, as etcd's concurrency/key.go.
import type { Client } from '../client.js';
import { EtcdClientError, SessionExpiredError } from '../errors.js';
import type { CallControl } from '../connection.js';
import type { Session } from './session.js';
import type { ResponseHeader } from '../kv.js';

/** Resolves when `key` is deleted at or after revision `rev`. */
async function waitDelete(client: Client, key: Buffer, rev: bigint, signal: AbortSignal | undefined): Promise<void> {
  const watcher = client.watch(key, { startRevision: rev, signal, filters: ['noPut'] });
  for await (const batch of watcher) {
    if (batch.events.some((e) => e.type === 'delete')) return;
  }
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new EtcdClientError('cancelled');
  throw new EtcdClientError('lost watcher waiting for delete');
}

/** Waits until no key under `prefix` has a create revision ≤ `maxCreateRevision`; returns the last read's header. */
export async function waitDeletes(client: Client, prefix: Buffer, maxCreateRevision: bigint, signal: AbortSignal | undefined): Promise<ResponseHeader> {
  for (;;) {
    const r = await client.range(prefix, { prefix: true, sort: { target: 'create', order: 'descend' }, limit: 1, maxCreateRevision, signal });
    if (r.kvs.length === 0) return r.header;
    await waitDelete(client, r.kvs[0]!.key, r.header.revision, signal);
  }
}

/**
 * After the wait: the session still holds its key (etcd 3.5's check). A lease lost meanwhile
 * took the key with it, and the turn that came is no one's; without this a holder whose lease
 * just expired would report the lock or the leadership that the next in line now has.
 */
export async function assertSessionHolds(session: Session, key: Buffer, control: CallControl): Promise<void> {
  if (session.signal.aborted) throw new SessionExpiredError();
  const kv = await session.client.get(key, control);
  if (kv === undefined || session.signal.aborted) throw new SessionExpiredError();
}
