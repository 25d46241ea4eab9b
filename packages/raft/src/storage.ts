import {
  CompactedError,
  SnapshotOutOfDateError,
  UnavailableError,
  invariant,
} from './errors.js';
import { emptyConfState, type ConfState, type Entry, type HardState, type Snapshot } from './types.js';

/** What raft needs from durable storage at start-up. */
export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/**
 * Read access to the durable raft log, implemented by the application (for
 * example over a WAL). Raft never writes through this interface: the caller
 * persists what a `Ready` hands it and then calls `advance()`.
 *
 * Index model: the storage holds a snapshot at index `firstIndex() - 1`
 * (index 0 when there is none) followed by entries `firstIndex()..lastIndex()`.
 * `term(firstIndex() - 1)` must return the snapshot's term.
 */
export interface Storage {
  /** The saved hard state and the ConfState of the latest snapshot (or bootstrap). */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`, limited so their total size stays within
   * `maxSizeBytes` but always at least one entry when any is in range.
   * @throws CompactedError if `lo` is at or below the snapshot index
   * @throws UnavailableError if the range is past the last entry
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /**
   * Term of entry `i`, valid for `firstIndex() - 1 <= i <= lastIndex()`.
   * @throws CompactedError below that range, UnavailableError above it
   */
  term(i: number): number;
  /** Index of the first entry that may be available (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index if there is no entry after it). */
  lastIndex(): number;
  /**
   * The most recent snapshot. May throw `SnapshotTemporarilyUnavailableError`
   * while one is being built; raft then retries later.
   */
  snapshot(): Snapshot;
}

/** Approximate encoded size of an entry, used for every size limit. */
export function entrySize(e: Entry): number {
  return e.data.length + 16;
}

/** The longest prefix of `ents` within `maxSizeBytes`, never fewer than one entry. */
export function limitSize(ents: Entry[], maxSizeBytes: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0]!);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit]!);
    if (size > maxSizeBytes) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

/**
 * An in-memory `Storage`, for tests, simulations and embedders that keep the
 * log in memory. Everything written to it counts as durable.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0n, commit: 0 };
  private snap: Snapshot = { data: new Uint8Array(0), metadata: { confState: emptyConfState(), index: 0, term: 0 } };
  /** ents[0] is a dummy entry at the snapshot index holding the snapshot term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  /** Save the hard state (the caller does this with every Ready that has one). */
  setHardState(h: HardState): void {
    this.hardState = { ...h };
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError();
    invariant(hi <= this.lastIndex() + 1, () => `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    if (this.ents.length === 1) throw new UnavailableError();
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replace the contents with a snapshot (a follower received one).
   * @throws SnapshotOutOfDateError if it is not newer than the current one
   */
  applySnapshot(s: Snapshot): void {
    if (s.metadata.index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = s;
    this.ents = [{ term: s.metadata.term, index: s.metadata.index, type: 0, data: new Uint8Array(0) }];
  }

  /**
   * Record a snapshot of the application state at applied index `i`, to be
   * sent to followers that fall behind; usually followed by `compact(i)`.
   * @throws SnapshotOutOfDateError if `i` is not above the current snapshot
   */
  createSnapshot(i: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    invariant(i <= this.lastIndex(), () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const term = this.ents[i - this.offset()]!.term;
    this.snap = {
      data,
      metadata: { index: i, term, confState: confState ?? this.snap.metadata.confState },
    };
    return this.snap;
  }

  /**
   * Discard entries up to and including `compactIndex`. The caller must not
   * compact past its applied index.
   * @throws CompactedError if already compacted to or beyond `compactIndex`
   */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new CompactedError();
    invariant(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const keep = this.ents.slice(i + 1);
    const at = this.ents[i]!;
    this.ents = [{ term: at.term, index: at.index, type: 0, data: new Uint8Array(0) }, ...keep];
  }

  /**
   * Append entries from a Ready. Entries that overlap existing ones replace
   * them (and everything after); entries at or below the snapshot are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    let ents = entries;
    if (first > ents[0]!.index) ents = ents.slice(first - ents[0]!.index);
    const offset = ents[0]!.index - this.offset();
    invariant(offset <= this.ents.length, () => `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`);
    if (offset < this.ents.length) this.ents = this.ents.slice(0, offset);
    for (const e of ents) this.ents.push(e);
  }
}
