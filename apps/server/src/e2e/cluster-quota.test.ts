// NOSPACE on a 3-member raftkv cluster: one member over its quota raises the alarm through the
// log and every member refuses writes; deletes, compaction and disarm through another member
// recover the whole cluster. Auto compaction (revision mode) runs on the leader only.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, etcdctl, outcome, startCluster, type Cluster, type ClusterMember } from '@raftkv/testkit';

const QUOTA_BYTES = 16 * 1024 * 1024;
const VALUE = randomBytes(100_000);
const DEADLINE_MS = 60_000;
const NOSPACE = 'Error: etcdserver: mvcc: database space exceeded';

async function ctl(m: ClusterMember, args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await etcdctl(m.endpoint, args);
  const err = r.stderr.split('\n').filter((l) => l.startsWith('Error:')).join('\n');
  return { code: r.code, out: r.stdout + err };
}

async function status(m: ClusterMember): Promise<{ memberId: string; revision: number; dbSizeInUse: number }> {
  const out = (await etcdctl(m.endpoint, ['endpoint', 'status', '-w', 'json'])).stdout;
  return {
    memberId: /"member_id":(\d+)/.exec(out)![1]!,
    revision: Number(/"revision":(\d+)/.exec(out)![1]),
    dbSizeInUse: Number(/"dbSizeInUse":(\d+)/.exec(out)![1]),
  };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('NOSPACE and auto compaction on a 3-member cluster', () => {
  let cluster: Cluster | undefined;
  let leader: ClusterMember;
  let a: ClusterMember;
  let b: ClusterMember;
  beforeAll(async () => {
    cluster = await startCluster('raftkv', {
      size: 3,
      args: ['--quota-backend-bytes', String(QUOTA_BYTES), '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10'],
      env: { RAFTKV_AUTO_COMPACTION_REVISION_INTERVAL_MS: '300' },
    });
    leader = await cluster.waitForLeader();
    [a, b] = cluster.members.filter((m) => m !== leader) as [ClusterMember, ClusterMember];
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('a follower over its quota raises NOSPACE for the whole cluster', async () => {
    const c = connect(a.endpoint);
    let failure: unknown;
    try {
      for (let i = 0; i < 400 && failure === undefined; i++) {
        const r = await outcome(c.put({ key: Buffer.from(`k/${String(i).padStart(4, '0')}`), value: VALUE }));
        if ('error' in r) failure = r.error;
      }
    } finally {
      c.close();
    }
    expect(failure).toEqual({ code: 8, details: 'etcdserver: mvcc: database space exceeded' });
    const id = (await status(a)).memberId;
    for (const m of cluster!.members) {
      expect(await ctl(m, ['alarm', 'list']), m.name).toEqual({ code: 0, out: `memberID:${id} alarm:NOSPACE \n` });
    }
    // Every member refuses writes (the others hold the same data, so a put there may also raise
    // that member's own NOSPACE, as in etcd).
    for (const m of cluster!.members) expect(await ctl(m, ['put', 'x', 'y']), m.name).toEqual({ code: 1, out: NOSPACE });
    const lists = await Promise.all(cluster!.members.map(async (m) => (await ctl(m, ['alarm', 'list'])).out));
    expect(new Set(lists).size).toBe(1);
  }, 120_000);

  it('auto compaction ran on the leader only, and its compactions reached every member', async () => {
    const completed = (m: ClusterMember) => m.output().split('\n').filter((l) => l.includes('"completed auto revision compaction"'));
    expect(completed(leader).length).toBeGreaterThan(0);
    for (const m of [a, b]) expect(m.output(), m.name).not.toMatch(/starting auto revision compaction/);
    for (const m of cluster!.members) {
      const r = await etcdctl(m.endpoint, ['get', 'k/0000', '--rev=2', '--consistency=s']);
      expect(r.stderr, m.name).toMatch(/required revision has been compacted/);
    }
  });

  it('deletes, compaction and disarm through another member restore writes everywhere', async () => {
    expect(await ctl(b, ['del', 'k/', '--prefix'])).toMatchObject({ code: 0 });
    const rev = (await status(b)).revision;
    expect(await ctl(b, ['compact', String(rev), '--physical'])).toEqual({ code: 0, out: `compacted revision ${rev}\n` });
    // Each member frees its pages when it applies the compaction: wait for the one that raised it.
    await until('the pages freed on the member that raised the alarm', async () => (await status(a)).dbSizeInUse < QUOTA_BYTES / 2);
    // `alarm disarm` clears every alarm it lists.
    const raised = (await ctl(b, ['alarm', 'list'])).out;
    expect(raised).toContain(`memberID:${(await status(a)).memberId} alarm:NOSPACE \n`);
    expect(await ctl(b, ['alarm', 'disarm'])).toEqual({ code: 0, out: raised });
    for (const m of cluster!.members) {
      expect(await ctl(m, ['put', `after/${m.name}`, 'y']), m.name).toEqual({ code: 0, out: 'OK\n' });
      expect(await ctl(m, ['alarm', 'list']), m.name).toEqual({ code: 0, out: '' });
    }
    expect(leader.output()).toMatch(/"msg":"alarm disarmed","alarm":"NOSPACE"/);
  }, 120_000);
});
