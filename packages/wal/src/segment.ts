/**
 * Segment files: `<seq:016x>-<firstIndex:016x>.wal`. `seq` counts segments from 0 with
 * no gaps; `firstIndex` is the log's last index + 1 when the segment was started, so
 * every entry of earlier segments that is still live has a smaller index. Each segment
 * begins with a crc record (the chain value it continues from) followed by the state a
 * reader needs if earlier segments were released: metadata, latest hard state, latest
 * snapshot marker.
 */
import { WalCorruptionError } from './errors.js';
import type { WalFs } from './fs.js';
import { type DecodedRecord, FRAME_HEADER_BYTES, MAX_RECORD_PAYLOAD_BYTES, isZero, readFrame } from './record.js';

export interface SegmentName {
  seq: number;
  firstIndex: number;
  name: string;
}

const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const seq = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { seq, firstIndex, name };
}

/** Valid segment names of a directory listing, in sequence order. */
export function listSegments(names: readonly string[]): SegmentName[] {
  const out: SegmentName[] = [];
  for (const n of names) {
    const s = parseSegmentName(n);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export interface ScannedRecord {
  record: DecodedRecord;
  /** Byte offset just past this record's frame. */
  end: number;
}

export interface SegmentScan {
  records: ScannedRecord[];
  /** Offset just past the last valid record: where the next append goes. */
  validEnd: number;
  /** Chain crc after the last valid record. */
  crc: number;
  /** Chain value the segment's leading crc record continues from. */
  startCrc: number;
  /** True when non-zero bytes after `validEnd` were cut (a torn tail). */
  torn: boolean;
}

/**
 * Where {@link scanSegment} starts when not at the segment's beginning: a record boundary the
 * caller verified (the frame there checks against `crc`), and the segment's leading crc value.
 */
export interface ScanStart {
  offset: number;
  crc: number;
  startCrc: number;
}

/**
 * Scans one segment (from `from` on, if given). In the last segment a damaged tail is treated as torn (never
 * acknowledged, because acknowledgement follows fdatasync and a sync covers a prefix):
 * a short or impossible frame, a zero header, or a checksum mismatch that no valid frame
 * follows. A checksum mismatch followed by a frame that verifies against the bad
 * frame's stored crc means bytes in the middle changed after they were written: that is
 * corruption. In earlier segments (synced completely before the next was started) any
 * damage is corruption.
 */
export function scanSegment(file: string, buf: Uint8Array, isLast: boolean, from?: ScanStart): SegmentScan {
  const records: ScannedRecord[] = [];
  let off = from?.offset ?? 0;
  let crc = from?.crc ?? 0;
  let startCrc = from?.startCrc ?? 0;
  const fail = (at: number, reason: string): never => {
    throw new WalCorruptionError(file, at, reason);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (;;) {
    const fr = readFrame(buf, off, crc, dv);
    if (fr.kind === 'ok') {
      if (off === 0) {
        if (fr.record.type !== 'crc') fail(0, 'segment does not start with a crc record');
        else startCrc = fr.record.prevCrc;
      } else if (fr.record.type === 'crc') {
        fail(off, 'crc record in the middle of a segment');
      }
      records.push({ record: fr.record, end: fr.next });
      crc = fr.crc;
      off = fr.next;
      continue;
    }
    // The leading records were synced before the segment got its final name, so damage
    // there is never a torn append.
    if (off === 0) fail(0, `segment header unreadable (${fr.kind})`);
    switch (fr.kind) {
      case 'zero': {
        const restZero = isZero(buf, off, buf.length);
        if (restZero) return { records, validEnd: off, crc, startCrc, torn: false };
        if (!isLast) fail(off, 'zero-filled gap followed by data');
        return { records, validEnd: off, crc, startCrc, torn: true };
      }
      case 'short':
        if (!isLast) fail(off, 'truncated record');
        return { records, validEnd: off, crc, startCrc, torn: true };
      case 'badHeader':
        if (!isLast) fail(off, fr.reason);
        return { records, validEnd: off, crc, startCrc, torn: true };
      case 'badCrc': {
        if (!isLast) fail(off, 'crc mismatch');
        const after = readFrame(buf, fr.next, fr.storedCrc, dv);
        // Valid frames after a bad one mean bytes changed after they were written —
        // unless the bad frame has a whole zero sector: a write the disk tore by
        // persisting later sectors before earlier ones. A record that never became
        // durable was never acknowledged, and neither was anything written after it.
        if (after.kind === 'ok' && !hasZeroSector(buf, off, fr.next)) fail(off, 'crc mismatch followed by valid records');
        return { records, validEnd: off, crc, startCrc, torn: true };
      }
      case 'badPayload':
        return fail(off, fr.reason);
    }
  }
}

/** Smallest unit a disk writes atomically; torn writes lose whole sectors. */
const SECTOR_BYTES = 512;

/**
 * True if a whole aligned sector overlapping `buf[from, to)` is zero: the signature of
 * a sector that was never written. The whole sector, not just the record's part of it,
 * so a record that merely ends in a few zero bytes does not qualify.
 */
export function hasZeroSector(buf: Uint8Array, from: number, to: number): boolean {
  for (let s = Math.floor(from / SECTOR_BYTES) * SECTOR_BYTES; s < to; s += SECTOR_BYTES) {
    if (isZero(buf, s, Math.min(s + SECTOR_BYTES, buf.length))) return true;
  }
  return false;
}

/** Bytes read per call when a segment is read at open. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** The longest frame: a frame starting before the last non-zero byte ends within this many bytes of it. */
const MAX_FRAME_BYTES = FRAME_HEADER_BYTES + MAX_RECORD_PAYLOAD_BYTES;

/**
 * A segment's bytes for {@link scanSegment}, without holding its preallocated zero tail: the
 * file is read in chunks, and the buffer ends one maximal frame past the last chunk holding a
 * non-zero byte (or at the end of the file). Every frame that starts before that byte is read
 * whole, and whatever lies beyond the buffer is zero, so the scan reaches the same verdict as
 * over the whole file. With data past the first chunk, the result is a view of a buffer of the
 * file's size whose pages past the data stay untouched; a segment whose data fits the first chunk
 * (a fresh one) comes back in a buffer of its own (16 MiB for 64, not touched past the data).
 */
export async function readSegment(fs: WalFs, path: string): Promise<Uint8Array> {
  const fh = await fs.open(path, 'r');
  try {
    const { size } = await fh.stat();
    return await readFrom(fh, size);
  } finally {
    await fh.close();
  }
}

/**
 * Bytes of a segment's start read by {@link readSegmentFrom}: its crc and metadata records (a
 * member's metadata is 16 bytes; a caller finding a longer one cut short reads the whole segment).
 */
const HEAD_BYTES = 1024;

/**
 * As {@link readSegment}, but only the segment's first bytes (up to `from`: its
 * leading crc and metadata records, at most 1 KiB) and the bytes from `from` on are read; what lies between
 * reads as zeros (never touched). Offsets stay those of the file.
 */
export async function readSegmentFrom(fs: WalFs, path: string, from: number): Promise<Uint8Array> {
  const fh = await fs.open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (from <= 0 || from >= size) return await readFrom(fh, size);
    const buf = new Uint8Array(size);
    const head = Math.min(from, HEAD_BYTES);
    for (let at = 0; at < head;) {
      const { bytesRead } = await fh.read(buf, at, head - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    let scratch: Uint8Array | undefined;
    let zeroSeen = false;
    let dataEnd = from;
    for (let at = from; at < size;) {
      const want = Math.min(READ_CHUNK_BYTES, size - at);
      // Past the first zero chunk (the preallocated tail) into a scratch chunk: those pages of
      // `buf` stay untouched.
      const into = zeroSeen ? (scratch ??= new Uint8Array(READ_CHUNK_BYTES)) : buf;
      const pos = zeroSeen ? 0 : at;
      const { bytesRead } = await fh.read(into, pos, want, at);
      if (bytesRead === 0) break;
      if (!isZero(into, pos, pos + bytesRead)) {
        if (zeroSeen) buf.set(into.subarray(0, bytesRead), at);
        dataEnd = at + bytesRead;
      } else {
        zeroSeen = true;
      }
      at += bytesRead;
    }
    return buf.subarray(0, Math.min(size, dataEnd + MAX_FRAME_BYTES));
  } finally {
    await fh.close();
  }
}

async function readFrom(fh: Awaited<ReturnType<WalFs['open']>>, size: number): Promise<Uint8Array> {
  {
    // Data beyond the first chunk is read straight into its place in one buffer of the file's
    // size (copying it again from chunk buffers cost ~25 ms per 54 MB at a 200,000-key restart).
    // Such a large zeroed allocation is left to the kernel's zero pages: once a chunk reads as
    // zeros (the preallocated tail), the rest is read into a scratch chunk, so those pages are
    // never touched. A segment whose data fits its first chunk (a fresh one) gets a smaller buffer.
    const first = new Uint8Array(Math.min(READ_CHUNK_BYTES, size));
    let scratch = first;
    let buf: Uint8Array | undefined;
    let zeroSeen = false;
    let direct = false; // reading into `buf` (data found past chunk 0, no zero chunk yet)
    let dataEnd = 0;
    for (let at = 0; at < size;) {
      const want = Math.min(READ_CHUNK_BYTES, size - at);
      const into = direct ? buf! : scratch;
      const from = direct ? at : 0;
      const { bytesRead } = await fh.read(into, from, want, at);
      if (bytesRead === 0) break; // shrank under us: what was read is all there is
      const data = !isZero(into, from, from + bytesRead);
      if (data) dataEnd = at + bytesRead;
      if (at === 0) scratch = new Uint8Array(first.length); // `first` keeps chunk 0
      if (!data) {
        zeroSeen = true;
        direct = false;
      } else if (at > 0 && !direct) {
        if (buf === undefined) {
          buf = new Uint8Array(size);
          buf.set(first);
        }
        buf.set(scratch.subarray(0, bytesRead), at);
        direct = !zeroSeen;
      }
      at += bytesRead;
    }
    const end = Math.min(size, dataEnd + MAX_FRAME_BYTES);
    if (buf !== undefined) return buf.subarray(0, end);
    const out = new Uint8Array(end);
    out.set(first.subarray(0, Math.min(first.length, end)));
    return out;
  }
}

/**
 * The metadata record at the start of the segment at `path` (every segment repeats it after
 * its leading crc record), checked against its crc, without reading the rest of the segment.
 */
export async function readSegmentMetadata(fs: WalFs, path: string): Promise<Uint8Array> {
  const fh = await fs.open(path, 'r');
  try {
    const { size } = await fh.stat();
    let want = Math.min(size, 64 * 1024);
    for (;;) {
      const buf = new Uint8Array(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      const head = buf.subarray(0, bytesRead);
      const first = readFrame(head, 0, 0);
      if (first.kind !== 'ok' || first.record.type !== 'crc') throw new WalCorruptionError(path, 0, 'segment does not start with a crc record');
      const second = readFrame(head, first.next, first.crc);
      if (second.kind === 'ok') {
        if (second.record.type !== 'metadata') throw new WalCorruptionError(path, first.next, 'segment header has no metadata record');
        return second.record.data;
      }
      const needed = first.next + MAX_FRAME_BYTES;
      if (second.kind !== 'short' || want >= Math.min(size, needed) || bytesRead < want) {
        throw new WalCorruptionError(path, first.next, `segment header unreadable (${second.kind})`);
      }
      want = Math.min(size, needed);
    }
  } finally {
    await fh.close();
  }
}
