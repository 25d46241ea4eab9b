import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { lockDataDir, type DataDirLock } from '../storage/data-dir-lock.js';

/** Where a member keeps its files: etcd's layout, `<data-dir>/member/{wal,snap}` plus our LMDB `db`. */
export interface DataDirLayout {
  readonly dataDir: string;
  /** WAL segments: `--wal-dir` when set, else `<data-dir>/member/wal`. */
  readonly walDir: string;
  /** Raft snapshots and backend snapshots received from a leader (`<index>.snap.db`). */
  readonly snapDir: string;
  /** The LMDB backend. */
  readonly dbDir: string;
}

export function dataDirLayout(config: Pick<ServerConfig, 'dataDir' | 'walDir'>): DataDirLayout {
  const memberDir = join(config.dataDir, 'member');
  return {
    dataDir: config.dataDir,
    walDir: config.walDir || join(memberDir, 'wal'),
    snapDir: join(memberDir, 'snap'),
    dbDir: join(memberDir, 'db'),
  };
}

/** The locks a member holds on its directories; release them last when it stops. */
export interface DataDirLocks {
  release(): Promise<void>;
}

/**
 * Locks the data dir (and a separate `--wal-dir`) before anything in it is created or opened,
 * so a second process started on a directory in use is refused having touched nothing.
 */
export async function lockDataDirs(config: Pick<ServerConfig, 'dataDir' | 'walDir'>): Promise<DataDirLocks> {
  const locks: DataDirLock[] = [];
  const release = async (): Promise<void> => {
    for (const l of locks.splice(0).reverse()) await l.release();
  };
  try {
    // A --wal-dir first: it gets no file of ours (it holds only segments), the socket alone on Linux.
    if (config.walDir) locks.push(await lockDataDir(config.walDir, { holderFile: false, what: 'WAL dir' }));
    locks.push(await lockDataDir(config.dataDir));
  } catch (err) {
    await release();
    throw err;
  }
  return { release };
}

/** Creates the directories the backend and snapshots need (the WAL creates its own). */
export async function createDataDirs(layout: DataDirLayout): Promise<void> {
  await mkdir(layout.snapDir, { recursive: true });
  await mkdir(layout.dbDir, { recursive: true });
}
