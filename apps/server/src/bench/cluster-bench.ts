// Benchmark (not a test): a 3-member cluster of real etcd 3.4 and of the subject (raftkv by
// default), started the same way on this machine in one run: puts/s with p50/p99 at 1, 16 and 128
// requests in flight sent to the leader and to a follower (forwarded), then linearizable
// (ReadIndex) and serializable single-key gets/s at 128 in flight. Prints one markdown table
// with the ratio subject/etcd per row.
// Usage (after `pnpm build`): node apps/server/dist/bench/cluster-bench.js
// Knobs: BENCH_CLUSTER_SECONDS (5 per row), BENCH_WARMUP_SECONDS (3), BENCH_CLUSTER_SUBJECT
// (raftkv | etcd; `etcd` runs etcd against itself, to see the noise of the machine).
import type { ClusterMember, ServerKind } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { startCluster } from '@raftkv/testkit';
import { connect, type EtcdClient } from '@raftkv/testkit';

const SECONDS = Number(process.env['BENCH_CLUSTER_SECONDS'] ?? 5);
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 3);
const SUBJECT = (process.env['BENCH_CLUSTER_SUBJECT'] ?? 'raftkv') as ServerKind;
const VALUE = Buffer.alloc(256, 'v');
/** gRPC connections per target member; in-flight requests are spread over them. */
const CONNECTIONS = 8;
const KEYS = 10_000;

interface Cell { opsPerSec: number; p50Ms: number; p99Ms: number; errors: number }

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `inFlight` workers issue `op` back to back for `seconds`; failed requests are counted, not timed. */
async function load(clients: EtcdClient[], inFlight: number, op: (c: EtcdClient, i: number) => Promise<unknown>,
  seconds = SECONDS): Promise<Cell> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  let errors = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await op(client, n++);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors };
}

const put = (c: EtcdClient, i: number) => c.put({ key: Buffer.from(`bench/${i % KEYS}`), value: VALUE });

async function measure(kind: ServerKind): Promise<Map<string, Cell>> {
  const cluster = await startCluster(kind, { size: 3, raftkvBin });
  const out = new Map<string, Cell>();
  const all: EtcdClient[] = [];
  const clientsOf = (m: ClusterMember) => {
    const cs = Array.from({ length: CONNECTIONS }, () => connect(m.endpoint));
    all.push(...cs);
    return cs;
  };
  try {
    const leader = await cluster.waitForLeader(30_000);
    const follower = cluster.members.find((m) => m !== leader)!;
    const toLeader = clientsOf(leader);
    const toFollower = clientsOf(follower);
    // Warm up (JIT, connections, peer streams, backend growth), the same for both servers.
    await load(toLeader, 16, put, WARMUP_SECONDS);
    for (const inFlight of [1, 16, 128]) out.set(`put x${inFlight} → leader`, await load(toLeader, inFlight, put));
    for (const inFlight of [1, 16, 128]) out.set(`put x${inFlight} → follower`, await load(toFollower, inFlight, put));
    await toLeader[0]!.put({ key: Buffer.from('bench/get'), value: VALUE });
    const get = (serializable: boolean) => (c: EtcdClient) => c.range({ key: Buffer.from('bench/get'), serializable });
    out.set('get x128 linearizable → leader', await load(toLeader, 128, get(false)));
    out.set('get x128 linearizable → follower', await load(toFollower, 128, get(false)));
    out.set('get x128 serializable → leader', await load(toLeader, 128, get(true)));
    // A leader change during the run would make the rows incomparable: say so.
    const after = await cluster.waitForLeader(30_000);
    if (after !== leader) console.error(`${kind}: the leader changed during the run (${leader.name} -> ${after.name})`);
  } finally {
    for (const c of all) c.close();
    await cluster.close();
  }
  return out;
}

async function main(): Promise<void> {
  if (SUBJECT !== 'etcd' && SUBJECT !== 'raftkv') throw new Error(`BENCH_CLUSTER_SUBJECT must be etcd or raftkv, not ${String(SUBJECT)}`);
  const etcd = await measure('etcd');
  const subject = await measure(SUBJECT);
  const name = SUBJECT === 'etcd' ? 'etcd (again)' : SUBJECT;
  const f = (n: number) => n.toFixed(0).padStart(7);
  const ms = (c: Cell) => `${c.p50Ms.toFixed(2)} / ${c.p99Ms.toFixed(2)}`;
  console.log(`\n3-member cluster on loopback, ${SECONDS}s per row, 256-byte values, ${CONNECTIONS} gRPC connections to the target member\n`);
  console.log(`| workload | etcd ops/s | ${name} ops/s | ${name}/etcd | etcd p50 / p99 ms | ${name} p50 / p99 ms |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [row, e] of etcd) {
    const s = subject.get(row)!;
    const errors = e.errors + s.errors > 0 ? ` (errors: etcd ${e.errors}, ${name} ${s.errors})` : '';
    console.log(`| ${row}${errors} | ${f(e.opsPerSec)} | ${f(s.opsPerSec)} | ${(s.opsPerSec / e.opsPerSec).toFixed(2)} | ${ms(e)} | ${ms(s)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
