// Disaster recovery with --force-new-cluster, on raftkv and on the reference etcd 3.4 with the
// same steps and the same expectations: a 3-member cluster loses 2 members for good; the
// survivor restarts with --force-new-cluster as a one-member cluster with every key, lease and
// revision, accepts writes, and a new member joins it and catches up; a lost member that
// returns is refused, and the survivor restarted without the flag stays in the grown cluster.
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl, startCluster, type Cluster, type ClusterMember, type ServerKind } from '@raftkv/testkit';

const KEYS = 40;
const DEADLINE_MS = 60_000;

async function ctl(m: ClusterMember, args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await etcdctl(m.endpoint, args);
  const err = r.stderr.split('\n').filter((l) => l.startsWith('Error:')).join('\n');
  return { code: r.code, out: r.stdout + err };
}

async function revision(m: ClusterMember): Promise<number> {
  const out = (await etcdctl(m.endpoint, ['endpoint', 'status', '-w', 'json'])).stdout;
  return Number(/"revision":(\d+)/.exec(out)?.[1] ?? NaN);
}

async function raftIndex(m: ClusterMember): Promise<number> {
  const out = (await etcdctl(m.endpoint, ['endpoint', 'status', '-w', 'json'])).stdout;
  return Number(/"raftIndex":(\d+)/.exec(out)?.[1] ?? NaN);
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `member list` as (name, peer URL, is learner) rows, sorted: IDs differ between the servers. */
async function members(m: ClusterMember): Promise<string[]> {
  const out = (await ctl(m, ['member', 'list'])).out;
  return out.trim().split('\n').map((l) => l.split(', ')).map((f) => `${f[2]} ${f[3]} ${f[5]}`).sort();
}

const clusters: Cluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.close();
});

describe.each<ServerKind>(['raftkv', 'etcd'])('--force-new-cluster on %s', (kind) => {
  it('a lone survivor restarts as a one-member cluster with its data, takes writes, and grows again with member add', async () => {
    // Snapshots every 10 entries: the configuration the survivor restarts from is in a snapshot file and the WAL after it.
    const cluster = await startCluster(kind, { size: 3, snapshotCount: 10 });
    clusters.push(cluster);
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < KEYS; i++) expect((await ctl(leader, ['put', `k${String(i).padStart(2, '0')}`, `v${i}`])).code).toBe(0);
    const lease = /lease ([0-9a-f]+) granted/.exec((await ctl(leader, ['lease', 'grant', '600'])).out)?.[1];
    expect(lease).toBeDefined();
    expect((await ctl(leader, ['put', 'leased', 'x', `--lease=${lease}`])).code).toBe(0);
    const before = await revision(leader);
    await until('every member at the same revision', async () => (await Promise.all(cluster.members.map(revision))).every((r) => r === before));
    // One more log entry that changes no key or revision (a lease grant): a follower writes the
    // commit index it has learned with the entries it appends next, and etcd's forced restart
    // discards every entry past the commit index its WAL holds. Once the survivor has appended
    // this entry, the put above is committed in its WAL, on both servers.
    expect((await ctl(leader, ['lease', 'grant', '600'])).code).toBe(0);
    const leaderIndex = await raftIndex(leader);
    await until('every member appended the lease grant', async () => (await Promise.all(cluster.members.map(raftIndex))).every((i) => i >= leaderIndex));

    // Two members are lost for good; the survivor, a follower that had everything, crashes too.
    // (raftkv's backend commits within 100 ms of an apply; a HashKV commits it at once, so what
    // it applied is durable before the kill whatever the machine's load.)
    const survivor = cluster.members.find((m) => m !== leader)!;
    for (const m of cluster.members) if (m !== survivor) await m.kill();
    expect((await ctl(survivor, ['endpoint', 'hashkv'])).code).toBe(0);
    await survivor.kill();
    await survivor.restart({ extraArgs: ['--force-new-cluster'] });
    await cluster.waitForLeader();
    if (kind === 'raftkv') expect(survivor.output()).toMatch(/"msg":"forcing restart member"/);

    expect(await members(survivor)).toEqual([`${survivor.name} ${survivor.peerUrl} false`]);
    // Same keys, same revision, the lease and its key.
    expect(await revision(survivor)).toBe(before);
    const keys = (await ctl(survivor, ['get', 'k', '--prefix', '--keys-only'])).out.split('\n').filter((l) => l !== '');
    expect(keys).toEqual(Array.from({ length: KEYS }, (_, i) => `k${String(i).padStart(2, '0')}`));
    expect((await ctl(survivor, ['get', 'k07', '--print-value-only'])).out).toBe('v7\n');
    expect((await ctl(survivor, ['lease', 'timetolive', lease!, '--keys'])).out).toMatch(new RegExp(`lease ${lease} granted with TTL\\(600s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)`));

    // Writes commit on the one-member cluster.
    expect((await ctl(survivor, ['put', 'after', 'force'])).code).toBe(0);
    expect(await revision(survivor)).toBe(before + 1);

    // It grows again: a new member joins and receives everything.
    const joined = await cluster.addMember();
    await cluster.waitForLeader();
    expect(await members(survivor)).toEqual([`${joined.name} ${joined.peerUrl} false`, `${survivor.name} ${survivor.peerUrl} false`].sort());
    expect((await ctl(joined, ['put', 'via-new-member', 'y'])).code).toBe(0);
    await until('the new member caught up', async () => (await revision(joined)) === before + 2);
    expect((await ctl(joined, ['get', 'k39', '--print-value-only', '--consistency=s'])).out).toBe('v39\n');
    expect((await ctl(joined, ['get', 'after', '--print-value-only', '--consistency=s'])).out).toBe('force\n');

    // A lost member that comes back with its old data is told it was removed, and stops.
    const lost = cluster.members.find((m) => m !== survivor && m !== joined)!;
    await expect(lost.restart()).rejects.toThrow();
    expect(lost.pid).toBeUndefined();
    expect(lost.output()).toMatch(kind === 'raftkv' ? /this member was removed from the cluster/ : /the member has been permanently removed from the cluster/);
    expect(await members(survivor)).toHaveLength(2);

    // The survivor restarted without the flag stays in the two-member cluster with its data.
    await survivor.stop();
    await survivor.restart();
    await cluster.waitForLeader();
    expect(await members(survivor)).toEqual([`${joined.name} ${joined.peerUrl} false`, `${survivor.name} ${survivor.peerUrl} false`].sort());
    expect((await ctl(survivor, ['get', 'via-new-member', '--print-value-only'])).out).toBe('y\n');
    expect(await revision(survivor)).toBe(before + 2);
  }, 180_000);
});
