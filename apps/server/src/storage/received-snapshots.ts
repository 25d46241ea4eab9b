import { open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isExportLeftover } from '../snapshot/export.js';

/**
 * Backend snapshots a follower received from its leader live in the snap dir, named by the
 * raft index of their MsgSnap (etcd's `<index>.snap.db`), until the backend is restored from them.
 */
export const snapDbName = (index: number): string => `${index.toString(16).padStart(16, '0')}.snap.db`;
const SNAP_DB_RE = /^([0-9a-f]{16})\.snap\.db$/;

/** The received backend snapshots in `snapDir`, newest first. */
export async function receivedSnapshots(snapDir: string): Promise<Array<{ index: number; path: string }>> {
  const names = await readdir(snapDir).catch(() => [] as string[]);
  return names.flatMap((n) => {
    const m = SNAP_DB_RE.exec(n);
    return m ? [{ index: Number.parseInt(m[1]!, 16), path: join(snapDir, n) }] : [];
  }).sort((a, b) => b.index - a.index);
}

/** Removes received snapshots the backend already covers (index ≤ `coveredIndex`). */
export async function removeCoveredSnapshots(snapDir: string, coveredIndex: number): Promise<void> {
  for (const r of await receivedSnapshots(snapDir)) if (r.index <= coveredIndex) await rm(r.path, { force: true });
}

/**
 * Removes half-received snapshots and copies that were being sent when the member stopped
 * (to a follower, or to a client as an etcd-format snapshot).
 */
export async function removeUnfinishedSnapshotFiles(snapDir: string): Promise<void> {
  for (const name of await readdir(snapDir)) {
    if (name.endsWith('.snap.db.part') || name.endsWith('.snap.db.send') || isExportLeftover(name)) await rm(join(snapDir, name), { recursive: true, force: true });
  }
}

/** Writes a stream to `path` durably: temp file, fsync, rename, fsync the directory. */
export async function writeFileDurably(path: string, dir: string, data: AsyncIterable<Uint8Array>): Promise<void> {
  const part = `${path}.part`;
  const fh = await open(part, 'w');
  try {
    for await (const chunk of data) await fh.write(chunk);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(part, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
