/**
 * Records and their on-disk framing.
 *
 * Frame (little endian):
 *
 * | bytes | field                                                               |
 * |-------|---------------------------------------------------------------------|
 * | 4     | crc: CRC-32C of bytes [4, end of payload), seeded with the previous |
 * |       |      record's crc (the chain), so reordering or dropping is caught   |
 * | 4     | payload length                                                      |
 * | 1     | record type (never 0, so a zero header means "never written")       |
 * | 3     | reserved, must be 0                                                 |
 * | n     | payload                                                             |
 */
import { crc32c } from '@raftkv/checksum';

/**
 * One record of the log. The WAL knows nothing of raft beyond these shapes.
 *
 * - `entry`: a raft log entry; `data` is raft's opaque encoding (at most
 *   {@link MAX_RECORD_PAYLOAD_BYTES} - 16 bytes). A writer may give it in two parts, `head`
 *   then `data` (written one after the other, so the caller need not copy them together
 *   first); replay returns them as one `data`. An entry at index i replaces every
 *   earlier entry with index >= i on replay (raft's log truncation); an index above
 *   `lastIndex + 1` is rejected.
 * - `hardState`: raft's term, vote (a 64-bit node ID) and commit index; replay returns
 *   the latest.
 * - `snapshot`: marker that a snapshot covering the log up to `index` exists. Append it
 *   only AFTER {@link SnapshotStore.save} for that snapshot resolved, so a marker never
 *   names a snapshot file that is missing. A marker above `lastIndex` (a snapshot
 *   installed from the leader) moves `lastIndex` to it.
 * - `metadata`: opaque bytes (e.g. member and cluster ID) set by `create`; a later one
 *   replaces it.
 *
 * Terms and indexes are integers in [0, 2^53-1] (checked on write and on read).
 */
export type WalRecord =
  | { type: 'entry'; term: number; index: number; data: Uint8Array; head?: Uint8Array }
  | { type: 'hardState'; term: number; vote: bigint; commit: number }
  | { type: 'snapshot'; index: number; term: number }
  | { type: 'metadata'; data: Uint8Array };

/** Raft's persistent state as the WAL stores it. */
export interface HardState {
  term: number;
  vote: bigint;
  commit: number;
}

/** Position of a snapshot: the last log index it covers and that entry's term. */
export interface SnapshotMarker {
  index: number;
  term: number;
}

export const enum RecordType {
  Metadata = 1,
  Entry = 2,
  HardState = 3,
  Snapshot = 4,
  /** First record of every segment; payload is the chain crc the segment continues from. */
  Crc = 5,
}

export const FRAME_HEADER_BYTES = 12;

/**
 * Largest payload a record may carry: 16 MiB. Raft entries are client requests (etcd
 * caps those at 1.5 MiB by default) plus framing; anything larger is a bug upstream.
 * The reader uses the same bound to tell a torn length field from a real record.
 */
export const MAX_RECORD_PAYLOAD_BYTES = 16 * 1024 * 1024;

const MAX_U64 = (1n << 64n) - 1n;

/** Decoded frame including the internal crc record. */
export type DecodedRecord = WalRecord | { type: 'crc'; prevCrc: number };

function assertIndexLike(name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`wal: ${name} must be an integer in [0, 2^53-1], got ${String(v)}`);
  }
}

/** Throws RangeError/TypeError when a record cannot be written faithfully. */
export function validateRecord(r: WalRecord): void {
  switch (r?.type) {
    case 'entry':
      assertIndexLike('entry.term', r.term);
      assertIndexLike('entry.index', r.index);
      if (r.index === 0) throw new RangeError('wal: entry.index must be >= 1');
      assertBytes('entry.data', r.data, MAX_RECORD_PAYLOAD_BYTES - 16);
      if (r.head !== undefined) {
        assertBytes('entry.head', r.head, MAX_RECORD_PAYLOAD_BYTES - 16);
        if (r.head.length + r.data.length > MAX_RECORD_PAYLOAD_BYTES - 16) {
          throw new RangeError(`wal: entry.head and entry.data are ${r.head.length + r.data.length} bytes, limit ${MAX_RECORD_PAYLOAD_BYTES - 16}`);
        }
      }
      return;
    case 'hardState':
      assertIndexLike('hardState.term', r.term);
      assertIndexLike('hardState.commit', r.commit);
      if (typeof r.vote !== 'bigint' || r.vote < 0n || r.vote > MAX_U64) {
        throw new RangeError(`wal: hardState.vote must be a bigint in [0, 2^64-1]`);
      }
      return;
    case 'snapshot':
      assertIndexLike('snapshot.index', r.index);
      assertIndexLike('snapshot.term', r.term);
      return;
    case 'metadata':
      assertBytes('metadata.data', r.data, MAX_RECORD_PAYLOAD_BYTES);
      return;
    default:
      throw new TypeError(`wal: unknown record type ${String((r as { type?: unknown })?.type)}`);
  }
}

function assertBytes(name: string, v: unknown, max: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`wal: ${name} must be a Uint8Array`);
  if (v.length > max) throw new RangeError(`wal: ${name} is ${v.length} bytes, limit ${max}`);
}

/** Payload size of a record (without the frame header). */
export function payloadSize(r: DecodedRecord): number {
  switch (r.type) {
    case 'entry':
      return 16 + (r.head?.length ?? 0) + r.data.length;
    case 'hardState':
      return 24;
    case 'snapshot':
      return 16;
    case 'metadata':
      return r.data.length;
    case 'crc':
      return 4;
  }
}

export function frameSize(r: DecodedRecord): number {
  return FRAME_HEADER_BYTES + payloadSize(r);
}

function typeCode(r: DecodedRecord): RecordType {
  switch (r.type) {
    case 'entry':
      return RecordType.Entry;
    case 'hardState':
      return RecordType.HardState;
    case 'snapshot':
      return RecordType.Snapshot;
    case 'metadata':
      return RecordType.Metadata;
    case 'crc':
      return RecordType.Crc;
  }
}

/**
 * Writes the frame of `r` at `buf[off]`, chained to `prevCrc`. Returns the record's crc
 * (the next record's chain seed). For a crc record the chain restarts at its payload,
 * which lets a segment be verified on its own after earlier ones were released.
 */
export function encodeFrame(
  buf: Uint8Array,
  off: number,
  r: DecodedRecord,
  prevCrc: number,
  dv: DataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
): number {
  const n = payloadSize(r);
  if (n > MAX_RECORD_PAYLOAD_BYTES) throw new RangeError(`wal: record payload ${n} bytes exceeds limit`);
  dv.setUint32(off + 4, n, true);
  buf[off + 8] = typeCode(r);
  buf[off + 9] = 0;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  const p = off + FRAME_HEADER_BYTES;
  switch (r.type) {
    case 'entry':
      setU64(dv, p, r.term);
      setU64(dv, p + 8, r.index);
      if (r.head === undefined) {
        buf.set(r.data, p + 16);
      } else {
        buf.set(r.head, p + 16);
        buf.set(r.data, p + 16 + r.head.length);
      }
      break;
    case 'hardState':
      setU64(dv, p, r.term);
      dv.setBigUint64(p + 8, r.vote, true);
      setU64(dv, p + 16, r.commit);
      break;
    case 'snapshot':
      setU64(dv, p, r.index);
      setU64(dv, p + 8, r.term);
      break;
    case 'metadata':
      buf.set(r.data, p);
      break;
    case 'crc':
      dv.setUint32(p, r.prevCrc >>> 0, true);
      break;
  }
  const seed = r.type === 'crc' ? r.prevCrc >>> 0 : prevCrc;
  const crc = crc32c(buf, seed, off + 4, p + n);
  dv.setUint32(off, crc, true);
  return crc;
}

/** Encodes records into one buffer; returns it and the final chain crc. */
export function encodeFrames(records: readonly DecodedRecord[], prevCrc: number): { bytes: Uint8Array; crc: number } {
  let total = 0;
  for (const r of records) total += frameSize(r);
  // Not zero-filled: encodeFrame writes every byte of each frame (reserved bytes included).
  const bytes = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
  const dv = new DataView(bytes.buffer);
  let off = 0;
  let crc = prevCrc;
  for (const r of records) {
    crc = encodeFrame(bytes, off, r, crc, dv);
    off += frameSize(r);
  }
  return { bytes, crc };
}

function setU64(dv: DataView, off: number, v: number): void {
  // Two 32-bit halves: cheaper than BigInt for the common case; v is a safe integer.
  dv.setUint32(off, v % 0x1_0000_0000, true);
  dv.setUint32(off + 4, Math.floor(v / 0x1_0000_0000), true);
}

function getU64(dv: DataView, off: number): number | undefined {
  const lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  // Anything above 2^53-1 cannot have been written by us: reject rather than round.
  if (hi > 0x1f_ffff) return undefined;
  return hi * 0x1_0000_0000 + lo;
}

/** Result of looking at the bytes at one offset of a segment. */
export type FrameRead =
  | { kind: 'ok'; record: DecodedRecord; crc: number; next: number }
  /** All-zero header: nothing was ever written here (preallocated space). */
  | { kind: 'zero' }
  /** Fewer bytes than a header, or the payload runs past the end of the buffer. */
  | { kind: 'short' }
  /** Header is impossible (type, reserved bytes, length over the limit). */
  | { kind: 'badHeader'; reason: string }
  /** Header plausible, checksum wrong. `storedCrc` seeds the check of the frame after. */
  | { kind: 'badCrc'; storedCrc: number; next: number }
  /** Checksum right, contents impossible: never a torn write. */
  | { kind: 'badPayload'; reason: string };

/**
 * Reads the frame at `buf[off]`, verifying it against the chain value `prevCrc`
 * (ignored for crc records, which carry their own seed).
 */
export function readFrame(
  buf: Uint8Array,
  off: number,
  prevCrc: number,
  dv: DataView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
): FrameRead {
  const avail = buf.length - off;
  if (avail < FRAME_HEADER_BYTES) return isZero(buf, off, buf.length) ? { kind: 'zero' } : { kind: 'short' };
  const storedCrc = dv.getUint32(off, true);
  const len = dv.getUint32(off + 4, true);
  const type = buf[off + 8]!;
  if (storedCrc === 0 && len === 0 && type === 0 && buf[off + 9] === 0 && buf[off + 10] === 0 && buf[off + 11] === 0) {
    return { kind: 'zero' };
  }
  if (type < RecordType.Metadata || type > RecordType.Crc) return { kind: 'badHeader', reason: `unknown record type ${type}` };
  if (buf[off + 9] !== 0 || buf[off + 10] !== 0 || buf[off + 11] !== 0) return { kind: 'badHeader', reason: 'reserved bytes not zero' };
  if (len > MAX_RECORD_PAYLOAD_BYTES) return { kind: 'badHeader', reason: `record length ${len} over limit` };
  const p = off + FRAME_HEADER_BYTES;
  const end = p + len;
  if (end > buf.length) return { kind: 'short' };
  const seed = type === RecordType.Crc ? (len === 4 ? dv.getUint32(p, true) : 0) : prevCrc;
  const crc = crc32c(buf, seed, off + 4, end);
  if (crc !== storedCrc) return { kind: 'badCrc', storedCrc, next: end };
  const record = decodePayload(type as RecordType, buf, dv, p, len);
  if (typeof record === 'string') return { kind: 'badPayload', reason: record };
  return { kind: 'ok', record, crc, next: end };
}

function decodePayload(type: RecordType, buf: Uint8Array, dv: DataView, p: number, len: number): DecodedRecord | string {
  switch (type) {
    case RecordType.Entry: {
      if (len < 16) return `entry payload ${len} bytes, need >= 16`;
      const term = getU64(dv, p);
      const index = getU64(dv, p + 8);
      if (term === undefined || index === undefined) return 'entry term/index above 2^53-1';
      if (index === 0) return 'entry index 0';
      // A view, not a copy: open() reads each segment into a buffer of its own, which the
      // entries then share (replay after a restart copied every entry, 270 MB for 1M keys).
      return { type: 'entry', term, index, data: buf.subarray(p + 16, p + len) };
    }
    case RecordType.HardState: {
      if (len !== 24) return `hardState payload ${len} bytes, need 24`;
      const term = getU64(dv, p);
      const commit = getU64(dv, p + 16);
      if (term === undefined || commit === undefined) return 'hardState term/commit above 2^53-1';
      return { type: 'hardState', term, vote: dv.getBigUint64(p + 8, true), commit };
    }
    case RecordType.Snapshot: {
      if (len !== 16) return `snapshot payload ${len} bytes, need 16`;
      const index = getU64(dv, p);
      const term = getU64(dv, p + 8);
      if (term === undefined || index === undefined) return 'snapshot term/index above 2^53-1';
      return { type: 'snapshot', index, term };
    }
    case RecordType.Metadata:
      return { type: 'metadata', data: buf.slice(p, p + len) };
    case RecordType.Crc:
      if (len !== 4) return `crc payload ${len} bytes, need 4`;
      return { type: 'crc', prevCrc: dv.getUint32(p, true) };
  }
}

const ZEROS = new Uint8Array(64 * 1024);

export function isZero(buf: Uint8Array, from: number, to: number): boolean {
  // memcmp against a block of zeros: open() checks up to a whole preallocated segment
  // (64 MiB) of zeros after the last record, 5-10x faster than a loop over words.
  for (let i = from; i < to; i += ZEROS.length) {
    const end = Math.min(to, i + ZEROS.length);
    if (Buffer.compare(ZEROS.subarray(0, end - i), buf.subarray(i, end)) !== 0) return false;
  }
  return true;
}
