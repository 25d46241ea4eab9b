import { MvccStore } from '@raftkv/mvcc';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { snapDbName } from '../storage/received-snapshots.js';
import { createDataDirs, dataDirLayout, type DataDirLayout } from './data-dir.js';
import { openStorage } from './storage.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const log = createLogger('error');

async function freshLayout(): Promise<DataDirLayout> {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftkv-storage-'));
  dirs.push(dataDir);
  const layout = dataDirLayout({ dataDir, walDir: '' });
  await createDataDirs(layout);
  return layout;
}

const bytes = (s: string): Uint8Array => Buffer.from(s);
const member = { id: 7n, name: 'a', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: false };

/** A backend snapshot at raft index `index` holding key `k`, as a leader would send it. */
async function backendSnapshot(path: string, index: number, value: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-storage-src-'));
  dirs.push(dir);
  const store = await MvccStore.open({ dir });
  store.put({ key: bytes('k'), value: bytes(value) }, index);
  await store.commit();
  await store.snapshotTo(path);
  await store.close();
}

describe('openStorage', () => {
  it('seeds an empty membership from the identity, once', async () => {
    const layout = await freshLayout();
    const first = await openStorage(layout, { memberId: 7n, clusterId: 9n, initialMembers: [member] }, log);
    expect(first.membership.list().map((m) => m.id)).toEqual([7n]);
    await first.store.close();
    const other = { ...member, id: 8n, name: 'b' };
    const again = await openStorage(layout, { memberId: 7n, clusterId: 9n, initialMembers: [other] }, log);
    expect(again.membership.list().map((m) => m.id)).toEqual([7n]);
    await again.store.close();
  });

  it('restores the backend from a received snapshot that is ahead of it, then removes it and unfinished files', async () => {
    const layout = await freshLayout();
    await backendSnapshot(join(layout.snapDir, snapDbName(40)), 40, 'from the leader');
    writeFileSync(join(layout.snapDir, `${snapDbName(50)}.part`), 'half received');
    writeFileSync(join(layout.snapDir, 'abc-1.snap.db.send'), 'being sent');
    const { store } = await openStorage(layout, { memberId: 7n, clusterId: 9n }, log);
    try {
      expect(store.consistentIndex).toBe(40);
      expect(Buffer.from(store.range({ key: bytes('k') }).kvs[0]!.value).toString()).toBe('from the leader');
      expect(readdirSync(layout.snapDir)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('keeps a backend that is ahead of a received snapshot, and drops the snapshot', async () => {
    const layout = await freshLayout();
    const own = await MvccStore.open({ dir: layout.dbDir });
    own.put({ key: bytes('k'), value: bytes('own') }, 60);
    await own.commit();
    await own.close();
    const stale = join(layout.snapDir, snapDbName(40));
    await backendSnapshot(stale, 40, 'older');
    const { store } = await openStorage(layout, { memberId: 7n, clusterId: 9n }, log);
    try {
      expect(store.consistentIndex).toBe(60);
      expect(Buffer.from(store.range({ key: bytes('k') }).kvs[0]!.value).toString()).toBe('own');
      expect(existsSync(stale)).toBe(false);
    } finally {
      await store.close();
    }
  });
});
