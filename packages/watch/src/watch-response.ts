import type { Event, KeyValue } from '@raftkv/mvcc';

/** etcd's clientv3.InvalidWatchID: the watch id of stream-wide progress responses and failed creates. */
export const INVALID_WATCH_ID = -1n;

/**
 * One message for a watch stream, field for field etcd's etcdserverpb.WatchResponse
 * minus the parts only the server knows (cluster id, member id, raft term). The server
 * maps it 1:1: `revision` is `header.revision`.
 *
 * Kinds, as etcd sends them:
 * - created: `created` (and `canceled` + `cancelReason` with watchId -1 when refused);
 *   `revision` is the store revision when the watcher was created.
 * - events: `events` non-empty, `revision` is the revision the watcher has now seen up
 *   to (the events' revision when live; the last scanned revision when catching up).
 * - progress: no events, `revision` = the store revision; watchId -1 when it answers a
 *   stream-wide progress request, the watcher's id for a progress_notify tick.
 * - compacted: `compactRevision` > 0, `canceled`; `revision` is 0 as in etcd 3.4.
 * - canceled: `canceled`, answering a cancel request.
 * - fragment: `fragment` true on every piece of a split response but the last.
 */
export interface WatchResponse {
  watchId: bigint;
  revision: number;
  events: Event[];
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  fragment: boolean;
}

/** A response with every field at its zero value except those given. */
export function watchResponse(fields: Partial<WatchResponse> & { watchId: bigint; revision: number }): WatchResponse {
  return {
    watchId: fields.watchId,
    revision: fields.revision,
    events: fields.events ?? [],
    created: fields.created ?? false,
    canceled: fields.canceled ?? false,
    compactRevision: fields.compactRevision ?? 0,
    cancelReason: fields.cancelReason ?? '',
    fragment: fields.fragment ?? false,
  };
}

/** An event response: the hot path builds one per watcher per revision, so no spreading. */
export function eventsResponse(watchId: bigint, revision: number, events: Event[]): WatchResponse {
  return { watchId, revision, events, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function lengthDelimited(n: number): number {
  return 1 + varintSize(n) + n;
}

function leaseSize(lease: bigint): number {
  let v = BigInt.asUintN(64, lease);
  let size = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    size++;
  }
  return size;
}

/** Exact protobuf size of an mvccpb.KeyValue (proto3: zero fields are not written). */
export function keyValueWireSize(kv: KeyValue): number {
  let size = 0;
  if (kv.key.length > 0) size += lengthDelimited(kv.key.length);
  if (kv.createRevision !== 0) size += 1 + varintSize(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + varintSize(kv.modRevision);
  if (kv.version !== 0) size += 1 + varintSize(kv.version);
  if (kv.value.length > 0) size += lengthDelimited(kv.value.length);
  if (kv.lease !== 0n) size += 1 + leaseSize(kv.lease);
  return size;
}

/** Exact protobuf size of an mvccpb.Event. */
export function eventWireSize(ev: Event): number {
  let size = ev.type === 'delete' ? 2 : 0;
  size += lengthDelimited(keyValueWireSize(ev.kv));
  if (ev.prevKv) size += lengthDelimited(keyValueWireSize(ev.prevKv));
  return size;
}

/** What an event's prev_kv adds to its {@link eventWireSize} (0 without one). */
export function prevKvWireSize(ev: Event): number {
  return ev.prevKv ? lengthDelimited(keyValueWireSize(ev.prevKv)) : 0;
}

/**
 * Upper bound of the bytes a ResponseHeader takes (cluster_id, member_id, revision and
 * raft_term as 10-byte varints, with tags and the length prefix).
 */
export const RESPONSE_HEADER_MAX_BYTES = 2 + 4 * 11;

/** Protobuf size of a WatchResponse's events field (each repeated element with its tag). */
export function eventsWireSize(events: readonly Event[]): number {
  let size = 0;
  for (const ev of events) size += lengthDelimited(eventWireSize(ev));
  return size;
}

/**
 * Upper bound of the encoded size of `resp` as an etcdserverpb.WatchResponse: exact for
 * the events, {@link RESPONSE_HEADER_MAX_BYTES} for the header the server adds.
 */
export function watchResponseWireSize(resp: WatchResponse): number {
  let size = RESPONSE_HEADER_MAX_BYTES + eventsWireSize(resp.events);
  size += 11; // watch_id, at most a 10-byte varint
  if (resp.created) size += 2;
  if (resp.canceled) size += 2;
  if (resp.fragment) size += 2;
  if (resp.compactRevision !== 0) size += 1 + varintSize(resp.compactRevision);
  if (resp.cancelReason.length > 0) size += lengthDelimited(Buffer.byteLength(resp.cancelReason));
  return size;
}

/**
 * Splits a response into pieces below `maxResponseBytes`, as etcd's server does for
 * watchers created with `fragment: true`: nothing is split when the whole response is
 * smaller than the limit or holds fewer than two events; otherwise every piece holds as
 * many events as keep it below the limit (at least one, so an event larger than the
 * limit travels alone), and every piece but the last has `fragment: true`. The client
 * joins pieces until it sees `fragment: false`. Pure; `resp` is not modified.
 *
 * Sizes are {@link watchResponseWireSize}, an upper bound, so a piece may be split a
 * little earlier than etcd (which measures the exact encoding) would split it.
 */
export function fragmentWatchResponse(resp: WatchResponse, maxResponseBytes: number): WatchResponse[] {
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
    throw new RangeError('maxResponseBytes must be a positive integer');
  }
  if (resp.events.length < 2 || watchResponseWireSize(resp) < maxResponseBytes) return [resp];
  const base = watchResponseWireSize({ ...resp, events: [], fragment: true });
  const pieces: WatchResponse[] = [];
  let current: Event[] = [];
  let size = base;
  for (const ev of resp.events) {
    const evSize = lengthDelimited(eventWireSize(ev));
    if (current.length > 0 && size + evSize >= maxResponseBytes) {
      pieces.push({ ...resp, events: current, fragment: true });
      current = [];
      size = base;
    }
    current.push(ev);
    size += evSize;
  }
  pieces.push({ ...resp, events: current, fragment: false });
  return pieces;
}
