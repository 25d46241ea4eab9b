// Fault scenarios on a 3-member cluster of real processes, each under a concurrent client
// workload: kill -9 of the leader and of a follower, a follower so far behind that it needs a
// snapshot, an isolated member, and a membership change (add one, remove another). After each
// round: every member converges to the same revision, raft index and HashKV, no acknowledged
// write is lost on any member, header revisions never went back, and the workload's history is
// linearizable.
//
// RAFTKV_FAULT_ROUNDS (default 2) repeats each scenario; a long run, e.g.
//   RAFTKV_FAULT_ROUNDS=25 npx vitest run src/e2e/cluster-faults.test.ts   (in apps/server)
// takes about 21 s per round of all five scenarios against etcd 3.4 on a 2-core machine (5
// rounds: 107 s), so 25 rounds take about 9 minutes; raftkv took about 40 s per round (4
// rounds: 160 s at 2fa9586; its members take 2-5 s from restart to ready under load).
// RAFTKV_FAULT_SEED (default 1) seeds the workload and the choice of victims.
// RAFTKV_FAULT_TLS_ROUNDS (default 1) runs every scenario again with peer mutual TLS.
import { toSafeNumber } from '@raftkv/api';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ClusterMember, type ClusterOptions, type ServerKind, clusterSubject } from '@raftkv/testkit';
import { Pki } from '../security/test-support/pki.js';
import { connect } from '@raftkv/testkit';
import { checkLinearizable } from '@raftkv/testkit';
import { etcdctl } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';
import {
  findLostWrites, memberStatus, waitForConvergence, Workload, type AcknowledgedWrite, type MemberState,
} from '@raftkv/testkit';

const SUBJECT: ServerKind = clusterSubject();
const ROUNDS = Number(process.env['RAFTKV_FAULT_ROUNDS'] ?? 2);
const SEED = Number(process.env['RAFTKV_FAULT_SEED'] ?? 1);
/** Heartbeat and election timeout of every cluster here (the harness's defaults, stated). */
const HEARTBEAT_MS = 50;
const ELECTION_MS = 500;
/** A generous bound on electing a new leader after the old one died: 20 election timeouts. */
const FAILOVER_LIMIT_MS = 10_000;
/**
 * Snapshot scenario: the snapshot count, and how many entries a stopped follower misses. etcd
 * 3.4 keeps 5,000 entries behind each snapshot for slow followers (not configurable), so a
 * follower only needs a snapshot once it is more than 5,000 + snapshot-count entries behind.
 */
const SNAPSHOT_COUNT = 100;
/** What a follower logs when the leader sends it a snapshot (etcd: rafthttp's and etcdserver's lines). */
const SNAPSHOT_RECEIVED: Record<ServerKind, RegExp> = {
  raftkv: /receiving a snapshot|restoring the backend from the leader's snapshot/,
  etcd: /received and saved database snapshot|applying snapshot/,
};
const SNAPSHOT_CATCHUP_WRITES = Number(process.env['RAFTKV_SNAPSHOT_CATCHUP_WRITES'] ?? 5_000 + 4 * SNAPSHOT_COUNT);
/** Rounds of the same scenarios with peer mutual TLS (every peer URL https, client certificates required). */
const PEER_TLS_ROUNDS = Number(process.env['RAFTKV_FAULT_TLS_ROUNDS'] ?? 1);
/** The workload's per-request deadline (its default, stated because the partition checks use it). */
const OP_DEADLINE_MS = 2000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const live = (c: Cluster): ClusterMember[] => c.members.filter((m) => m.pid !== undefined);

let cluster: Cluster | undefined;
let workload: Workload | undefined;
afterEach(async () => {
  try {
    await workload?.stop();
  } finally {
    workload = undefined;
    await cluster?.close();
    cluster = undefined;
  }
});

/**
 * The member that the live members agree leads (it reports itself as leader), other than
 * `notId`; polls every 25 ms. Returns it with the time it took.
 */
async function waitForNewLeader(c: Cluster, notId: bigint | undefined, limitMs: number): Promise<{ leader: ClusterMember; id: bigint; ms: number }> {
  const start = performance.now();
  for (;;) {
    for (const m of live(c)) {
      try {
        const s = await memberStatus(m.endpoint, 300);
        if (s.leader !== 0n && s.leader === s.header!.memberId && s.leader !== notId) {
          return { leader: m, id: s.leader, ms: performance.now() - start };
        }
      } catch {
        // down or busy: ask the next one
      }
    }
    if (performance.now() - start > limitMs) throw new Error(`no new leader in ${limitMs} ms`);
    await sleep(25);
  }
}

/** `attempt()`, again every 200 ms while it throws, for up to `limitMs`; then its last error. */
async function retrying<T>(what: string, attempt: () => Promise<T>, limitMs = 15_000): Promise<T> {
  const start = performance.now();
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (performance.now() - start > limitMs) throw new Error(`${what}: still failing after ${limitMs} ms: ${(err as Error).message}`);
      await sleep(200);
    }
  }
}

/** The member list as `m` sees it, once it no longer changes within 200 ms. */
async function memberNames(m: ClusterMember): Promise<string[]> {
  const client = connect(m.endpoint);
  try {
    let previous = '';
    for (let i = 0; i < 50; i++) {
      const names = (await retrying('member list', () => client.memberList())).members.map((x) => x.name).sort();
      if (names.join() === previous) return names;
      previous = names.join();
      await sleep(200);
    }
    throw new Error(`the member list of ${m.name} keeps changing: ${previous}`);
  } finally {
    client.close();
  }
}

async function memberId(m: ClusterMember): Promise<bigint> {
  return (await memberStatus(m.endpoint, 2000)).header!.memberId;
}

/**
 * The checks every round ends with, on the members in `members` (the workload is stopped
 * first): converged with equal hashes, no acknowledged write lost on any of them, no revision
 * went back, the history is linearizable. Prints the figures.
 */
async function checkRound(label: string, w: Workload, members: readonly ClusterMember[]): Promise<MemberState[]> {
  const stats = await w.stop();
  const states = await waitForConvergence(members.map((m) => m.endpoint), { timeoutMs: 30_000 });
  expect(new Set(states.map((s) => s.hash)).size, `HashKV of ${JSON.stringify(states)}`).toBe(1);
  const acked = w.acknowledged;
  for (const m of members) {
    expect(await findLostWrites(m.endpoint, acked), `acknowledged writes lost on ${m.name}`).toEqual([]);
  }
  expect(w.revisionRegressions()).toEqual([]);
  const t0 = performance.now();
  const verdict = checkLinearizable(w.history());
  const checkMs = performance.now() - t0;
  expect(verdict.ok, verdict.ok === false ? verdict.witness.description : JSON.stringify(verdict)).toBe(true);
  console.log(`[${SUBJECT}] ${label}: ${stats.operations} ops (ok ${stats.ok}, failed reads ${stats.failed}, ` +
    `unknown writes ${stats.unknown}), ${acked.length} acknowledged writes all present on ${members.length} members, ` +
    `revision ${states[0]!.revision}, linearizable (checked in ${checkMs.toFixed(0)} ms); errors ${JSON.stringify(stats.errors)}`);
  return states;
}

/** Puts `count` writes as fast as `concurrency` clients go (to live `endpoints`), returns the acknowledgements. */
async function burstPuts(endpoints: readonly string[], prefix: string, count: number, concurrency = 32): Promise<AcknowledgedWrite[]> {
  const clients = endpoints.map((e) => connect(e));
  const acked: AcknowledgedWrite[] = [];
  let next = 0;
  const writer = async (w: number): Promise<void> => {
    const endpoint = endpoints[w % endpoints.length]!;
    const client = clients[w % clients.length]!;
    while (next < count) {
      const n = next++;
      const key = `${prefix}${n % 97}`;
      // Each attempt writes a value of its own: a failed attempt may still have committed.
      // Failures (an election under load) are retried for up to 15 s per write.
      const firstTry = performance.now();
      for (let attempt = 0; ; attempt++) {
        const value = `${prefix}v${n}.${attempt}`;
        try {
          const res = await client.put({ key: Buffer.from(key), value: Buffer.from(value) });
          acked.push({ key, value, revision: toSafeNumber(res.header!.revision, 'revision'), client: `burst${w}`, endpoint, ackMs: performance.now() });
          break;
        } catch (err) {
          if (performance.now() - firstTry > 15_000) throw err;
          await sleep(50);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, w) => writer(w)));
  } finally {
    for (const c of clients) c.close();
  }
  return acked;
}

let pki: Pki | undefined;
let tlsOptions: ClusterOptions | undefined;
afterAll(() => pki?.remove());

/** Peer mutual TLS: one certificate (127.0.0.1) for every member, client certificates required. Made once. */
function peerMutualTls(): ClusterOptions {
  if (tlsOptions) return tlsOptions;
  pki = new Pki();
  const cert = pki.issue('peer', 'raftkv-peer');
  tlsOptions = {
    peerScheme: 'https',
    args: ['--peer-cert-file', cert.certFile, '--peer-key-file', cert.keyFile, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth'],
  };
  return tlsOptions;
}

const VARIANTS = [
  { transport: 'plain peer connections', rounds: ROUNDS, options: (): ClusterOptions => ({}) },
  { transport: 'peer mutual TLS', rounds: PEER_TLS_ROUNDS, options: peerMutualTls },
].filter((v) => v.rounds > 0);

describe.each(VARIANTS)(`cluster faults: ${SUBJECT}, $transport, $rounds round(s) per scenario`, ({ rounds, options }) => {
  const TEST_TIMEOUT_MS = 60_000 + rounds * 60_000;
  it('kill -9 of the leader under load: a new leader soon, the old one rejoins, nothing acknowledged is lost', async () => {
    cluster = await startCluster(SUBJECT, { ...options(), size: 3, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS });
    // The members really speak the variant's scheme to each other (member list: id, status, name, peer URL, client URL, learner).
    const listed = await etcdctl(cluster.endpoints[0]!, ['member', 'list']);
    const peerUrls = listed.stdout.trim().split('\n').map((line) => line.split(', ')[3]);
    expect(peerUrls).toHaveLength(3);
    for (const url of peerUrls) expect(url).toMatch(options().peerScheme === 'https' ? /^https:\/\// : /^http:\/\//);
    const failovers: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const old = await cluster.waitForLeader();
      const oldId = await memberId(old);
      const w = (workload = Workload.start({ opDeadlineMs: OP_DEADLINE_MS, endpoints: cluster.endpoints, keyPrefix: `leader-kill/${round}/`, seed: SEED + round * 100 }));
      await w.untilAcknowledged(50, 15_000);
      const killedAt = w.now();
      await old.kill();
      const { leader, ms } = await waitForNewLeader(cluster, oldId, FAILOVER_LIMIT_MS * 2);
      failovers.push(ms);
      expect(ms).toBeLessThan(FAILOVER_LIMIT_MS);
      // Writes resume through the new leader.
      await w.untilAcknowledged(50, 15_000);
      const resumed = w.acknowledged.filter((a) => a.ackMs > killedAt + ms);
      expect(resumed.length).toBeGreaterThan(0);
      const restartStart = performance.now();
      await old.restart();
      const restartMs = performance.now() - restartStart;
      await w.untilAcknowledged(50, 15_000);
      console.log(`[${SUBJECT}] leader kill round ${round}: ${old.name} killed, ${leader.name} leads after ${ms.toFixed(0)} ms ` +
        `(election timeout ${ELECTION_MS} ms); ${old.name} restarted (ready) in ${restartMs.toFixed(0)} ms`);
      await checkRound(`leader kill round ${round}`, w, cluster.members);
      workload = undefined;
    }
    console.log(`[${SUBJECT}] leader failover ms: ${failovers.map((x) => x.toFixed(0)).join(', ')}`);
  }, TEST_TIMEOUT_MS);

  it('kill -9 of a follower: writes go on, and after a restart it catches up (raft index, revision, HashKV)', async () => {
    cluster = await startCluster(SUBJECT, { ...options(), size: 3, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS });
    const rnd = new Random(SEED);
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      const follower = rnd.pick(cluster.members.filter((m) => m !== leader));
      const w = (workload = Workload.start({ opDeadlineMs: OP_DEADLINE_MS, endpoints: cluster.endpoints, keyPrefix: `follower-kill/${round}/`, seed: SEED + round * 100 }));
      await w.untilAcknowledged(30, 15_000);
      await follower.kill();
      // The two others are a majority: writes keep being acknowledged.
      await w.untilAcknowledged(200, 15_000);
      const before = await memberStatus(leader.endpoint);
      await follower.restart();
      await w.untilAcknowledged(50, 15_000);
      const states = await checkRound(`follower kill round ${round}`, w, cluster.members);
      workload = undefined;
      const mine = states.find((s) => s.endpoint === follower.endpoint)!;
      // Caught up past everything written while it was down, not just equal to a stalled cluster.
      expect(mine.raftIndex).toBeGreaterThan(Number(before.raftIndex));
      expect(mine.revision).toBeGreaterThan(Number(before.header!.revision));
    }
  }, TEST_TIMEOUT_MS);

  it(`a follower behind by more than the retained log catches up by snapshot (snapshot-count ${SNAPSHOT_COUNT})`, async () => {
    cluster = await startCluster(SUBJECT, { ...options(), size: 3, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS, snapshotCount: SNAPSHOT_COUNT });
    const rnd = new Random(SEED + 1);
    let snapshotRounds = 0;
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      const follower = rnd.pick(cluster.members.filter((m) => m !== leader));
      await follower.stop();
      const outputBefore = follower.output().length;
      const others = live(cluster).map((m) => m.endpoint);
      const t0 = performance.now();
      const acked = await burstPuts(others, `snap/${round}/`, SNAPSHOT_CATCHUP_WRITES);
      const writeMs = performance.now() - t0;
      expect(acked.length).toBe(SNAPSHOT_CATCHUP_WRITES);
      const t1 = performance.now();
      await follower.restart();
      // A small workload on every member, the restarted one included, while it catches up.
      const w = (workload = Workload.start({ opDeadlineMs: OP_DEADLINE_MS, endpoints: cluster.endpoints, keyPrefix: `snap-wl/${round}/`, seed: SEED + round * 100 }));
      await w.untilAcknowledged(30, 15_000);
      const states = await checkRound(`snapshot catch-up round ${round}`, w, cluster.members);
      workload = undefined;
      // The burst was acknowledged by the others; what matters is that the follower got it all.
      expect(await findLostWrites(follower.endpoint, acked, { concurrency: 32 }), `burst writes lost on ${follower.name}`).toEqual([]);
      const catchUpMs = performance.now() - t1;
      const mine = states.find((s) => s.endpoint === follower.endpoint)!;
      expect(mine.revision).toBeGreaterThanOrEqual(Math.max(...acked.map((a) => a.revision)));
      // It caught up by a snapshot from the leader, not by replaying a log the leader still had.
      const log = follower.output().slice(outputBefore);
      const bySnapshot = SNAPSHOT_RECEIVED[SUBJECT].test(log);
      if (bySnapshot) snapshotRounds++;
      // etcd compacts its log only at its own snapshots, and not while one is being sent, so a
      // follower stopped right after a catch-up may find the log still there: for etcd one round
      // must use a snapshot (checked after the loop), for raftkv every round.
      if (SUBJECT === 'raftkv') expect(bySnapshot, `${follower.name} received a snapshot after its restart:\n${log.slice(-4000)}`).toBe(true);
      console.log(`[${SUBJECT}] snapshot round ${round}: ${acked.length} puts in ${writeMs.toFixed(0)} ms while ${follower.name} was down; ` +
        `restart + catch-up + checks ${catchUpMs.toFixed(0)} ms; by snapshot: ${bySnapshot}`);
    }
    expect(snapshotRounds, 'rounds caught up by snapshot').toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  it('an isolated member neither commits writes nor serves linearizable reads; the majority goes on; it catches up after heal', async () => {
    cluster = await startCluster(SUBJECT, { ...options(), size: 3, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS, partition: true });
    const net = cluster.net!;
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      // Even rounds isolate a follower, odd rounds the leader (a deposed leader must not serve reads).
      const victimIndex = round % 2 === 1 ? cluster.members.indexOf(leader) : cluster.members.findIndex((m) => m !== leader);
      const victim = cluster.members[victimIndex]!;
      const w = (workload = Workload.start({ opDeadlineMs: OP_DEADLINE_MS, endpoints: cluster.endpoints, keyPrefix: `partition/${round}/`, seed: SEED + round * 100 }));
      await w.untilAcknowledged(30, 15_000);
      const probe = connect(victim.endpoint);
      try {
        const probeKey = Buffer.from(`partition-probe/${round}`);
        await probe.put({ key: probeKey, value: Buffer.from('before') });
        net.isolate(victimIndex);
        const isolatedAt = w.now();
        // Deadlines through the workload's own channel settings are not needed here: a single
        // request each, raced against a timer.
        const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, sleep(ms).then(() => 'timed out' as const)]);
        const [write, read] = await Promise.all([
          within(probe.put({ key: probeKey, value: Buffer.from('minority') }).then(() => 'ok' as const, (e: Error) => e.message), OP_DEADLINE_MS),
          within(probe.range({ key: probeKey }).then((r) => `read ${r.kvs[0]?.value.toString()}`, (e: Error) => e.message), OP_DEADLINE_MS),
        ]);
        expect(write, `a write on the isolated ${victim.name}`).not.toBe('ok');
        expect(read, `a linearizable read on the isolated ${victim.name}`).not.toMatch(/^read /);
        // The majority (maybe after an election) acknowledges writes, also of the probe key.
        const majority = connect(cluster.members.find((m) => m !== victim)!.endpoint);
        try {
          // Retried: the majority may still be electing a leader (raftkv answers "no leader" at once).
          await retrying('a put to the majority', () => majority.put({ key: probeKey, value: Buffer.from('majority') }));
        } finally {
          majority.close();
        }
        await sleep(Math.max(0, isolatedAt + OP_DEADLINE_MS + 250 - w.now()));
        await w.untilAcknowledged(50, 15_000);
        const healedAt = w.now();
        net.heal();
        // Acknowledged while cut off, and sent after the cut (older requests hit their deadline by
        // isolatedAt + the deadline; 250 ms of slack for the two clocks).
        const whileIsolated = w.acknowledged.filter((a) => a.ackMs > isolatedAt + OP_DEADLINE_MS + 250 && a.ackMs < healedAt);
        expect(whileIsolated.filter((a) => a.endpoint !== victim.endpoint).length).toBeGreaterThan(0);
        expect(whileIsolated.filter((a) => a.endpoint === victim.endpoint)).toEqual([]);
        console.log(`[${SUBJECT}] partition round ${round}: isolated ${victim.name}${victim === leader ? ' (the leader)' : ''} for ` +
          `${(healedAt - isolatedAt).toFixed(0)} ms; its write: ${write}; its linearizable read: ${read}; ` +
          `${whileIsolated.length} writes acknowledged by the majority meanwhile`);
        await w.untilAcknowledged(30, 15_000);
        await checkRound(`partition round ${round}`, w, cluster.members);
        workload = undefined;
        // It serves linearizable reads again, and they see the majority's write (or the minority
        // put, if the bytes the cut held back reached the leader after the heal and committed).
        const after = await retrying(`a linearizable read on ${victim.name} after the heal`, () => probe.range({ key: probeKey }));
        expect(['majority', 'minority']).toContain(after.kvs[0]?.value.toString());
      } finally {
        net.heal();
        probe.close();
      }
    }
  }, TEST_TIMEOUT_MS);

  it('adding a member to a loaded cluster and removing another: writes go on, remaining members equal', async () => {
    cluster = await startCluster(SUBJECT, { ...options(), size: 3, heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS });
    // The members of the current configuration; each round adds one and removes one.
    let current = [...cluster.members];
    for (let round = 0; round < rounds; round++) {
      const leader = await cluster.waitForLeader();
      const w = (workload = Workload.start({ opDeadlineMs: OP_DEADLINE_MS, endpoints: current.map((m) => m.endpoint), keyPrefix: `membership/${round}/`, seed: SEED + round * 100 }));
      await w.untilAcknowledged(50, 15_000);
      // The harness retries etcd's "unhealthy cluster" refusal (strict reconfig check, 5 s after start).
      const added = await cluster.addMember();
      await w.untilAcknowledged(50, 15_000);
      // Even rounds remove a follower, odd rounds the leader; never the member just added.
      const removed = round % 2 === 1 ? leader : current.find((m) => m !== leader)!;
      const removedId = await memberId(removed);
      const via = current.find((m) => m !== removed)!;
      const res = await etcdctl(via.endpoint, ['--command-timeout', '5s', 'member', 'remove', removedId.toString(16)]);
      expect(res.code, res.stderr).toBe(0);
      const removedAt = w.now();
      await w.untilAcknowledged(50, 15_000);
      expect(w.acknowledged.filter((a) => a.ackMs > removedAt && a.endpoint !== removed.endpoint).length).toBeGreaterThan(0);
      current = [...current.filter((m) => m !== removed), added];
      await checkRound(`membership round ${round}`, w, current);
      workload = undefined;
      const names = await memberNames(added);
      expect(names).toEqual(current.map((m) => m.name).sort());
      console.log(`[${SUBJECT}] membership round ${round}: added ${added.name}, removed ${removed.name}` +
        `${removed === leader ? ' (the leader)' : ''}; members now ${names.join(', ')}`);
      // etcd stops a removed member by itself; make sure of it either way.
      await removed.kill();
    }
  }, TEST_TIMEOUT_MS);
});
