// Restores must be durable: the copied snapshot is fsynced before it replaces the data file,
// and the directory after the rename. fs is wrapped (not faked) to record the order of the
// calls that matter; everything still reaches the real disk.
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DATA_FILE } from './lmdb-file.js';
import { MvccStore } from './kvstore.js';
import { enc, openStore, tempDir, track } from './test-support/helpers.js';

const calls: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof fs.open = async (path, ...rest) => {
    const fh = await fs.open(path, ...rest);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      await sync();
      calls.push(`fsync ${String(path)}`);
    };
    return fh;
  };
  const rename: typeof fs.rename = async (from, to) => {
    await fs.rename(from, to);
    calls.push(`rename ${String(from)} -> ${String(to)}`);
  };
  const copyFile: typeof fs.copyFile = async (from, to, mode) => {
    await fs.copyFile(from, to, mode);
    calls.push(`copy -> ${String(to)}`);
  };
  return { ...fs, default: { ...fs, open, rename, copyFile }, open, rename, copyFile };
});

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const renameSync: typeof fs.renameSync = (from, to) => {
    fs.renameSync(from, to);
    calls.push(`rename ${String(from)} -> ${String(to)}`);
  };
  return { ...fs, default: { ...fs, renameSync }, renameSync };
});

/** The recorded calls that touch `dir` or the file `name` in it, with `dir` written as DIR. */
function callsIn(dir: string): string[] {
  return calls.filter((c) => c.includes(dir)).map((c) => c.split(dir).join('DIR'));
}

async function snapshotWithOneKey(): Promise<string> {
  const source = await openStore();
  source.put({ key: enc('k'), value: enc('v') }, 1);
  const path = join(tempDir(), 'snap.mdb');
  await source.snapshotTo(path);
  return path;
}

beforeEach(() => {
  calls.length = 0;
});

describe('restore durability', () => {
  it('restoreFrom: copy, fsync the copy, rename over the data file, fsync the directory', async () => {
    const snap = await snapshotWithOneKey();
    const dir = tempDir();
    await MvccStore.restoreFrom(snap, dir);
    const tmp = `DIR/${DATA_FILE}.restore`;
    expect(callsIn(dir)).toEqual([
      `copy -> ${tmp}`,
      `fsync ${tmp}`,
      `rename ${tmp} -> DIR/${DATA_FILE}`,
      'fsync DIR',
    ]);
    const s = track(await MvccStore.open({ dir }));
    expect(s.consistentIndex).toBe(1);
  });

  it('restoreFrom into a directory it creates also fsyncs the parent, which gained an entry', async () => {
    const snap = await snapshotWithOneKey();
    const parent = tempDir();
    const dir = join(parent, 'db');
    await MvccStore.restoreFrom(snap, dir);
    expect(calls.at(-1)).toBe(`fsync ${parent}`);
    expect(callsIn(dir).at(-1)).toBe('fsync DIR');
  });

  it('restore in place: the copy is fsynced before the swap and the directory after it, before the promise resolves', async () => {
    const snap = await snapshotWithOneKey();
    const target = await openStore();
    target.put({ key: enc('old'), value: enc('x') }, 1);
    await target.commit();
    const dir = (target as unknown as { dir: string }).dir;
    calls.length = 0;
    await target.restore(snap);
    const mine = callsIn(dir);
    const tmp = `DIR/${DATA_FILE}.restore`;
    const at = (c: string) => {
      const i = mine.indexOf(c);
      expect(i, `${c} in ${JSON.stringify(mine)}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(at(`fsync ${tmp}`)).toBeGreaterThan(at(`copy -> ${tmp}`));
    expect(at(`rename ${tmp} -> DIR/${DATA_FILE}`)).toBeGreaterThan(at(`fsync ${tmp}`));
    expect(mine.lastIndexOf('fsync DIR')).toBeGreaterThan(at(`rename ${tmp} -> DIR/${DATA_FILE}`));
  });
});
