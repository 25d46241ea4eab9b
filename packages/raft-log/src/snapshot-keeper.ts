import type { ConfState, MemoryStorage, Snapshot, SnapshotMetadata } from '@raftkv/raft';
import type { SnapshotStore, Wal } from '@raftkv/wal';
import { saveSnapshotFile } from './raft-storage.js';
import { SnapshotPolicy, type SnapshotPolicyOptions } from './snapshot-policy.js';

/** Snapshot files kept in `member/snap` (etcd's --max-snapshots default). */
export const DEFAULT_MAX_SNAPSHOTS = 5;
const EMPTY = new Uint8Array(0);

export interface SnapshotKeeperOptions extends SnapshotPolicyOptions {
  /** Snapshot files kept. Default 5. */
  maxSnapshots?: number | undefined;
  /** Resolves once everything applied so far is durable in the state machine; awaited before a snapshot is saved. */
  backendDurable?(): Promise<void>;
  /** A snapshot was saved at `index` and the WAL segments and log entries it covers released. */
  onSnapshotSaved?(index: number): void;
}

/** What the keeper reads of the log it serves, at the moment it needs it. */
export interface SnapshotKeeperLog {
  /** Nothing more may be written: the log failed or was abandoned. */
  stopped(): boolean;
  /** A snapshot may be taken now: the log is open and the state machine has applied all it was handed. */
  maySnapshot(): boolean;
  appliedIndex(): number;
  /** The ConfState at the applied index. */
  confState(): ConfState;
  /** On the leader: a `MsgSnap` to some follower not yet reported. */
  sendingSnapshot(): boolean;
  /** Saving a snapshot failed: the member cannot go on. */
  fail(err: unknown): void;
}

export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  };
}

/**
 * A member's snapshots, after etcd's EtcdServer.snapshot and raftNode's handling of a received
 * one: when one is due, taking it; persisting one from the leader; and the log kept below them.
 *
 * Taking one: every `snapshotCount` applied entries, or once the entries applied since the last
 * snapshot hold `snapshotBytes` of data (see {@link SnapshotPolicy}), once `backendDurable()`
 * resolves, a snapshot (raft metadata with the ConfState at that index, empty data: mvcc's LMDB
 * is the state) is saved as a file, THEN marked in the WAL; then `MemoryStorage` is compacted,
 * keeping at most `snapshotCatchUpEntries` entries AND at most `snapshotCatchUpBytes` of data,
 * WAL segments below it are released and old snapshot files purged; no compaction while a
 * snapshot is being sent to a follower, as etcd. The byte bounds keep the in-memory log (and
 * the entries a restart decodes and applies again) small when entries are large, e.g. 100-put
 * txns of ~27 KB each; a follower further behind than the kept entries gets a snapshot, as a
 * follower beyond etcd's 5,000-entry catch-up window does.
 *
 * Receiving one: its file is saved BEFORE the Ready's WAL append that carries its marker, and
 * the WAL and old files are released after that append. No marker ever follows a higher one.
 */
export class SnapshotKeeper {
  private readonly policy: SnapshotPolicy;
  private readonly maxSnapshots: number;
  private index_: number;
  /** Highest snapshot marker handed to the WAL (durable or in flight): a lower one must never follow it. */
  private markerIndex: number;
  private saving_: Promise<void> | undefined;
  private savedCount = 0;
  private installedCount = 0;

  constructor(
    private readonly opts: SnapshotKeeperOptions,
    private readonly log: SnapshotKeeperLog,
    private readonly storage: MemoryStorage,
    private readonly wal: Wal,
    private readonly snapshots: SnapshotStore,
    /** Index of the snapshot the log started from (0 for none). */
    snapshotIndex: number,
  ) {
    this.policy = new SnapshotPolicy(opts);
    this.maxSnapshots = opts.maxSnapshots ?? DEFAULT_MAX_SNAPSHOTS;
    this.index_ = snapshotIndex;
    this.markerIndex = snapshotIndex;
  }

  /** Index of the latest snapshot (saved here or received). */
  get index(): number {
    return this.index_;
  }

  /** The snapshot being saved now (settles after its failure is reported and the next one is considered). */
  get saving(): Promise<void> | undefined {
    return this.saving_;
  }

  /** Counters for `RaftLog.stats()`: snapshots saved here by compaction, and received from a leader and installed. */
  stats(): { snapshotsSaved: number; snapshotsInstalled: number } {
    return { snapshotsSaved: this.savedCount, snapshotsInstalled: this.installedCount };
  }

  /** Metadata of a snapshot at `index` with `confState` (copied): the term comes from the log. */
  metadataAt(index: number, confState: ConfState): SnapshotMetadata {
    return { index, term: this.storage.term(index), confState: cloneConfState(confState) };
  }

  /** An entry of `dataBytes` was applied: it counts toward the next snapshot. */
  applied(dataBytes: number): void {
    this.policy.applied(dataBytes);
  }

  /** Starts saving a snapshot at the applied index if one is due and none is being saved. */
  maybeSnapshot(): void {
    if (this.saving_ || !this.log.maySnapshot() || !this.policy.due(this.log.appliedIndex(), this.index_)) return;
    const index = this.log.appliedIndex();
    this.policy.reset();
    this.saving_ = this.save(index)
      .catch((err: unknown) => this.log.fail(err))
      .finally(() => {
        this.saving_ = undefined;
        // Entries applied while this snapshot was being saved may already call for the next.
        if (!this.log.stopped()) this.maybeSnapshot();
      });
  }

  /** A snapshot from the leader, BEFORE the Ready's WAL append: a marker must never name a snapshot not on disk. */
  saveReceivedFile(snapshot: Snapshot): Promise<void> {
    return saveSnapshotFile(this.snapshots, snapshot);
  }

  /** The received snapshot's marker is being handed to the WAL (in the Ready's append). */
  markerAppending(index: number): void {
    this.markerIndex = Math.max(this.markerIndex, index);
  }

  /** The Ready carrying a received snapshot is durable: raft's log restarts from it; WAL segments and old files below it go. */
  async received(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    this.storage.applySnapshot(snapshot);
    this.index_ = index;
    await this.wal.releaseTo(index);
    await this.snapshots.purge(this.maxSnapshots);
  }

  /** The received snapshot is being installed in the state machine: count applied entries again from it. */
  installed(): void {
    this.policy.reset();
    this.installedCount++;
  }

  /** etcd's EtcdServer.snapshot: file, then WAL marker, then compaction and release. */
  private async save(index: number): Promise<void> {
    const snapshot: Snapshot = { data: EMPTY, metadata: this.metadataAt(index, this.log.confState()) };
    await this.opts.backendDurable?.();
    if (this.log.stopped()) return;
    await saveSnapshotFile(this.snapshots, snapshot);
    // A newer snapshot arrived from the leader meanwhile: its marker is already in the WAL.
    if (this.log.stopped() || index <= this.markerIndex) return;
    this.markerIndex = index;
    await this.wal.append([{ type: 'snapshot', index, term: snapshot.metadata.term }]);
    if (this.log.stopped()) return;
    if (index > this.storage.snapshot().metadata.index) {
      this.storage.createSnapshot(index, snapshot.metadata.confState, EMPTY);
      this.index_ = Math.max(this.index_, index);
      // Not while a snapshot is being sent (etcd pauses compaction then too): its follower needs
      // the entries right after it, or it would need another snapshot, and so on under load.
      const compactTo = this.log.sendingSnapshot() ? 0 : this.policy.compactionIndex(this.storage, index);
      if (compactTo >= this.storage.firstIndex()) this.storage.compact(compactTo);
    }
    await this.wal.releaseTo(index);
    await this.snapshots.purge(this.maxSnapshots);
    this.savedCount++;
    this.opts.onSnapshotSaved?.(index);
  }
}
