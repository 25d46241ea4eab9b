// Benchmark (not a test): what one replicated put costs each member of a three-member cluster,
// for etcd and two builds of raftkv, interleaved on fresh clusters. Server CPU per put (all
// threads and the event-loop thread) of the leader and of each follower moves far less with the
// machine's load than ops/s do; peer frames per put (raftkv's /metrics) count the transport's work.
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/cluster-write-cost-bench.js
//   BENCH_ROUNDS (default 3), BENCH_OPS (default 1500 per row), BENCH_SIDES (default etcd,before,after),
//   BENCH_ROWS (e.g. "put x1", "put x128", "put x1 via follower", "get linearizable x16"), BENCH_CPU_PROF_DIR (raftkv members write CPU profiles there; see matrix/cpu-profile-preload.ts),
//   BENCH_CONNECTIONS (own: each of the 8 clients of a member on its own connection, the default; shared: one per member).
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster, type ClusterMember, type EtcdClient } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { benchClients, connectionsFromEnv, countedOps, describeConnections, describeOnce, interleavedRounds, threadTimes } from './cost-sides.js';
import { latencySummary, median } from './matrix/stats.js';
import { VALUE_256 as VALUE } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const OPS = Number(process.env['BENCH_OPS'] ?? 1500);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const ROWS = process.env['BENCH_ROWS']?.split(',');
const wanted = (row: string) => ROWS === undefined || ROWS.some((w) => row.includes(w));
const PROF_DIR = process.env['BENCH_CPU_PROF_DIR'];
const CONNECTIONS = connectionsFromEnv();

function profileEnv(): Record<string, string> {
  if (!PROF_DIR) return {};
  mkdirSync(PROF_DIR, { recursive: true });
  const preload = fileURLToPath(new URL('./matrix/cpu-profile-preload.js', import.meta.url));
  return { NODE_OPTIONS: `--import=${preload}`, BENCH_CPU_PROF_DIR: PROF_DIR };
}

interface Cell {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU µs per put, all threads: leader, then the followers' mean. */
  leaderUs: number;
  followerUs: number;
  /** Of which the thread whose id is the pid (the event loop, for raftkv). */
  leaderMainUs: number;
  followerMainUs: number;
  /** write(2) calls per op (/proc/<pid>/io syscw: socket and WAL writes): leader, each follower's mean. */
  leaderWrites: number;
  followerWrites: number;
  /** Context switches per op, all threads (each one a thread going to sleep or being preempted): leader, each follower's mean. */
  leaderSwitches: number;
  followerSwitches: number;
  /** This process's CPU µs per op (the client: all three servers and it share the machine's cores). */
  clientUs: number;
}

/** write(2) calls so far by all of a process's threads. */
function writeCalls(pid: number): number {
  return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
}

async function ops(leader: ClusterMember, followers: ClusterMember[], clients: EtcdClient[], inFlight: number, count: number,
  op: (c: EtcdClient, i: number) => Promise<unknown>): Promise<Cell> {
  const members = [leader, ...followers];
  const before = members.map((m) => threadTimes(m.pid!));
  const writesBefore = members.map((m) => writeCalls(m.pid!));
  const clientBefore = process.cpuUsage();
  const { seconds, latencies } = await countedOps(clients, inFlight, count, op);
  const client = process.cpuUsage(clientBefore);
  const after = members.map((m) => threadTimes(m.pid!));
  const writes = members.map((m, i) => (writeCalls(m.pid!) - writesBefore[i]!) / count);
  const switches = members.map((_, i) => (after[i]!.ctx - before[i]!.ctx) / count);
  const us = (i: number, k: 'total' | 'main') => ((after[i]![k] - before[i]![k]) / count) * 1e6;
  const fol = (k: 'total' | 'main') => followers.reduce((s, _, i) => s + us(i + 1, k), 0) / followers.length;
  return {
    perSec: count / seconds,
    ...latencySummary(latencies),
    leaderUs: us(0, 'total'), leaderMainUs: us(0, 'main'),
    followerUs: fol('total'), followerMainUs: fol('main'),
    leaderWrites: writes[0]!, followerWrites: writes.slice(1).reduce((a, b) => a + b, 0) / followers.length,
    leaderSwitches: switches[0]!, followerSwitches: switches.slice(1).reduce((a, b) => a + b, 0) / followers.length,
    clientUs: (client.user + client.system) / count,
  };
}

async function measure(side: string): Promise<Map<string, Cell>> {
  const kind = side === 'etcd' ? 'etcd' : 'raftkv';
  const bin = side === 'before' ? process.env['BENCH_RAFTKV_BIN_BEFORE'] : side.includes('/') ? side : raftkvBin;
  if (kind === 'raftkv' && !bin) throw new Error('set BENCH_RAFTKV_BIN_BEFORE to the other build\'s bin/raftkv');
  if (kind === 'raftkv') describeOnce(bin!);
  // etcd's default timings, as a user runs it.
  const cluster: Cluster = await startCluster(kind, { size: 3, heartbeatMs: 100, electionMs: 1000, readyTimeoutMs: 60_000,
    ...(kind === 'raftkv' ? { raftkvBin: bin, env: profileEnv() } : {}) });
  const out = new Map<string, Cell>();
  let clients: EtcdClient[] = [];
  try {
    const leader = await cluster.waitForLeader(60_000);
    const followers = cluster.members.filter((m) => m !== leader);
    clients = benchClients(leader.endpoint, CONNECTIONS);
    const k = (s: string) => Buffer.from(s);
    const put = (c: EtcdClient, i: number) => c.put({ key: k(`bench/${(i * 7919) % 10_000}`), value: VALUE });
    // Warm-up: connections, JIT, both paths.
    await ops(leader, followers, clients, 16, 3000, put);
    await ops(leader, followers, clients, 1, 500, put);
    for (const n of [1, 16, 128]) {
      const row = `put x${n}`;
      if (wanted(row)) out.set(row, await ops(leader, followers, clients, n, n === 1 ? OPS : OPS * 3, put));
    }
    // Through a follower: its proposal goes to the leader as a raft message, the commit comes back to it.
    if (wanted('put x1 via follower')) {
      const viaFollower = benchClients(followers[0]!.endpoint, CONNECTIONS);
      clients.push(...viaFollower);
      await ops(leader, followers, viaFollower, 1, 300, put);
      out.set('put x1 via follower', await ops(leader, followers, viaFollower, 1, OPS, put));
    }
    // Linearizable gets of keys the puts wrote: a ReadIndex round (heartbeats, a quorum of acks) per batch of reads.
    // Serializable gets are the same reads without the round.
    for (const serializable of [false, true]) {
      const get = (c: EtcdClient, i: number) => c.range({ key: k(`bench/${(i * 7919) % 10_000}`), serializable });
      for (const n of [16, 128]) {
        const row = `get ${serializable ? 'serializable' : 'linearizable'} x${n}`;
        if (!wanted(row)) continue;
        await ops(leader, followers, clients, n, 1000, get);
        out.set(row, await ops(leader, followers, clients, n, OPS * 4, get));
      }
    }
  } finally {
    for (const c of clients) c.close();
    // A clean stop first: a profiled member writes its profile only then.
    await Promise.all(cluster.members.map((m) => m.stop()));
    await cluster.close();
  }
  return out;
}

const fmt = (c: Cell) =>
  `${c.perSec.toFixed(0)}/s p50 ${c.p50Ms.toFixed(2)} p99 ${c.p99Ms.toFixed(2)} leader ${c.leaderUs.toFixed(0)} µs (main ${c.leaderMainUs.toFixed(0)}) ` +
  `follower ${c.followerUs.toFixed(0)} µs (main ${c.followerMainUs.toFixed(0)}) writes/op ${c.leaderWrites.toFixed(3)} / ${c.followerWrites.toFixed(3)} ` +
  `switches/op ${c.leaderSwitches.toFixed(2)} / ${c.followerSwitches.toFixed(2)} client ${c.clientUs.toFixed(0)} µs`;

async function main(): Promise<void> {
  const runs = await interleavedRounds(SIDES, ROUNDS, measure, (round, side, r) => {
    for (const [row, c] of r) console.log(`round ${round + 1} ${side} ${row}: ${fmt(c)}`);
  });
  const rows = [...runs.get(SIDES[0]!)![0]!.keys()];
  console.log(`\n${describeConnections(CONNECTIONS)} per member; medians of ${ROUNDS} interleaved rounds, three members, puts to the leader: server CPU µs per op (event-loop thread), write(2) calls and context switches per op`);
  console.log('| row | side | ops/s | p50 / p99 ms | leader CPU µs/op (main) | each follower (main) | writes/op leader / follower | switches/op leader / follower | client µs/op |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    for (const s of SIDES) {
      const cs = runs.get(s)!.map((m) => m.get(row)!);
      const m = (f: (c: Cell) => number) => median(cs.map(f));
      console.log(`| ${row} | ${s} | ${m((c) => c.perSec).toFixed(0)} | ${m((c) => c.p50Ms).toFixed(2)} / ${m((c) => c.p99Ms).toFixed(2)} | ` +
        `${m((c) => c.leaderUs).toFixed(0)} (${m((c) => c.leaderMainUs).toFixed(0)}) | ${m((c) => c.followerUs).toFixed(0)} (${m((c) => c.followerMainUs).toFixed(0)}) | ` +
        `${m((c) => c.leaderWrites).toFixed(3)} / ${m((c) => c.followerWrites).toFixed(3)} | ` +
        `${m((c) => c.leaderSwitches).toFixed(2)} / ${m((c) => c.followerSwitches).toFixed(2)} | ${m((c) => c.clientUs).toFixed(0)} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
