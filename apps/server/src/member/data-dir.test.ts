import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirLockedError } from '../storage/data-dir-lock.js';
import { createDataDirs, dataDirLayout, lockDataDirs } from './data-dir.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'raftkv-datadir-'));
  dirs.push(d);
  return d;
};

describe('dataDirLayout', () => {
  it('is etcd\'s member/{wal,snap} plus db, with --wal-dir taking the WAL elsewhere', () => {
    expect(dataDirLayout({ dataDir: '/d', walDir: '' })).toEqual({
      dataDir: '/d', walDir: '/d/member/wal', snapDir: '/d/member/snap', dbDir: '/d/member/db',
    });
    expect(dataDirLayout({ dataDir: '/d', walDir: '/w' }).walDir).toBe('/w');
  });
});

describe('lockDataDirs', () => {
  it('refuses a second holder of the data dir, and lets it in once released', async () => {
    const dataDir = tempDir();
    const first = await lockDataDirs({ dataDir, walDir: '' });
    await expect(lockDataDirs({ dataDir, walDir: '' })).rejects.toBeInstanceOf(DataDirLockedError);
    await first.release();
    const second = await lockDataDirs({ dataDir, walDir: '' });
    await second.release();
  });

  it('releases the --wal-dir lock when the data dir is held by someone else', async () => {
    const dataDir = tempDir();
    const walDir = tempDir();
    const holder = await lockDataDirs({ dataDir, walDir: '' });
    await expect(lockDataDirs({ dataDir, walDir })).rejects.toBeInstanceOf(DataDirLockedError);
    // The WAL dir was locked first and must be free again.
    const walOnly = await lockDataDirs({ dataDir: tempDir(), walDir });
    await walOnly.release();
    await holder.release();
  });

  it('creates the snapshot and backend directories', async () => {
    const layout = dataDirLayout({ dataDir: tempDir(), walDir: '' });
    await createDataDirs(layout);
    expect(existsSync(layout.snapDir) && existsSync(layout.dbDir)).toBe(true);
  });
});
