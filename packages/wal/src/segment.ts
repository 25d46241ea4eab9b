/**
 * Segment files: `<seq:016x>-<firstIndex:016x>.wal`. `seq` counts segments from 0 with
 * no gaps; `firstIndex` is the log's last index + 1 when the segment was started, so
 * every entry of earlier segments that is still live has a smaller index. Each segment
 * begins with a crc record (the chain value it continues from) followed by the state a
 * reader needs if earlier segments were released: metadata, latest hard state, latest
 * snapshot marker.
 */
import { WalCorruptionError } from './errors.js';
import { type DecodedRecord, isZero, readFrame } from './record.js';

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
 * Scans one segment. In the last segment a damaged tail is treated as torn (never
 * acknowledged, because acknowledgement follows fdatasync and a sync covers a prefix):
 * a short or impossible frame, a zero header, or a checksum mismatch that no valid frame
 * follows. A checksum mismatch followed by a frame that verifies against the bad
 * frame's stored crc means bytes in the middle changed after they were written: that is
 * corruption. In earlier segments (synced completely before the next was started) any
 * damage is corruption.
 */
export function scanSegment(file: string, buf: Uint8Array, isLast: boolean): SegmentScan {
  const records: ScannedRecord[] = [];
  let off = 0;
  let crc = 0;
  let startCrc = 0;
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
