// Backups in etcd's snapshot format, end to end with the real tools: `etcdctl snapshot save`
// from raftkv, `etcdctl snapshot status` and `raftkv snapshot status` on it, real etcd 3.4
// restored from raftkv's snapshot, raftkv restored from etcd's (and from etcd's live db file),
// and a three-member raftkv cluster restored from one snapshot.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect, etcdctl, putRequest, raftkvNodeArgs, removeDir, requireBinary, startCluster, startEtcd, startRaftkv, tempDir,
  type EtcdClient, type ServerProcess,
} from '@raftkv/testkit';

const run = promisify(execFile);
const work = tempDir('snapshot-e2e-');

interface Result { code: number; stdout: string; stderr: string }

async function cmd(file: string, args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 120_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
const raftkvCli = (args: string[]) => cmd(process.execPath, [...raftkvNodeArgs(), 'snapshot', ...args]);
const etcdctlLocal = (args: string[]) => cmd(requireBinary('etcdctl'), args);

const LEASE = 0x1234n;
const COMPACT_AT = 5;

/** The same history on any server: one revision per step, so revisions match between servers. */
async function workload(c: EtcdClient): Promise<number> {
  await c.leaseGrant(LEASE, 600n);
  const puts = (from: number, to: number, v: string) => Array.from({ length: to - from }, (_, j) => ({
    requestPut: putRequest({ key: Buffer.from(`k${String(from + j).padStart(3, '0')}`), value: Buffer.from(`${v}${from + j}`) }),
  }));
  for (let i = 0; i < 300; i += 100) await c.txn({ success: puts(i, i + 100, 'v') }); // revisions 2, 3, 4
  await c.txn({ success: puts(0, 50, 'again') }); // 5
  await c.put({ key: Buffer.from('l1'), value: Buffer.from('leased'), lease: LEASE }); // 6
  await c.put({ key: Buffer.from('l2'), value: Buffer.from('leased'), lease: LEASE }); // 7
  await c.deleteRange({ key: Buffer.from('k100'), rangeEnd: Buffer.from('k150') }); // 8
  await c.put({ key: Buffer.from('big'), value: Buffer.alloc(40_000, 'b') }); // 9: overflow pages
  await c.compact({ revision: BigInt(COMPACT_AT), physical: true });
  await c.put({ key: Buffer.from('k000'), value: Buffer.from('last') }); // 10
  return 10;
}

/** What a client sees: every key at every revision from the compaction on, the leases and their keys. */
async function observe(endpoint: string, revision: number): Promise<unknown> {
  const c = connect(endpoint);
  try {
    const reads: unknown[] = [];
    for (let r = COMPACT_AT; r <= revision; r++) {
      const res = await c.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), revision: BigInt(r) });
      reads.push(res.kvs.map((kv) => ({ ...kv, key: kv.key.toString(), value: kv.value.toString('hex').slice(0, 64) })));
    }
    const compacted = await c.range({ key: Buffer.from('k000'), revision: BigInt(COMPACT_AT - 1) }).then(() => 'served', (e: Error) => e.message);
    const leases = (await c.leaseLeases()).leases.map((l) => l.ID);
    const ttl = await c.leaseTimeToLive(LEASE, true);
    return { reads, compacted, leases, grantedTtl: ttl.grantedTTL, leaseKeys: ttl.keys.map((k) => k.toString()).sort() }; // etcd lists them in map order
  } finally {
    c.close();
  }
}

/** A put on a restored member gets the revision after the snapshot's: it takes writes on top. */
async function expectWritesOnTop(endpoint: string, revision: number): Promise<void> {
  const c = connect(endpoint);
  try {
    expect((await c.put({ key: Buffer.from('after'), value: Buffer.from('restore') })).header?.revision).toBe(BigInt(revision + 1));
  } finally {
    c.close();
  }
}

let raftkv: ServerProcess;
let etcd: ServerProcess;
let revision = 0;
let raftkvSnap = '';
let etcdSnap = '';
let want: unknown;
const extra: ServerProcess[] = [];

beforeAll(async () => {
  [raftkv, etcd] = await Promise.all([startRaftkv(), startEtcd()]);
  for (const s of [raftkv, etcd]) {
    const c = connect(s.endpoint);
    try {
      revision = await workload(c);
    } finally {
      c.close();
    }
  }
  want = await observe(etcd.endpoint, revision);
  raftkvSnap = join(work, 'raftkv.db');
  etcdSnap = join(work, 'etcd.db');
  const saved = await etcdctl(raftkv.endpoint, ['snapshot', 'save', raftkvSnap]);
  expect(saved.code, saved.stderr).toBe(0);
  expect((await etcdctl(etcd.endpoint, ['snapshot', 'save', etcdSnap])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const s of [raftkv, etcd, ...extra]) {
    if (!s) continue;
    await s.stop();
    removeDir(s.dataDir);
  }
  removeDir(work);
});

describe('etcdctl snapshot save from raftkv', () => {
  it('the two servers hold the same history (the reference for the rest)', async () => {
    expect(await observe(raftkv.endpoint, revision)).toEqual(want);
  });

  it('etcdctl snapshot status reads it (bbolt check passes) with the revision and key count etcd\'s snapshot has', async () => {
    const ours = JSON.parse((await etcdctlLocal(['snapshot', 'status', raftkvSnap, '-w', 'json'])).stdout) as Record<string, number>;
    const theirs = JSON.parse((await etcdctlLocal(['snapshot', 'status', etcdSnap, '-w', 'json'])).stdout) as Record<string, number>;
    expect(ours.revision).toBe(revision);
    expect(ours.revision).toBe(theirs.revision);
    // Same buckets and entries: key space, meta, one lease, one member, cluster, auth.
    expect(ours.totalKey).toBe(theirs.totalKey);
  });

  it('raftkv snapshot status prints what etcdctl prints, in each format, for both files', async () => {
    for (const file of [raftkvSnap, etcdSnap]) {
      for (const w of ['simple', 'table', 'json']) {
        const a = await raftkvCli(['status', file, '-w', w]);
        const b = await etcdctlLocal(['snapshot', 'status', file, '-w', w]);
        expect(a.code, a.stderr).toBe(0);
        expect(a.stdout).toBe(b.stdout);
      }
    }
  });
});

describe('a save while writes go on', () => {
  it('is one point in time: etcd restored from it holds exactly raftkv\'s keys at the snapshot\'s revision', async () => {
    const c = connect(raftkv.endpoint);
    const file = join(work, 'during-writes.db');
    let writing = true;
    let acknowledged = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await c.txn({ success: [{ requestPut: putRequest({ key: Buffer.from(`w${i % 50}`), value: Buffer.from(`${i}`) }) }, { requestPut: putRequest({ key: Buffer.from(`x${i % 50}`), value: Buffer.from(`${i}`) }) }] });
        acknowledged++;
      }
    })();
    try {
      const saved = await etcdctl(raftkv.endpoint, ['snapshot', 'save', file]);
      expect(saved.code, saved.stderr).toBe(0);
    } finally {
      writing = false;
      await writer;
    }
    const at = (JSON.parse((await etcdctlLocal(['snapshot', 'status', file, '-w', 'json'])).stdout) as { revision: number }).revision;
    expect(at).toBeGreaterThanOrEqual(revision);
    const dataDir = join(work, 'etcd-during-writes');
    expect((await etcdctlLocal(['snapshot', 'restore', file, '--data-dir', dataDir])).code).toBe(0);
    const restored = await startEtcd({ dataDir });
    extra.push(restored);
    const e = connect(restored.endpoint);
    try {
      const all = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
      const theirs = await e.range(all);
      expect(Number(theirs.header!.revision)).toBe(at);
      const ours = await c.range({ ...all, revision: BigInt(at) });
      expect(theirs.kvs).toEqual(ours.kvs);
      // Writes went on after the snapshot's revision (they were not held for the save).
      expect(Number((await c.range(all)).header!.revision)).toBeGreaterThanOrEqual(at);
    } finally {
      e.close();
      c.close();
    }
    expect(acknowledged).toBeGreaterThan(0);
  });
});

describe('raftkv → etcd', () => {
  it('etcdctl snapshot restore + etcd serve the same keys, history, compaction and leases', async () => {
    const dataDir = join(work, 'etcd-from-raftkv');
    const r = await etcdctlLocal(['snapshot', 'restore', raftkvSnap, '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const restored = await startEtcd({ dataDir });
    extra.push(restored);
    expect(await observe(restored.endpoint, revision)).toEqual(want);
  });
});

describe('etcd → raftkv', () => {
  it('raftkv snapshot restore + raftkv serve the same keys, history, compaction and leases', async () => {
    const dataDir = join(work, 'raftkv-from-etcd');
    const r = await raftkvCli(['restore', etcdSnap, '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`revision ${revision}, compacted at ${COMPACT_AT}`);
    const restored = await startRaftkv({ dataDir });
    extra.push(restored);
    expect(await observe(restored.endpoint, revision)).toEqual(want);
    await expectWritesOnTop(restored.endpoint, revision);
  });

  it('restores etcd\'s live db file (member/snap/db) with --skip-hash-check, and refuses it without', async () => {
    const stopped = await startEtcd();
    extra.push(stopped);
    const c = connect(stopped.endpoint);
    try {
      await workload(c);
    } finally {
      c.close();
    }
    await stopped.stop();
    const db = join(stopped.dataDir, 'member', 'snap', 'db');
    const refused = await raftkvCli(['restore', db, '--data-dir', join(work, 'no')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('snapshot missing hash but --skip-hash-check=false');
    const dataDir = join(work, 'raftkv-from-etcd-db');
    const r = await raftkvCli(['restore', db, '--data-dir', dataDir, '--skip-hash-check']);
    expect(r.code, r.stderr).toBe(0);
    const restored = await startRaftkv({ dataDir });
    extra.push(restored);
    expect(await observe(restored.endpoint, revision)).toEqual(want);
  });

  it('--wal-dir as etcdctl 3.4\'s: refused when it exists, else created; the member started with it serves the data and keeps its WAL there', async () => {
    const walDir = join(work, 'separate-wal');
    const dataDir = join(work, 'raftkv-wal-dir');
    const refused = await raftkvCli(['restore', etcdSnap, '--data-dir', join(work, 'wal-refused'), '--wal-dir', work]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`wal-dir "${work}" exists`);
    const ref = await etcdctlLocal(['snapshot', 'restore', etcdSnap, '--data-dir', join(work, 'etcd-wal-refused'), '--wal-dir', work]);
    expect(ref.stderr).toContain(`wal-dir "${work}" exists`);
    expect(existsSync(join(work, 'wal-refused'))).toBe(false);

    const r = await raftkvCli(['restore', etcdSnap, '--data-dir', dataDir, '--wal-dir', walDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(walDir)).toEqual([]);
    const restored = await startRaftkv({ dataDir, args: ['--wal-dir', walDir] });
    extra.push(restored);
    expect(await observe(restored.endpoint, revision)).toEqual(want);
    await expectWritesOnTop(restored.endpoint, revision);
    // The WAL is in --wal-dir, none under the data dir.
    expect(readdirSync(walDir).some((n) => n.endsWith('.wal'))).toBe(true);
    expect(existsSync(join(dataDir, 'member', 'wal'))).toBe(false);
  });

  it('a restored data dir whose first start has other flags than the restore is refused, naming them', async () => {
    const dataDir = join(work, 'restored-solo');
    const r = await raftkvCli(['restore', etcdSnap, '--data-dir', dataDir, '--name', 'solo',
      '--initial-cluster', 'solo=http://127.0.0.1:1', '--initial-advertise-peer-urls', 'http://127.0.0.1:1']);
    expect(r.code, r.stderr).toBe(0);
    // startRaftkv names the member "default" on its own peer URL.
    await expect(startRaftkv({ dataDir })).rejects.toThrow(/was restored from a snapshot for member solo \([0-9a-f]+\) of cluster [0-9a-f]+; these flags make member/);
  });

  it('refuses a damaged snapshot, an existing data dir and bad flags, writing nothing', async () => {
    const bad = join(work, 'damaged.db');
    const bytes = readFileSync(etcdSnap);
    bytes[5000] = bytes[5000]! ^ 0xff;
    writeFileSync(bad, bytes);
    const damaged = await raftkvCli(['restore', bad, '--data-dir', join(work, 'd1')]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
    // The hash is checked beside the import: what it wrote is gone.
    expect(existsSync(join(work, 'd1'))).toBe(false);
    const exists = await raftkvCli(['restore', etcdSnap, '--data-dir', work]);
    expect(exists.stderr).toContain(`data-dir "${work}" exists`);
    const flags = await raftkvCli(['restore', etcdSnap, '--data-dir', join(work, 'd2'), '--name', 'x', '--initial-cluster', 'y=http://127.0.0.1:1']);
    expect(flags.code).toBe(1);
    const status = await raftkvCli(['status', join(work, 'nonexistent')]);
    expect(status.code).toBe(1);
    writeFileSync(join(work, 'garbage.db'), Buffer.alloc(8192, 7));
    expect((await raftkvCli(['status', join(work, 'garbage.db')])).stderr).toContain('bbolt: no valid meta page');
  });
});

describe('a restored three-member raftkv cluster', () => {
  it('every member serves the snapshot\'s data; HashKV is equal across members', async () => {
    const cluster = await startCluster('raftkv', {
      size: 3,
      prepare: async (m) => {
        removeDir(m.dataDir);
        const r = await raftkvCli(['restore', raftkvSnap, '--data-dir', m.dataDir, '--name', m.name,
          '--initial-cluster', m.initialCluster, '--initial-cluster-token', m.token, '--initial-advertise-peer-urls', m.peerUrl]);
        if (r.code !== 0) throw new Error(r.stderr);
      },
    });
    try {
      const hashes: unknown[] = [];
      for (const m of cluster.members) {
        expect(await observe(m.endpoint, revision)).toEqual(want);
        const c = connect(m.endpoint);
        try {
          hashes.push((await c.hashKV(BigInt(revision))).hash);
        } finally {
          c.close();
        }
      }
      expect(new Set(hashes).size).toBe(1);
      expect((await etcdctl(cluster.members[0]!.endpoint, ['member', 'list'])).stdout.trim().split('\n')).toHaveLength(3);
    } finally {
      await cluster.close();
    }
  });
});

describe('auth in snapshots', () => {
  /** Users, roles and permissions, then auth on: the same on both servers. */
  async function setUpAuth(endpoint: string): Promise<void> {
    for (const args of [
      ['user', 'add', 'root:rootpw'], ['role', 'add', 'r1'], ['role', 'grant-permission', 'r1', 'readwrite', 'k', 'l'],
      ['user', 'add', 'u1:u1pw'], ['user', 'grant-role', 'u1', 'r1'], ['auth', 'enable'],
    ]) {
      const r = await etcdctl(endpoint, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  }
  const asRoot = ['--user', 'root:rootpw'];
  async function authView(endpoint: string): Promise<string[]> {
    const out: string[] = [];
    for (const args of [['user', 'list'], ['role', 'list'], ['user', 'get', 'u1'], ['role', 'get', 'r1'], ['auth', 'status']]) {
      const r = await etcdctl(endpoint, [...asRoot, ...args]);
      out.push(r.stdout + r.stderr);
    }
    // u1's password came along (bcrypt hash): it can read its key range.
    out.push((await etcdctl(endpoint, ['--user', 'u1:u1pw', 'get', 'k000', '--print-value-only'])).stdout);
    return out;
  }

  it('users, roles, permissions and the enabled flag travel both ways; snapshot save needs root', async () => {
    const [r, e] = await Promise.all([startRaftkv(), startEtcd()]);
    extra.push(r, e);
    for (const s of [r, e]) {
      const c = connect(s.endpoint);
      try {
        await workload(c);
      } finally {
        c.close();
      }
      await setUpAuth(s.endpoint);
    }
    const reference = await authView(e.endpoint);
    expect(await authView(r.endpoint)).toEqual(reference);
    for (const s of [r, e]) {
      const denied = await etcdctl(s.endpoint, ['--user', 'u1:u1pw', 'snapshot', 'save', join(work, 'denied.db')]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain('permission denied');
    }
    const fromRaftkv = join(work, 'auth-raftkv.db');
    const fromEtcd = join(work, 'auth-etcd.db');
    expect((await etcdctl(r.endpoint, [...asRoot, 'snapshot', 'save', fromRaftkv])).code).toBe(0);
    expect((await etcdctl(e.endpoint, [...asRoot, 'snapshot', 'save', fromEtcd])).code).toBe(0);

    const etcdDir = join(work, 'etcd-auth-from-raftkv');
    expect((await etcdctlLocal(['snapshot', 'restore', fromRaftkv, '--data-dir', etcdDir])).code).toBe(0);
    const raftkvDir = join(work, 'raftkv-auth-from-etcd');
    const restoredRaftkv = await raftkvCli(['restore', fromEtcd, '--data-dir', raftkvDir]);
    expect(restoredRaftkv.code, restoredRaftkv.stderr).toBe(0);
    const [etcd2, raftkv2] = await Promise.all([startEtcd({ dataDir: etcdDir }), startRaftkv({ dataDir: raftkvDir })]);
    extra.push(etcd2, raftkv2);
    expect(await authView(etcd2.endpoint)).toEqual(reference);
    expect(await authView(raftkv2.endpoint)).toEqual(reference);
  });
});
