import { renameSync, rmSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Backend, META_CONSISTENT_INDEX, type BackendOptions } from './backend.js';
import { DATA_FILE, fsyncPath, LOCK_FILE } from './lmdb-file.js';
import { loadState, loadStatePaced, type LoadedState } from './load-state.js';
import type { Pacer } from './paced.js';

// The file side of restoring a backend snapshot (MvccStore.restoreFrom and restore).

/** Where the snapshot is copied in the store's directory while a restore validates it. */
const RESTORE_FILE = `${DATA_FILE}.restore`;

/**
 * Puts the snapshot file in place of the backend in `dir` (no store open on it), durably: the
 * copy is fsynced BEFORE it is renamed over the data file, and the directory (and the parent of
 * a directory created here) AFTER, so a power loss leaves the old backend or the whole snapshot.
 */
export async function replaceBackendFile(snapshotPath: string, dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  const tmp = join(dir, RESTORE_FILE);
  await copyFile(snapshotPath, tmp);
  await fsyncPath(tmp);
  await rm(join(dir, LOCK_FILE), { force: true });
  await rename(tmp, join(dir, DATA_FILE));
  await fsyncPath(dir);
  if (created !== undefined) await fsyncPath(dirname(created));
}

/** A snapshot copied into a store's directory, fsynced and validated; `path` is still beside the data file. */
export interface StagedSnapshot {
  /** The state rebuilt from the copy. */
  state: LoadedState;
  path: string;
}

/**
 * Copies `snapshotPath` into `dir`, fsyncs the copy and validates it by opening it read-only and
 * rebuilding the key index from it (in steps with `pacer`). The store's own files are untouched.
 * @throws Error when the file is missing, not a complete LMDB file, or holds no consistent
 *   index; the copy is removed then.
 */
export async function stageSnapshot(snapshotPath: string, dir: string, pacer: Pacer | undefined): Promise<StagedSnapshot> {
  const tmp = join(dir, RESTORE_FILE);
  const tmpLock = `${tmp}-lock`; // lmdb-js's lock file name for a single-file env
  const removeCopy = async () => {
    await rm(tmp, { force: true });
    await rm(tmpLock, { force: true });
  };
  try {
    await removeCopy();
    await copyFile(snapshotPath, tmp);
    await fsyncPath(tmp);
    const probe = Backend.openSnapshot(tmp);
    let state: LoadedState;
    try {
      if (!probe.getDurableMeta(META_CONSISTENT_INDEX)) throw new Error(`mvcc: ${snapshotPath} is not an mvcc snapshot: no consistent index`);
      state = pacer ? await loadStatePaced(probe, pacer) : loadState(probe);
    } finally {
      await probe.close();
    }
    await rm(tmpLock, { force: true });
    return { state, path: tmp };
  } catch (err) {
    await removeCopy().catch(() => undefined);
    throw err;
  }
}

/**
 * Renames a staged snapshot over the data file in `dir` and opens LMDB on it, synchronously (the
 * swap of an in-place restore, with the store's environment still open on the old file).
 * @throws Error when the rename or the open fails: the data file may be the snapshot's by then.
 */
export function openStagedSnapshot(staged: StagedSnapshot, dir: string, opts: BackendOptions): Backend {
  renameSync(staged.path, join(dir, DATA_FILE));
  // A fresh lock file, because the old env is still open on the old (now unlinked) data
  // file: its lock region holds the txn id by which readers pick a meta page, the new env
  // would re-initialise it under the old one, closing the old env would drop this
  // process's fcntl lock on it, and lmdb-js matches envs by the lock file's inode.
  rmSync(join(dir, LOCK_FILE), { force: true });
  return Backend.open(dir, opts);
}
