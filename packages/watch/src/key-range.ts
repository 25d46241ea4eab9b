/** Node's (undocumented, long-standing) Buffer.prototype.latin1Slice, when this runtime has it. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/**
 * Keys inside this package are "binary strings": one UTF-16 code unit per byte (latin1).
 * JavaScript compares such strings code unit by code unit, which is exactly the
 * unsigned byte order etcd uses for keys, and Map/Set can hash them.
 */
export function keyString(bytes: Uint8Array): string {
  // Buffer's latin1Slice takes any Uint8Array: ~3x faster than a Buffer view and toString,
  // and a write or watch notification makes one per key. Same string either way.
  if (latin1Slice) return latin1Slice.call(bytes, 0, bytes.length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * A watched key range after etcd's normalisation. `end === undefined`: the single key
 * `key`; `end === ''`: every key >= `key` (the request said "\0"); otherwise
 * [key, end). An empty `end` string can never be a real exclusive end (no key sorts
 * below ''), so it is free to mean "no upper bound".
 */
export interface KeyRange {
  readonly key: string;
  readonly end: string | undefined;
}

/** Same ordering as byte comparison of the keys; '' as an end means +infinity. */
export function endAfter(end: string, key: string): boolean {
  return end === '' || end > key;
}

/** True when the normalised range contains `key`. */
export function rangeContains(r: KeyRange, key: string): boolean {
  if (r.end === undefined) return r.key === key;
  return r.key <= key && endAfter(r.end, key);
}

/**
 * Normalises a watch request's key and range_end as etcd's gRPC watch server does:
 * an empty key becomes "\0" (the smallest key); an empty range_end watches one key;
 * range_end "\0" watches every key >= key. Returns undefined when range_end is
 * non-empty and not greater than key (etcd: "mvcc: watcher range is empty").
 */
export function normaliseRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange | undefined {
  const k = key.length === 0 ? '\0' : keyString(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { key: k, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { key: k, end: '' };
  const e = keyString(rangeEnd);
  if (e <= k) return undefined;
  return { key: k, end: e };
}
