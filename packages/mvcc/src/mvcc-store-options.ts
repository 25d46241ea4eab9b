import type { BackendOptions } from './backend.js';
import type { MvccStore } from './kvstore.js';

/** Options of {@link MvccStore.open}. */
export interface MvccStoreOptions {
  /** Directory of the LMDB environment (created if missing). */
  dir: string;
  /** Backend revisions deleted per compaction transaction (etcd's default 1000). */
  compactionBatchLimit?: number;
  /** Initial LMDB map size; LMDB grows it as needed. */
  mapSizeBytes?: number;
  /** Entries per LMDB transaction of a commit (default 8192): a bigger commit is split, keeping each short. */
  commitEntriesPerTxn?: number;
  /**
   * Handed the write of each commit that has something to write, as it starts (after the
   * commits before it): the caller may time it (etcd's backend_commit_duration_seconds). The
   * promise may reject (the commit failed); must not throw.
   */
  onBackendCommit?: (written: Promise<void>) => void;
  /** Called by {@link MvccStore.open} once LMDB is open, before the key index is rebuilt (a start-up timeline). */
  onBackendOpened?: () => void;
  /**
   * Handed each {@link MvccStore.hashPaced} (`hash`) and {@link MvccStore.hashKVPaced} (`hashKV`)
   * as it starts: the caller may time it (etcd's mvcc hash_duration_seconds and
   * hash_rev_duration_seconds). The promise may reject; must not throw.
   */
  onHash?: (kind: 'hash' | 'hashKV', done: Promise<unknown>) => void;
  /**
   * Handed each pause of a compaction as it starts: a step of the index pass (`index`, resolves
   * with 0) or a backend transaction deleting a batch (`db`, resolves with the keys it deleted).
   * The caller may time them (etcd's index and db compaction pause histograms). Must not throw.
   */
  onCompactionStep?: (kind: 'index' | 'db', done: Promise<number>) => void;
  /** Handed each backend compaction (after the reads in steps it waits for) as it starts. Must not throw. */
  onCompaction?: (done: Promise<void>) => void;
}

/** The options of the store's LMDB backend; also used to reopen it after a restore. */
export function backendOptionsOf(opts: MvccStoreOptions): BackendOptions {
  return {
    ...(opts.mapSizeBytes ? { mapSizeBytes: opts.mapSizeBytes } : {}),
    ...(opts.commitEntriesPerTxn !== undefined ? { commitEntriesPerTxn: opts.commitEntriesPerTxn } : {}),
    ...(opts.onBackendCommit ? { onCommit: opts.onBackendCommit } : {}),
  };
}
