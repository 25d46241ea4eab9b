/**
 * A hint where a replay from a snapshot may start reading inside a segment, kept in a small
 * side file (`replay-start`) of the WAL directory. Without it an open reads the whole segment
 * the snapshot falls in (54 MB at a 200,000-key restart, of which the entries after the last
 * snapshot were ~5 MB).
 *
 * The hint is the state at the start of a write batch: the offset, the chain crc there, the
 * log's last index, hard state and snapshot marker then. Every entry that is still live and
 * above `lastIndex` was written at or after `offset` (an entry replaces every later one, so
 * the live entries lie in index order), so a replay from a snapshot at index >= `lastIndex`
 * needs nothing before `offset` except the segment's metadata. It is only a hint: it is used
 * when its own crc, the segment's leading crc value and the frame at `offset` (checked with the
 * stored chain crc) all verify; otherwise the open reads the whole segment as before. Hence it
 * is written with a rename and no sync: an old or lost hint costs a full read, never a record.
 */
import { join } from 'node:path';
import { crc32c } from '@raftkv/checksum';
import { writeFully } from './file-util.js';
import type { WalFs } from './fs.js';
import type { HardState, SnapshotMarker } from './record.js';

export const REPLAY_START_FILE = 'replay-start';

/** The state at the start of a write batch, in the segment `seq`. */
export interface ReplayStart {
  seq: number;
  /** Offset of the batch's first record. */
  offset: number;
  /** Chain crc before that record. */
  crc: number;
  /** The chain value the segment's leading crc record continues from. */
  segmentStartCrc: number;
  /** Where the segment's leading (header) records end. */
  dataStart: number;
  /** The log's last index before the batch. */
  lastIndex: number;
  hardState?: HardState;
  marker?: SnapshotMarker;
}

const VERSION = 1;
const BYTES = 4 + 4 + 8 * 5 + 4 + 4 + 1 + 24 + 16;

export function encodeReplayStart(s: ReplayStart): Uint8Array {
  const buf = new Uint8Array(BYTES);
  const dv = new DataView(buf.buffer);
  dv.setUint32(4, VERSION, true);
  dv.setFloat64(8, s.seq, true);
  dv.setFloat64(16, s.offset, true);
  dv.setFloat64(24, s.dataStart, true);
  dv.setFloat64(32, s.lastIndex, true);
  dv.setUint32(48, s.crc >>> 0, true);
  dv.setUint32(52, s.segmentStartCrc >>> 0, true);
  dv.setUint8(56, (s.hardState ? 1 : 0) | (s.marker ? 2 : 0));
  if (s.hardState) {
    dv.setFloat64(57, s.hardState.term, true);
    dv.setBigUint64(65, s.hardState.vote, true);
    dv.setFloat64(73, s.hardState.commit, true);
  }
  if (s.marker) {
    dv.setFloat64(81, s.marker.index, true);
    dv.setFloat64(89, s.marker.term, true);
  }
  dv.setUint32(0, crc32c(buf, 0, 4, BYTES), true);
  return buf;
}

/** The hint in `buf`, or undefined if it does not verify. */
export function decodeReplayStart(buf: Uint8Array): ReplayStart | undefined {
  if (buf.length !== BYTES) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, true) !== crc32c(buf, 0, 4, BYTES) || dv.getUint32(4, true) !== VERSION) return undefined;
  const n = (off: number): number | undefined => {
    const v = dv.getFloat64(off, true);
    return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  };
  const seq = n(8), offset = n(16), dataStart = n(24), lastIndex = n(32);
  if (seq === undefined || offset === undefined || dataStart === undefined || lastIndex === undefined) return undefined;
  const s: ReplayStart = { seq, offset, dataStart, lastIndex, crc: dv.getUint32(48, true), segmentStartCrc: dv.getUint32(52, true) };
  const flags = dv.getUint8(56);
  if (flags & 1) {
    const term = n(57), commit = n(73);
    if (term === undefined || commit === undefined) return undefined;
    s.hardState = { term, vote: dv.getBigUint64(65, true), commit };
  }
  if (flags & 2) {
    const index = n(81), term = n(89);
    if (index === undefined || term === undefined) return undefined;
    s.marker = { index, term };
  }
  return s;
}

/** Reads the hint of `dir`; undefined if there is none or it does not verify. */
export async function readReplayStart(fs: WalFs, dir: string): Promise<ReplayStart | undefined> {
  try {
    return decodeReplayStart(await fs.readFile(join(dir, REPLAY_START_FILE)));
  } catch {
    return undefined;
  }
}

/** Replaces the hint of `dir` (write a `.tmp`, rename; no sync, see the module's comment). */
export async function writeReplayStart(fs: WalFs, dir: string, s: ReplayStart): Promise<void> {
  const tmp = join(dir, `${REPLAY_START_FILE}.tmp`);
  const fh = await fs.open(tmp, 'w');
  try {
    await writeFully(fh, encodeReplayStart(s), 0);
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, join(dir, REPLAY_START_FILE));
}
