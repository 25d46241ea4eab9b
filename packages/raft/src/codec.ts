/**
 * Compact binary encoding of raft's wire and WAL types.
 *
 * Layout: a one-byte format version, then fields in a fixed order. Numbers
 * (terms, indexes, enums, lengths) are unsigned LEB128 varints; node IDs are
 * 8-byte little-endian unsigned; byte strings are length-prefixed. Decoding
 * checks every length against the remaining input and every number against
 * `Number.MAX_SAFE_INTEGER`, and throws `DecodeError` on anything else.
 *
 * Decoded byte fields (entry data, contexts, snapshot data) are views into
 * the input buffer, not copies: do not reuse or mutate a buffer after
 * decoding from it.
 */
import { DecodeError } from './errors.js';
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js';

const FORMAT_VERSION = 1;
const N_EntryType = Object.keys(EntryType).length;
const N_MessageType = Object.keys(MessageType).length;
const N_ConfChangeType = Object.keys(ConfChangeType).length;
const N_ConfChangeTransition = Object.keys(ConfChangeTransition).length;
const U64_MAX = (1n << 64n) - 1n;
/** Upper bound on list lengths accepted when decoding, so garbage cannot allocate without limit. */
const MAX_LIST_LENGTH = 1 << 24;

/** Scratch space shared by every encode: encoding is synchronous, so one buffer suffices. */
let scratch = new Uint8Array(4096);
const EMPTY = new Uint8Array(0);

class Writer {
  private buf: Uint8Array;
  pos = 0;

  constructor(initial = 64) {
    if (scratch.length < initial) scratch = new Uint8Array(Math.max(initial, scratch.length * 2));
    this.buf = scratch;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    scratch = next;
  }

  uvarint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`cannot encode ${v} as an unsigned safe integer`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  u64(v: bigint): void {
    if (v < 0n || v > U64_MAX) throw new RangeError(`node ID ${v} is not a u64`);
    this.ensure(8);
    let lo: number;
    let hi: number;
    if (v <= 0xffffffffn) {
      lo = Number(v);
      hi = 0;
    } else {
      lo = Number(v & 0xffffffffn);
      hi = Number(v >> 32n);
    }
    for (let i = 0; i < 4; i++, lo >>>= 8) this.buf[this.pos++] = lo & 0xff;
    for (let i = 0; i < 4; i++, hi >>>= 8) this.buf[this.pos++] = hi & 0xff;
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A copy of the encoded bytes (the scratch buffer is reused by the next encode). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

class Reader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  private fail(msg: string): never {
    throw new DecodeError(`${this.what}: ${msg} at byte ${this.pos}`);
  }

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) this.fail('number above MAX_SAFE_INTEGER');
        return result;
      }
      mul *= 0x80;
    }
    return this.fail('varint too long');
  }

  u64(): bigint {
    if (this.pos + 8 > this.buf.length) this.fail('truncated u64');
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    this.pos += 8;
    if (hi === 0) return BigInt(lo);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  bool(): boolean {
    if (this.pos >= this.buf.length) this.fail('truncated bool');
    const b = this.buf[this.pos++]!;
    if (b > 1) this.fail('invalid bool');
    return b === 1;
  }

  /** A view into the input (no copy): decoded byte fields share the input's memory. */
  bytes(): Uint8Array {
    const n = this.uvarint();
    if (this.pos + n > this.buf.length) this.fail('truncated bytes');
    const out = n === 0 ? EMPTY : this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  count(): number {
    const n = this.uvarint();
    if (n > MAX_LIST_LENGTH || n > this.buf.length - this.pos) this.fail('list length out of range');
    return n;
  }

  /** An enum value in [0, count). All our enums are dense from 0. */
  enumOf<T extends number>(count: number, name: string): T {
    const v = this.uvarint();
    if (v >= count) this.fail(`invalid ${name} ${v}`);
    return v as T;
  }

  version(): void {
    const v = this.uvarint();
    if (v !== FORMAT_VERSION) this.fail(`unsupported format version ${v}`);
  }

  end(): void {
    if (this.pos !== this.buf.length) this.fail('trailing bytes');
  }
}

function writeEntry(w: Writer, e: Entry): void {
  w.uvarint(e.term);
  w.uvarint(e.index);
  w.uvarint(e.type);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const term = r.uvarint();
  const index = r.uvarint();
  const type = r.enumOf<EntryType>(N_EntryType, 'entry type');
  const data = r.bytes();
  return { term, index, type, data };
}

function writeIds(w: Writer, ids: readonly bigint[]): void {
  w.uvarint(ids.length);
  for (const id of ids) w.u64(id);
}

function readIds(r: Reader): bigint[] {
  const n = r.count();
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) ids.push(r.u64());
  return ids;
}

function writeConfState(w: Writer, cs: ConfState): void {
  writeIds(w, cs.voters);
  writeIds(w, cs.learners);
  writeIds(w, cs.votersOutgoing);
  writeIds(w, cs.learnersNext);
  w.bool(cs.autoLeave);
}

function readConfState(r: Reader): ConfState {
  return {
    voters: readIds(r),
    learners: readIds(r),
    votersOutgoing: readIds(r),
    learnersNext: readIds(r),
    autoLeave: r.bool(),
  };
}

function writeSnapshotMetadata(w: Writer, m: SnapshotMetadata): void {
  writeConfState(w, m.confState);
  w.uvarint(m.index);
  w.uvarint(m.term);
}

function readSnapshotMetadata(r: Reader): SnapshotMetadata {
  const confState = readConfState(r);
  return { confState, index: r.uvarint(), term: r.uvarint() };
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  writeSnapshotMetadata(w, s.metadata);
  w.bytes(s.data);
}

function readSnapshot(r: Reader): Snapshot {
  const metadata = readSnapshotMetadata(r);
  return { metadata, data: r.bytes() };
}

function encodeWith(initial: number, f: (w: Writer) => void): Uint8Array {
  const w = new Writer(initial);
  w.uvarint(FORMAT_VERSION);
  f(w);
  return w.finish();
}

function decodeWith<T>(buf: Uint8Array, what: string, f: (r: Reader) => T): T {
  const r = new Reader(buf, what);
  r.version();
  const v = f(r);
  r.end();
  return v;
}

/** Encode a log entry (the WAL stores these bytes). */
export function encodeEntry(e: Entry): Uint8Array {
  return encodeWith(e.data.length + 24, (w) => writeEntry(w, e));
}

/**
 * The bytes {@link encodeEntry} writes before the entry's data: `encodeEntry(e)` is this
 * followed by `e.data`. The WAL writes the two parts straight into its frame, so an entry's data
 * is not copied into a scratch buffer and then into an entry-sized copy first.
 */
export function encodeEntryHead(e: Entry): Uint8Array {
  const w = new Writer(48);
  w.uvarint(FORMAT_VERSION);
  w.uvarint(e.term);
  w.uvarint(e.index);
  w.uvarint(e.type);
  w.uvarint(e.data.length);
  return w.finish();
}

/** Decode a log entry. @throws DecodeError */
export function decodeEntry(buf: Uint8Array): Entry {
  return decodeWith(buf, 'entry', readEntry);
}

/** Encode a message for the peer transport. */
export function encodeMessage(m: Message): Uint8Array {
  let size = 64 + m.context.length + (m.snapshot?.data.length ?? 0);
  for (const e of m.entries) size += e.data.length + 24;
  return encodeWith(size, (w) => {
    w.uvarint(m.type);
    w.u64(m.to);
    w.u64(m.from);
    w.uvarint(m.term);
    w.uvarint(m.logTerm);
    w.uvarint(m.index);
    w.uvarint(m.entries.length);
    for (const e of m.entries) writeEntry(w, e);
    w.uvarint(m.commit);
    w.bool(m.snapshot !== undefined);
    if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot);
    w.bool(m.reject);
    w.uvarint(m.rejectHint);
    w.bytes(m.context);
  });
}

/** Decode a message received from a peer. @throws DecodeError */
export function decodeMessage(buf: Uint8Array): Message {
  return decodeWith(buf, 'message', (r) => {
    const type = r.enumOf<MessageType>(N_MessageType, 'message type');
    const to = r.u64();
    const from = r.u64();
    const term = r.uvarint();
    const logTerm = r.uvarint();
    const index = r.uvarint();
    const n = r.count();
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push(readEntry(r));
    const commit = r.uvarint();
    const snapshot = r.bool() ? readSnapshot(r) : undefined;
    const reject = r.bool();
    const rejectHint = r.uvarint();
    const context = r.bytes();
    return { type, to, from, term, logTerm, index, entries, commit, snapshot, reject, rejectHint, context };
  });
}

/** Encode a hard state (term, vote, commit). */
export function encodeHardState(h: HardState): Uint8Array {
  return encodeWith(32, (w) => {
    w.uvarint(h.term);
    w.u64(h.vote);
    w.uvarint(h.commit);
  });
}

/** @throws DecodeError */
export function decodeHardState(buf: Uint8Array): HardState {
  return decodeWith(buf, 'hard state', (r) => ({ term: r.uvarint(), vote: r.u64(), commit: r.uvarint() }));
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return encodeWith(64, (w) => writeConfState(w, cs));
}

/** @throws DecodeError */
export function decodeConfState(buf: Uint8Array): ConfState {
  return decodeWith(buf, 'conf state', readConfState);
}

/** Encode snapshot metadata (index, term, ConfState) without the application data. */
export function encodeSnapshotMetadata(m: SnapshotMetadata): Uint8Array {
  return encodeWith(64, (w) => writeSnapshotMetadata(w, m));
}

/** @throws DecodeError */
export function decodeSnapshotMetadata(buf: Uint8Array): SnapshotMetadata {
  return decodeWith(buf, 'snapshot metadata', readSnapshotMetadata);
}

/** Encode a whole snapshot (metadata and data). */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  return encodeWith(64 + s.data.length, (w) => writeSnapshot(w, s));
}

/** @throws DecodeError */
export function decodeSnapshot(buf: Uint8Array): Snapshot {
  return decodeWith(buf, 'snapshot', readSnapshot);
}

/** Encode a v1 conf change: the `data` of an `EntryType.ConfChange` entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeWith(32 + cc.context.length, (w) => {
    w.uvarint(cc.type);
    w.u64(cc.nodeId);
    w.bytes(cc.context);
  });
}

/** @throws DecodeError */
export function decodeConfChange(buf: Uint8Array): ConfChange {
  return decodeWith(buf, 'conf change', (r) => ({
    type: r.enumOf<ConfChangeType>(N_ConfChangeType, 'conf change type'),
    nodeId: r.u64(),
    context: r.bytes(),
  }));
}

/** Encode a ConfChangeV2: the `data` of an `EntryType.ConfChangeV2` entry. */
export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  return encodeWith(32 + cc.context.length + cc.changes.length * 10, (w) => {
    w.uvarint(cc.transition);
    w.uvarint(cc.changes.length);
    for (const c of cc.changes) {
      w.uvarint(c.type);
      w.u64(c.nodeId);
    }
    w.bytes(cc.context);
  });
}

/**
 * Decode a ConfChangeV2. Empty input decodes to "leave joint" (the entry raft
 * appends itself for auto-leave carries no data). @throws DecodeError
 */
export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  if (buf.length === 0) return { transition: ConfChangeTransition.Auto, changes: [], context: EMPTY };
  return decodeWith(buf, 'conf change v2', (r) => {
    const transition = r.enumOf<ConfChangeTransition>(N_ConfChangeTransition, 'conf change transition');
    const n = r.count();
    const changes: ConfChangeSingle[] = [];
    for (let i = 0; i < n; i++) {
      changes.push({ type: r.enumOf<ConfChangeType>(N_ConfChangeType, 'conf change type'), nodeId: r.u64() });
    }
    return { transition, changes, context: r.bytes() };
  });
}

/**
 * Decode the conf change carried by a committed entry of type ConfChange or
 * ConfChangeV2, ready to pass to `RawNode.applyConfChange`. Returns undefined
 * for normal entries. @throws DecodeError
 */
export function decodeEntryConfChange(e: Entry): ConfChange | ConfChangeV2 | undefined {
  if (e.type === EntryType.ConfChange) return decodeConfChange(e.data);
  if (e.type === EntryType.ConfChangeV2) return decodeConfChangeV2(e.data);
  return undefined;
}
