/**
 * Turns the records of a log, in order, into the state raft restarts from. Pure: the
 * caller reads the files; errors are plain `Error`s the caller attributes to a file
 * and offset.
 */
import type { HardState, SnapshotMarker, WalRecord } from './record.js';

/** A raft entry as the WAL replays it. `data` is raft's opaque encoding. */
export interface WalEntry {
  term: number;
  index: number;
  data: Uint8Array;
}

/** What {@link Wal.open} read back. */
export interface WalReplay {
  /** The latest metadata record (written by `create`, repeated at every segment start). */
  metadata: Uint8Array;
  /** The latest hard state appended, if any. */
  hardState?: HardState;
  /** The snapshot given to `open`, or else the latest snapshot marker in the log. */
  snapshot?: SnapshotMarker;
  /**
   * Entries with index > `snapshot.index` (or from index 1), contiguous and in index
   * order, with raft truncation applied: an entry at index i replaces every entry read
   * before it with index >= i.
   */
  entries: WalEntry[];
}

export class ReplayBuilder {
  private metadata: Uint8Array | undefined;
  private hardState: HardState | undefined;
  private latestMarker: SnapshotMarker | undefined;
  /** Entries at or below this index are covered by a snapshot and skipped. */
  private base: number;
  private ents: WalEntry[] = [];

  constructor(private readonly fromSnapshot?: SnapshotMarker) {
    this.base = fromSnapshot?.index ?? 0;
  }

  add(r: WalRecord): void {
    switch (r.type) {
      case 'metadata':
        this.metadata = r.data;
        return;
      case 'hardState':
        this.hardState = { term: r.term, vote: r.vote, commit: r.commit };
        return;
      case 'snapshot':
        this.addMarker(r.index, r.term);
        return;
      case 'entry':
        this.addEntry({ term: r.term, index: r.index, data: r.data });
        return;
    }
  }

  private addMarker(index: number, term: number): void {
    if (!this.latestMarker || index >= this.latestMarker.index) this.latestMarker = { index, term };
    if (this.fromSnapshot) {
      if (index === this.fromSnapshot.index && term !== this.fromSnapshot.term) {
        throw new Error(`snapshot marker at index ${index} has term ${term}, open was given term ${this.fromSnapshot.term}`);
      }
      return;
    }
    if (index < this.base) return;
    this.base = index;
    const first = this.ents[0]?.index;
    if (first !== undefined && index >= first) this.ents.splice(0, index - first + 1);
  }

  private addEntry(e: WalEntry): void {
    if (e.index <= this.base) {
      // Covered by the snapshot, but written after the entries read so far: as a raft
      // append it still replaces every later entry (all of which are above the base).
      this.ents.length = 0;
      return;
    }
    const first = this.ents[0]?.index;
    if (first === undefined) {
      this.ents.push(e);
      return;
    }
    const last = first + this.ents.length - 1;
    if (e.index > last + 1) throw new Error(`entry index ${e.index} leaves a gap after ${last}`);
    // Truncation: everything from e.index on is replaced.
    if (e.index <= last) this.ents.length = Math.max(0, e.index - first);
    this.ents.push(e);
  }

  /** Highest entry index, or the snapshot base when there are no entries. */
  get lastIndex(): number {
    const n = this.ents.length;
    return n === 0 ? this.base : this.ents[n - 1]!.index;
  }

  get latestSnapshotMarker(): SnapshotMarker | undefined {
    return this.latestMarker;
  }

  get latestMetadata(): Uint8Array | undefined {
    return this.metadata;
  }

  get latestHardState(): HardState | undefined {
    return this.hardState;
  }

  finish(): WalReplay {
    if (!this.metadata) throw new Error('no metadata record');
    const first = this.ents[0];
    if (first && first.index !== this.base + 1) {
      throw new Error(`entries start at ${first.index} but the snapshot covers only up to ${this.base}`);
    }
    const out: WalReplay = { metadata: this.metadata, entries: this.ents };
    if (this.hardState) out.hardState = this.hardState;
    const snap = this.fromSnapshot ?? this.latestMarker;
    if (snap) out.snapshot = { index: snap.index, term: snap.term };
    return out;
  }
}
