import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotStore, Wal } from '@raftkv/wal';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendBehindSnapshotError, checkBackendCoversSnapshot } from './backend-check.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A member's wal and snap dirs: a WAL if `wal`, a snapshot file at each of `snapshots`. */
async function member(wal: boolean, snapshots: number[]): Promise<{ walDir: string; snapDir: string }> {
  const root = mkdtempSync(join(tmpdir(), 'raftkv-backend-check-'));
  dirs.push(root);
  const walDir = join(root, 'wal');
  const snapDir = join(root, 'snap');
  if (wal) await (await Wal.create(walDir, new Uint8Array(16))).close();
  for (const index of snapshots) await new SnapshotStore(snapDir).save({ index, term: 2 }, new Uint8Array(8));
  return { walDir, snapDir };
}

describe('checkBackendCoversSnapshot', () => {
  it.each([
    ['no snapshot yet', true, [], 0],
    ['backend exactly at the snapshot', true, [100], 100],
    ['backend beyond the newest snapshot', true, [100, 200], 250],
    ['no WAL: snapshot files are not used, nothing to check', false, [100], 0],
  ])('starts: %s', async (_name, wal, snapshots, ci) => {
    const { walDir, snapDir } = await member(wal, snapshots);
    await expect(checkBackendCoversSnapshot(walDir, snapDir, ci)).resolves.toBeUndefined();
  });

  it.each([
    ['behind the only snapshot', [100], 99],
    ['behind the newest of several', [100, 200], 150],
    ['an empty backend under a snapshot', [10], 0],
  ])('refuses: %s', async (_name, snapshots, ci) => {
    const { walDir, snapDir } = await member(true, snapshots);
    const err = await checkBackendCoversSnapshot(walDir, snapDir, ci).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendBehindSnapshotError);
    const newest = Math.max(...snapshots);
    expect(err).toMatchObject({ consistentIndex: ci, snapshotIndex: newest });
    expect((err as Error).message).toContain(`up to index ${ci}`);
    expect((err as Error).message).toContain(`at index ${newest}`);
    expect((err as Error).message).toContain('docs/operations.md');
  });
});
