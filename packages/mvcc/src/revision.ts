/**
 * A revision names one change in the key space: `main` is the store-wide revision
 * (one per write request or txn) and `sub` numbers the changes inside it.
 * The backend key of a change is the revision encoded like etcd: 8-byte big-endian
 * main, '_', 8-byte big-endian sub, and a trailing 't' when the change is a deletion
 * (a tombstone). Big-endian keeps LMDB's byte order equal to revision order.
 */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** Length of an encoded revision without the tombstone mark. */
export const REV_BYTES_LEN = 17;
/** Length of an encoded revision with the tombstone mark. */
export const MARKED_REV_BYTES_LEN = 18;
const MARK_TOMBSTONE = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'

export function assertRevisionNumber(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
  }
}

/** Compares revisions by (main, sub); negative when `a` is older. */
export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

function writeUint64(out: Uint8Array, offset: number, n: number): void {
  // n <= 2^53, so the high word fits in 21 bits and plain division is exact.
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  out[offset] = hi >>> 24;
  out[offset + 1] = (hi >>> 16) & 0xff;
  out[offset + 2] = (hi >>> 8) & 0xff;
  out[offset + 3] = hi & 0xff;
  out[offset + 4] = lo >>> 24;
  out[offset + 5] = (lo >>> 16) & 0xff;
  out[offset + 6] = (lo >>> 8) & 0xff;
  out[offset + 7] = lo & 0xff;
}

function readUint64(bytes: Uint8Array, offset: number, what: string): number {
  const hi =
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  const lo =
    ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0;
  // Below 2^32 (every revision in practice) the uint32 itself, a small integer: `hi * 2^32 + lo`
  // is a double, and a Revision holding doubles keeps each field in a HeapNumber of its own
  // (the key index rebuilt at open: 2 objects and 32 bytes more per key).
  if (hi === 0) return lo;
  const n = hi * 0x1_0000_0000 + lo;
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} ${n} exceeds Number.MAX_SAFE_INTEGER`);
  return n;
}

/** Encodes a revision as an LMDB key; `tombstone` appends the 't' mark. */
export function encodeRevision(rev: Revision, tombstone = false): Uint8Array {
  return encodeRevisionInto(new Uint8Array(tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN), rev, tombstone);
}

/** Like {@link encodeRevision} into a caller's buffer (reused on hot read paths). */
export function encodeRevisionInto<T extends Uint8Array>(out: T, rev: Revision, tombstone: boolean): T {
  assertRevisionNumber(rev.main, 'revision main');
  assertRevisionNumber(rev.sub, 'revision sub');
  if (out.length !== (tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN)) throw new RangeError('revision buffer of the wrong length');
  writeUint64(out, 0, rev.main);
  out[8] = SEPARATOR;
  writeUint64(out, 9, rev.sub);
  if (tombstone) out[17] = MARK_TOMBSTONE;
  return out;
}

/** Decodes an LMDB key written by {@link encodeRevision}; throws on any other shape. */
export function decodeRevision(bytes: Uint8Array): { rev: Revision; tombstone: boolean } {
  const marked = bytes.length === MARKED_REV_BYTES_LEN;
  if ((bytes.length !== REV_BYTES_LEN && !marked) || bytes[8] !== SEPARATOR) {
    throw new RangeError(`malformed revision key of ${bytes.length} bytes`);
  }
  if (marked && bytes[17] !== MARK_TOMBSTONE) throw new RangeError('unknown revision key mark');
  return { rev: { main: readUint64(bytes, 0, 'revision main'), sub: readUint64(bytes, 9, 'revision sub') }, tombstone: marked };
}

/**
 * {@link decodeRevision} of `bytes[start, end)`, without a view or a result object (the index
 * rebuild decodes every stored revision): the revision, with `out.tombstone` set.
 */
export function decodeRevisionAt(bytes: Uint8Array, start: number, end: number, out: { tombstone: boolean }): Revision {
  const len = end - start;
  const marked = len === MARKED_REV_BYTES_LEN;
  if ((len !== REV_BYTES_LEN && !marked) || bytes[start + 8] !== SEPARATOR) {
    throw new RangeError(`malformed revision key of ${len} bytes`);
  }
  if (marked && bytes[start + 17] !== MARK_TOMBSTONE) throw new RangeError('unknown revision key mark');
  out.tombstone = marked;
  return { main: readUint64(bytes, start, 'revision main'), sub: readUint64(bytes, start + 9, 'revision sub') };
}

/** 8-byte big-endian encoding used for the consistent index in the meta db. */
export function encodeUint64(n: number): Uint8Array {
  assertRevisionNumber(n, 'uint64');
  const out = new Uint8Array(8);
  writeUint64(out, 0, n);
  return out;
}

export function decodeUint64(bytes: Uint8Array, what: string): number {
  if (bytes.length !== 8) throw new RangeError(`${what}: expected 8 bytes, got ${bytes.length}`);
  return readUint64(bytes, 0, what);
}
