import { MvccStore } from '@raftkv/mvcc';
import { Membership } from '../cluster/membership.js';
import type { Logger } from '../logger.js';
import { checkBackendCoversSnapshot } from '../storage/backend-check.js';
import { receivedSnapshots, removeCoveredSnapshots, removeUnfinishedSnapshotFiles } from '../storage/received-snapshots.js';
import type { DataDirLayout } from './data-dir.js';
import type { Identity } from './identity.js';

/** The member's state on disk, opened: the MVCC backend and the membership kept in it. */
export interface OpenedStorage {
  readonly store: MvccStore;
  readonly membership: Membership;
}

/**
 * Opens the backend (restoring it first from a received snapshot that is ahead of it), checks
 * that it covers the newest raft snapshot, and seeds an empty membership from the identity.
 */
export async function openStorage(
  layout: DataDirLayout, identity: Identity, log: Logger, onBackendCommit?: (written: Promise<void>) => void,
  onBackendOpened?: () => void,
): Promise<OpenedStorage> {
  const store = await openBackend(layout, log, onBackendCommit, onBackendOpened);
  try {
    await checkBackendCoversSnapshot(layout.walDir, layout.snapDir, store.consistentIndex);
    const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
    if (membership.size === 0 && identity.initialMembers) {
      for (const m of identity.initialMembers) membership.add(m);
      await store.commit();
    }
    return { store, membership };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Opens the backend; when the newest backend snapshot received from a leader is ahead of it
 * (a crash between saving that snapshot and restoring from it), restores from it first.
 */
async function openBackend(
  layout: DataDirLayout, log: Logger, onBackendCommit?: (written: Promise<void>) => void, onBackendOpened?: () => void,
): Promise<MvccStore> {
  const options = { dir: layout.dbDir, ...(onBackendCommit ? { onBackendCommit } : {}), ...(onBackendOpened ? { onBackendOpened } : {}) };
  let store = await MvccStore.open(options);
  const newest = (await receivedSnapshots(layout.snapDir))[0];
  if (newest && newest.index > store.consistentIndex) {
    log.info('restoring the backend from a received snapshot', { index: newest.index, backendIndex: store.consistentIndex });
    await store.close();
    await MvccStore.restoreFrom(newest.path, layout.dbDir);
    store = await MvccStore.open(options);
  }
  await removeCoveredSnapshots(layout.snapDir, store.consistentIndex);
  await removeUnfinishedSnapshotFiles(layout.snapDir);
  return store;
}
