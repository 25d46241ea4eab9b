import type { ConfState, ProgressStatus } from '@raftkv/raft';
import type { WalStats } from '@raftkv/wal';

/** Monitoring view of the log. */
export interface RaftLogStatus {
  id: bigint;
  term: number;
  vote: bigint;
  /** Leader's ID, 0 when unknown. */
  lead: bigint;
  isLeader: boolean;
  commitIndex: number;
  /** Highest index handed to `apply` (or installed by a snapshot); empty and conf-change entries count. */
  appliedIndex: number;
  /** Index of the latest snapshot (saved here or received). */
  snapshotIndex: number;
  lastIndex: number;
  confState: ConfState;
  /** Per-member replication progress, on the leader only. */
  progress: Map<bigint, ProgressStatus> | undefined;
}

/** Counters for tests and /metrics. Monotonic. */
export interface RaftLogStats {
  /** Readies handled. */
  readies: number;
  /** Readies that needed a WAL append with fsync (new entries, term or vote, snapshot). */
  syncedReadies: number;
  /** Entries written to the WAL. */
  persistedEntries: number;
  /** Snapshots this member saved by compaction. */
  snapshotsSaved: number;
  /** Snapshots received from a leader and installed. */
  snapshotsInstalled: number;
  wal: Readonly<WalStats>;
}
