// Benchmark (not a test): whether the bench client and the server keep the two cores busy together,
// or take turns. The matrix's client is one Node process on the same cores as the server; at x128 a
// server whose answers leave in bursts leaves the client waiting, then idles while the client works
// through the burst. Per cell: the machine's idle share (/proc/stat), each process's event-loop
// thread busy share, its waits (voluntary context switches) and read/write syscalls per op
// (/proc/<pid>/io), and CPU per op. These hold under other load better than ops/s do.
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/overlap-bench.js
//   BENCH_ROUNDS (default 8), BENCH_OPS (default 20000 per x128 row; a quarter for x16 rows and put x1),
//   BENCH_SIDES (default etcd,before,after), BENCH_ROWS (only rows whose name contains one of these words),
//   BENCH_CONNECTIONS (own: each of the 8 clients on its own connection, the default; shared: all 8
//   on one HTTP/2 connection, grpc-js's default and this bench's figures before wave 10).
import { readFileSync } from 'node:fs';
import type { EtcdClient } from '@raftkv/testkit';
import { connectionsFromEnv, countedOps, describeConnections, interleavedRounds, startReadSide } from './cost-sides.js';
import { latencySummary, median } from './matrix/stats.js';
import { VALUE_256 as VALUE } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 8);
const OPS = Number(process.env['BENCH_OPS'] ?? 20_000);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const ROWS = process.env['BENCH_ROWS']?.split(',');
const wanted = (row: string) => ROWS === undefined || ROWS.some((w) => row.includes(w));
const CONNECTIONS = connectionsFromEnv();
/** Linux's USER_HZ: /proc times are in 1/100 s. */
const TICKS_PER_SECOND = 100;

/** What one process has done so far: its event-loop thread's CPU and waits, all threads' CPU, its syscalls. */
interface ProcessCounts { cpu: number; mainCpu: number; mainWaits: number; reads: number; writes: number }

function processCounts(pid: number): ProcessCounts {
  const stat = (path: string) => readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  const all = stat(`/proc/${pid}/stat`);
  const main = stat(`/proc/${pid}/task/${pid}/stat`);
  const waits = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return {
    cpu: (Number(all[11]) + Number(all[12])) / TICKS_PER_SECOND,
    mainCpu: (Number(main[11]) + Number(main[12])) / TICKS_PER_SECOND,
    mainWaits: Number(waits?.[1] ?? NaN),
    reads: field('syscr'),
    writes: field('syscw'),
  };
}

/** The machine's idle and total CPU time so far (all cores, in ticks). */
function machineTicks(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** One process's figures over a cell. */
interface Side { cpuUs: number; mainBusy: number; waitsPerOp: number; readsPerOp: number; writesPerOp: number }
interface Cell { perSec: number; p50Ms: number; p99Ms: number; idle: number; server: Side; client: Side }

function sideOf(a: ProcessCounts, b: ProcessCounts, count: number, seconds: number): Side {
  return {
    cpuUs: ((b.cpu - a.cpu) / count) * 1e6,
    mainBusy: (b.mainCpu - a.mainCpu) / seconds,
    waitsPerOp: (b.mainWaits - a.mainWaits) / count,
    readsPerOp: (b.reads - a.reads) / count,
    writesPerOp: (b.writes - a.writes) / count,
  };
}

async function ops(pid: number, clients: EtcdClient[], inFlight: number, count: number,
  op: (c: EtcdClient, i: number) => Promise<unknown>): Promise<Cell> {
  const s0 = processCounts(pid);
  const c0 = processCounts(process.pid);
  const m0 = machineTicks();
  const { seconds, latencies } = await countedOps(clients, inFlight, count, op);
  const m1 = machineTicks();
  const c1 = processCounts(process.pid);
  const s1 = processCounts(pid);
  return {
    perSec: count / seconds, ...latencySummary(latencies),
    idle: (m1.idle - m0.idle) / (m1.total - m0.total),
    server: sideOf(s0, s1, count, seconds),
    client: sideOf(c0, c1, count, seconds),
  };
}

async function measure(side: string): Promise<Map<string, Cell>> {
  const { pid, clients, stop } = await startReadSide(side, CONNECTIONS, 10_000);
  const out = new Map<string, Cell>();
  try {
    const k = (s: string) => Buffer.from(s);
    const put = (c: EtcdClient, i: number) => c.put({ key: k(`bench/${(i * 7919) % 10_000}`), value: VALUE });
    // Each row first runs a tenth of its ops unmeasured (JIT of its path), as the matrix warms a cell.
    const cell = async (row: string, inFlight: number, count: number, op: (c: EtcdClient, i: number) => Promise<unknown>) => {
      if (!wanted(row)) return;
      await countedOps(clients, inFlight, Math.ceil(count / 10), op);
      out.set(row, await ops(pid, clients, inFlight, count, op));
    };
    const get = (serializable: boolean) => (c: EtcdClient) => c.range({ key: k('bench/get'), serializable });
    await cell('put x1', 1, Math.ceil(OPS / 8), put);
    await cell('put x128', 128, OPS, put);
    await cell('get linearizable x16', 16, Math.ceil(OPS / 4), get(false));
    await cell('get linearizable x128', 128, OPS, get(false));
    await cell('get serializable x128', 128, OPS, get(true));
    await cell('range 100 keys x16', 16, Math.ceil(OPS / 8), async (c) => {
      const r = await c.range({ key: k('range/'), rangeEnd: k('range0') });
      if (r.kvs.length !== 100) throw new Error(`range returned ${r.kvs.length} keys`);
    });
    await cell('lease grant x128', 128, OPS, (c) => c.leaseGrant(0n, 600n));
  } finally {
    await stop();
  }
  return out;
}

const sideText = (s: Side) =>
  `${s.cpuUs.toFixed(0)} µs, main ${(s.mainBusy * 100).toFixed(0)}%, waits ${s.waitsPerOp.toFixed(3)}, r/w ${s.readsPerOp.toFixed(3)}/${s.writesPerOp.toFixed(3)}`;
const fmt = (c: Cell) =>
  `${c.perSec.toFixed(0)}/s p50 ${c.p50Ms.toFixed(2)} p99 ${c.p99Ms.toFixed(2)} idle ${(c.idle * 100).toFixed(0)}% | server ${sideText(c.server)} | client ${sideText(c.client)}`;

async function main(): Promise<void> {
  const runs = await interleavedRounds(SIDES, ROUNDS, measure, (round, side, r) => {
    for (const [row, c] of r) console.log(`round ${round + 1} ${side} ${row}: ${fmt(c)}`);
  });
  const rows = [...runs.get(SIDES[0]!)![0]!.keys()];
  console.log(`\n${describeConnections(CONNECTIONS)}; medians of ${ROUNDS} interleaved rounds. idle: the machine's idle share; per process: CPU µs/op (all threads), ` +
    'its event-loop thread\'s busy share, that thread\'s waits (voluntary context switches) per op, read/write syscalls per op');
  console.log('| row | side | ops/s | p50 / p99 ms | idle | server µs · main · waits · r/w per op | client µs · main · waits · r/w per op |');
  console.log('|---|---|---:|---:|---:|---|---|');
  for (const row of rows) {
    for (const s of SIDES) {
      const cs = runs.get(s)!.map((m) => m.get(row)!);
      const m = (f: (c: Cell) => number) => median(cs.map(f));
      const med = (pick: (c: Cell) => Side): Side => ({
        cpuUs: m((c) => pick(c).cpuUs), mainBusy: m((c) => pick(c).mainBusy), waitsPerOp: m((c) => pick(c).waitsPerOp),
        readsPerOp: m((c) => pick(c).readsPerOp), writesPerOp: m((c) => pick(c).writesPerOp),
      });
      console.log(`| ${row} | ${s} | ${m((c) => c.perSec).toFixed(0)} | ${m((c) => c.p50Ms).toFixed(2)} / ${m((c) => c.p99Ms).toFixed(2)} | ` +
        `${(m((c) => c.idle) * 100).toFixed(0)}% | ${sideText(med((c) => c.server))} | ${sideText(med((c) => c.client))} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
