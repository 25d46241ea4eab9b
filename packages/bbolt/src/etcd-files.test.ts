// Files from real etcd 3.4 read here, and files written here read by etcd's own bbolt
// (etcdctl snapshot status runs bbolt's consistency check; restore + etcd serves them).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, etcdctl, removeDir, requireBinary, startEtcd, tempDir } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoltReader, BoltWriter } from './index.js';

const work = tempDir('bbolt-etcd-');
afterAll(() => removeDir(work));

function etcdctlLocal(args: string[]): string {
  return execFileSync(requireBinary('etcdctl'), args, { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Status { hash: number; revision: number; totalKey: number; totalSize: number }
const status = (file: string): Status => JSON.parse(etcdctlLocal(['snapshot', 'status', file, '-w', 'json'])) as Status;

/** Copies every bucket of `from` through BoltWriter and adds etcd's sha256 trailer. */
async function rewrite(from: string, to: string, pageSize = 4096): Promise<void> {
  const r = BoltReader.open(from);
  const w = await BoltWriter.create(to, { pageSize });
  const copy = async (b: ReturnType<BoltReader['root']>): Promise<void> => {
    for (const e of b.entries()) {
      if (e.bucket) { w.beginBucket(e.key); await copy(b.child(e)); w.endBucket(); } else w.put(e.key, e.value);
      if (w.needsDrain) await w.drain();
    }
  };
  await copy(r.root());
  r.close();
  await w.finish();
  appendFileSync(to, createHash('sha256').update(readFileSync(to)).digest());
}

let snap = '';
let keysOut = '';
let leasesOut = '';

beforeAll(async () => {
  const etcd = await startEtcd();
  try {
    const ep = etcd.endpoint;
    const lease = (await etcdctl(ep, ['lease', 'grant', '600'])).stdout.split(' ')[1]!;
    await etcdctl(ep, ['put', '--lease', lease, 'leased', 'x']);
    // Enough keys for branch pages, values big enough for overflow pages, a tombstone, a compaction.
    const c = connect(ep);
    try {
      for (let i = 0; i < 3000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => c.put({ key: Buffer.from(`k${String(i + j).padStart(5, '0')}`), value: Buffer.from(`v${i + j}`) })));
      }
    } finally {
      c.close();
    }
    await etcdctl(ep, ['put', 'big', 'B'.repeat(30_000)]);
    await etcdctl(ep, ['del', 'k00001']);
    await etcdctl(ep, ['compact', '3']);
    snap = join(work, 'etcd.db');
    const saved = await etcdctl(ep, ['snapshot', 'save', snap]);
    expect(saved.code, saved.stderr).toBe(0);
    keysOut = (await etcdctl(ep, ['get', '', '--prefix', '-w', 'json'])).stdout;
    leasesOut = (await etcdctl(ep, ['lease', 'list'])).stdout;
  } finally {
    await etcd.stop();
    removeDir(etcd.dataDir);
  }
});

describe('files written by etcd 3.4', () => {
  it('reads every bucket and key; counts, revision and size agree with etcdctl snapshot status', () => {
    const st = status(snap);
    const r = BoltReader.open(snap);
    try {
      const names = [...r.root().entries()].map((e) => e.key.toString());
      expect(names).toEqual(['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta']);
      let total = 0;
      let lastRev = 0;
      for (const b of r.root().entries()) {
        for (const e of r.root().child(b).entries()) {
          total++;
          if (b.key.toString() === 'key') lastRev = Number(e.key.readBigUInt64BE(0));
        }
      }
      expect(total).toBe(st.totalKey);
      expect(lastRev).toBe(st.revision);
      expect(r.size).toBe(st.totalSize);
      expect(r.bucket('cluster')!.get('clusterVersion')?.toString()).toBe('3.4.0');
      expect(r.bucket('key')!.count()).toBeGreaterThan(3000);
    } finally {
      r.close();
    }
  });
});

describe('files written here, read by etcd', () => {
  it.each([4096, 1024])('etcdctl snapshot status gives the same hash, revision and key count (page size %i)', async (pageSize) => {
    const ours = join(work, `ours-${pageSize}.db`);
    await rewrite(snap, ours, pageSize);
    const a = status(snap);
    const b = status(ours);
    expect({ ...b, totalSize: 0 }).toEqual({ ...a, totalSize: 0 });
  });

  it('etcdctl snapshot restore + etcd serves the same keys, revisions and leases', async () => {
    const ours = join(work, 'ours-4096.db');
    const dataDir = join(work, 'restored');
    etcdctlLocal(['snapshot', 'restore', ours, '--data-dir', dataDir]);
    const etcd = await startEtcd({ dataDir });
    try {
      const norm = (s: string): unknown => {
        const j = JSON.parse(s) as { header: unknown; kvs: unknown };
        return j.kvs;
      };
      expect(norm((await etcdctl(etcd.endpoint, ['get', '', '--prefix', '-w', 'json'])).stdout)).toEqual(norm(keysOut));
      expect((await etcdctl(etcd.endpoint, ['lease', 'list'])).stdout).toBe(leasesOut);
      // The restored etcd writes on top of our pages (bbolt allocates, splits and frees them).
      for (let i = 0; i < 200; i++) await etcdctl(etcd.endpoint, ['put', `k${String(i).padStart(5, '0')}`, 'again'.repeat(200)]);
      expect((await etcdctl(etcd.endpoint, ['get', 'k00199', '--print-value-only'])).stdout.trim()).toBe('again'.repeat(200));
    } finally {
      await etcd.stop();
    }
    const after = join(work, 'after.db');
    const etcd2 = await startEtcd({ dataDir });
    try {
      expect((await etcdctl(etcd2.endpoint, ['snapshot', 'save', after])).code).toBe(0);
    } finally {
      await etcd2.stop();
    }
    // bbolt's consistency check passes on the file etcd wrote over ours.
    expect(status(after).totalKey).toBeGreaterThan(3000);
  });
});
