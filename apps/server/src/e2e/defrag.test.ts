// `etcdctl defrag` with the real binary beside real etcd 3.4: after a large key space is deleted
// and compacted, both print the same line and `endpoint status` shows DB SIZE drop; puts made
// while raftkv defragments are all there afterwards and after a restart.
import { credentials } from '@grpc/grpc-js';
import { MaintenanceClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, etcdctl, normaliseEtcdctl, removeDir, startCluster, startEtcd, startRaftkv, type Cluster, type ServerProcess } from '@raftkv/testkit';

const KEYS = 3000;
const VALUE = Buffer.alloc(4096, 'v');

interface Subject { label: 'raftkv' | 'etcd'; server: ServerProcess }

async function dbSize(endpoint: string): Promise<number> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  return Number(/"dbSize":(\d+)/.exec(r.stdout)![1]);
}

/** Polls `endpoint status` until dbSizeInUse < `bytes` (20 s at most). */
async function untilInUseBelow(endpoint: string, bytes: number): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    last = (await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json'])).stdout;
    if (Number(/"dbSizeInUse":(\d+)/.exec(last)?.[1] ?? Infinity) < bytes) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${endpoint}: pages in use never fell below ${bytes}: ${last}`);
}

async function ctl(endpoint: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await etcdctl(endpoint, args);
  return { code: r.code, stdout: normaliseEtcdctl(r.stdout, endpoint), stderr: normaliseEtcdctl(r.stderr, endpoint) };
}

function defragment(endpoint: string): Promise<etcdserverpb.DefragmentResponse> {
  const m = new MaintenanceClient(endpoint, credentials.createInsecure());
  return new Promise<etcdserverpb.DefragmentResponse>((resolve, reject) => m.defragment({}, (err, res) => (err ? reject(err) : resolve(res)))).finally(() => m.close());
}

describe('etcdctl defrag (raftkv beside etcd 3.4)', () => {
  const subjects: Subject[] = [];
  beforeAll(async () => {
    const [r, e] = await Promise.all([startRaftkv({}), startEtcd({})]);
    subjects.push({ label: 'raftkv', server: r }, { label: 'etcd', server: e });
  }, 60_000);
  afterAll(async () => {
    for (const s of subjects) {
      await s.server.stop();
      removeDir(s.server.dataDir);
    }
  });

  it('shrinks DB SIZE after compact + defrag of a deleted key space, with the same output; puts during it are kept', async () => {
    const sizes: Record<string, { full: number; compacted: number; defragmented: number }> = {};
    const outputs: Record<string, unknown> = {};
    for (const s of subjects) {
      const endpoint = s.server.endpoint;
      const c = connect(endpoint);
      try {
        for (let i = 0; i < KEYS; i += 100) {
          const success: etcdserverpb.RequestOp[] = [];
          for (let j = i; j < i + 100; j++) {
            success.push({ requestPut: { key: Buffer.from(`big/${j}`), value: VALUE, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
          }
          await c.txn({ success });
        }
        await c.deleteRange({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0') });
        const rev = (await c.put({ key: Buffer.from('kept'), value: Buffer.from('yes') })).header!.revision;
        const full = await dbSize(endpoint);
        const compaction = await ctl(endpoint, ['compaction', '--physical', String(rev)]);
        const compacted = await dbSize(endpoint);
        // Puts one after another for as long as the defrag runs (etcd blocks them meanwhile).
        let defragging = true;
        let written = 0;
        const writer = (async () => {
          while (defragging || written < 20) {
            await c.put({ key: Buffer.from(`during/${String(written).padStart(4, '0')}`), value: Buffer.from(String(written)) });
            written++;
          }
        })();
        const defrag = await ctl(endpoint, ['defrag']).finally(() => {
          defragging = false;
        });
        await writer;
        const defragmented = await dbSize(endpoint);
        const during = await c.range({ key: Buffer.from('during/'), rangeEnd: Buffer.from('during0'), countOnly: true });
        expect(Number(during.count), s.label).toBe(written);
        sizes[s.label] = { full, compacted, defragmented };
        outputs[s.label] = {
          compaction,
          defrag,
          kept: await ctl(endpoint, ['get', 'kept']),
          big: await ctl(endpoint, ['get', 'big/', '--prefix', '--count-only', '-w', 'json']).then((r) => r.stdout.replace(/"revision":\d+/, '"revision":R')),
          // A second defrag of a compact file: nothing to reclaim, the same answer.
          again: await ctl(endpoint, ['defrag']),
        };
      } finally {
        c.close();
      }
    }
    console.log('DB SIZE (bytes) full / compacted / defragmented:', JSON.stringify(sizes));
    expect(outputs['raftkv']).toEqual(outputs['etcd']);
    expect((outputs['raftkv'] as { defrag: { stdout: string } }).defrag.stdout).toBe('Finished defragmenting etcd member[ENDPOINT]\n');
    for (const [label, s] of Object.entries(sizes)) {
      // The key space was large (etcd commits its backend in batches, so its size read right after
      // the writes can lag what was written: half is the floor), and the defrag reclaimed it.
      expect(s.full, label).toBeGreaterThan((KEYS * VALUE.length) / 2);
      expect(s.defragmented, label).toBeLessThan(s.full / 4);
    }
  }, 180_000);

  it('answers Defragment as etcd does (no header); a restart serves the defragmented file', async () => {
    const answers: Record<string, unknown> = {};
    for (const s of subjects) answers[s.label] = await defragment(s.server.endpoint);
    expect(answers['raftkv']).toEqual(answers['etcd']);
    const r = subjects[0]!;
    const kept = await ctl(r.server.endpoint, ['get', 'during/', '--prefix', '--count-only', '-w', 'json']);
    await r.server.stop();
    r.server = await startRaftkv({ dataDir: r.server.dataDir });
    // Reopened on the compacted file (the member's start writes a few pages more).
    expect(await dbSize(r.server.endpoint)).toBeLessThan(KEYS * VALUE.length / 4);
    const after = await ctl(r.server.endpoint, ['get', 'during/', '--prefix', '--count-only', '-w', 'json']);
    const strip = (t: string) => t.replace(/"raft_term":\d+/, '');
    expect(strip(after.stdout)).toBe(strip(kept.stdout));
    expect(r.server.output()).not.toContain('"level":"error"');
  }, 60_000);
});

describe('etcdctl defrag --cluster on three members (raftkv beside etcd 3.4)', () => {
  const clusters: Cluster[] = [];
  beforeAll(async () => {
    clusters.push(await startCluster('raftkv', { size: 3 }), await startCluster('etcd', { size: 3 }));
    await Promise.all(clusters.map((c) => c.waitForLeader()));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(clusters.map((c) => c.close()));
  });

  it('defragments every member with the same output; sizes drop and HashKV stays equal across members', async () => {
    const outputs: unknown[] = [];
    for (const cluster of clusters) {
      const first = cluster.endpoints[0]!;
      const c = connect(first);
      try {
        for (let i = 0; i < 1000; i += 100) {
          const success: etcdserverpb.RequestOp[] = [];
          for (let j = i; j < i + 100; j++) {
            success.push({ requestPut: { key: Buffer.from(`big/${j}`), value: VALUE, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
          }
          await c.txn({ success });
        }
        await c.deleteRange({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0') });
        const rev = (await c.put({ key: Buffer.from('kept'), value: Buffer.from('yes') })).header!.revision;
        await etcdctl(first, ['compaction', '--physical', String(rev)]);
        const full = await Promise.all(cluster.endpoints.map(dbSize));
        // --physical waits for the member asked only: wait until every member freed the pages.
        for (const ep of cluster.endpoints) await untilInUseBelow(ep, 1024 * 1024);
        const defrag = await etcdctl(first, ['defrag', '--cluster']);
        const after = await Promise.all(cluster.endpoints.map(dbSize));
        for (let m = 0; m < full.length; m++) expect(after[m], `${cluster.kind} member ${m}`).toBeLessThan(full[m]! / 4);
        const hashes = await etcdctl(first, ['endpoint', 'hashkv', '--cluster', '-w', 'json']);
        const values = [...hashes.stdout.matchAll(/"hash":(\d+)/g)].map((x) => x[1]);
        expect(values.length).toBe(3);
        expect(new Set(values).size, hashes.stdout).toBe(1);
        let stdout = defrag.stdout;
        cluster.endpoints.forEach((ep, m) => {
          stdout = stdout.split(ep).join(`MEMBER${m}`);
        });
        outputs.push({ code: defrag.code, lines: stdout.split('\n').sort(), stderr: defrag.stderr });
      } finally {
        c.close();
      }
    }
    expect(outputs[0]).toEqual(outputs[1]);
  }, 180_000);
});
