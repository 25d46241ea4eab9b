// When a member takes a snapshot, and how much of the log it keeps in memory below one. etcd's
// rules (every --snapshot-count applied entries; 5,000 entries kept for slow followers) plus two
// byte bounds of our own: the in-memory log holds every entry since the last snapshot, and entries
// of 100-put txns are ~27 KB each, so a count alone would let it grow to gigabytes.
import type { Entry, MemoryStorage } from '@raftkv/raft';

/** etcd keeps this many applied entries in memory after a snapshot, so a slightly slow follower catches up without one. */
export const DEFAULT_SNAPSHOT_CATCH_UP_ENTRIES = 5000;
/**
 * A snapshot is also taken once the entries applied since the last one hold this many data
 * bytes, whatever `snapshotCount` says (see the package README).
 */
export const DEFAULT_SNAPSHOT_BYTES = 8 * 1024 * 1024;
/** At most this many data bytes of entries are kept below a snapshot (besides at most `snapshotCatchUpEntries` entries). */
export const DEFAULT_SNAPSHOT_CATCH_UP_BYTES = 2 * 1024 * 1024;

export interface SnapshotPolicyOptions {
  snapshotCount: number;
  snapshotBytes?: number | undefined;
  snapshotCatchUpEntries?: number | undefined;
  snapshotCatchUpBytes?: number | undefined;
}

export class SnapshotPolicy {
  private readonly snapshotCount: number;
  private readonly snapshotBytes: number;
  private readonly catchUpEntries: number;
  private readonly catchUpBytes: number;
  /** Data bytes of the entries applied since the latest snapshot was taken or installed. */
  private appliedBytes = 0;

  constructor(opts: SnapshotPolicyOptions) {
    this.snapshotCount = opts.snapshotCount;
    this.snapshotBytes = opts.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES;
    this.catchUpEntries = opts.snapshotCatchUpEntries ?? DEFAULT_SNAPSHOT_CATCH_UP_ENTRIES;
    this.catchUpBytes = opts.snapshotCatchUpBytes ?? DEFAULT_SNAPSHOT_CATCH_UP_BYTES;
  }

  /** An entry of `dataBytes` was applied. */
  applied(dataBytes: number): void {
    this.appliedBytes += dataBytes;
  }

  /** A snapshot was taken (or installed from the leader): count again from there. */
  reset(): void {
    this.appliedBytes = 0;
  }

  /** Whether the entries applied since the snapshot at `snapshotIndex` call for a new one. */
  due(appliedIndex: number, snapshotIndex: number): boolean {
    if (appliedIndex <= snapshotIndex) return false;
    return appliedIndex - snapshotIndex >= this.snapshotCount || this.appliedBytes >= this.snapshotBytes;
  }

  /**
   * Where to compact below a snapshot at `index`: the entries above it are at most
   * `catchUpEntries` and hold at most `catchUpBytes` of data (none when the newest alone is larger).
   */
  compactionIndex(storage: Pick<MemoryStorage, 'firstIndex' | 'entries'>, index: number): number {
    const lo = Math.max(storage.firstIndex(), index - this.catchUpEntries + 1);
    if (lo > index) return index; // catchUpEntries 0
    const kept: Entry[] = storage.entries(lo, index + 1, Number.POSITIVE_INFINITY);
    let bytes = 0;
    let keepFrom = index + 1;
    for (let i = kept.length - 1; i >= 0; i--) {
      const e = kept[i]!;
      bytes += e.data.length;
      if (bytes > this.catchUpBytes) break;
      keepFrom = e.index;
    }
    return keepFrom - 1;
  }
}
