import { SnapshotStore, Wal } from '@raftkv/wal';

/** Where the way out is written down, for the message. */
export const BACKEND_BEHIND_DOC = 'docs/operations.md#the-backend-is-behind-the-raft-snapshot';

/** The backend misses entries that the raft log no longer holds. */
export class BackendBehindSnapshotError extends Error {
  constructor(readonly consistentIndex: number, readonly snapshotIndex: number) {
    super(`raftkv: the backend (member/db) holds raft entries up to index ${consistentIndex}, but the newest raft snapshot is at ` +
      `index ${snapshotIndex} and the WAL keeps only the entries after it: entries ${consistentIndex + 1}..${snapshotIndex} ` +
      `are in neither, so this member cannot catch up on its own and refuses to start (was member/db replaced by an older ` +
      `copy, or did the disk lose acknowledged writes?). See ${BACKEND_BEHIND_DOC} for the way out`);
    this.name = 'BackendBehindSnapshotError';
  }
}

/**
 * The start-up check etcd makes in its own way (a backend older than the raft snapshot must
 * be replaced by the snapshot's `.snap.db`, or etcd exits): call it after the backend is
 * opened and any received backend snapshot restored, BEFORE the raft log opens and applies.
 * Only a member with a WAL counts, as the raft log ignores snapshot files without one.
 * @throws BackendBehindSnapshotError when `consistentIndex` < the newest snapshot's index.
 */
export async function checkBackendCoversSnapshot(walDir: string, snapDir: string, consistentIndex: number): Promise<void> {
  if (!(await Wal.exists(walDir))) return;
  const latest = await new SnapshotStore(snapDir).loadLatest();
  if (latest && latest.index > consistentIndex) throw new BackendBehindSnapshotError(consistentIndex, latest.index);
}
