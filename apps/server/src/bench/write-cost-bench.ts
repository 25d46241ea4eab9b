// Benchmark (not a test): what one write costs the server, for etcd and two builds of raftkv,
// interleaved runs on fresh data dirs. On a shared 2-core machine ops/s swing with other people's
// work; CPU time per operation (split by thread: the main thread, libuv's pool, V8's helpers),
// context switches per operation and WAL syncs per operation move far less.
// Rows: put at 1, 16 and 128 in flight (256-byte values over 10,000 keys), lease grant at 128, and
// the matrix's txn cas x16 (a value compare-and-swap on a key of each of 16 workers).
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/write-cost-bench.js
//   BENCH_ROUNDS (default 3), BENCH_OPS (default 3000 per row), BENCH_SIDES (default etcd,before,after),
//   BENCH_ROWS (only rows whose name contains one of these words, e.g. "put x1,lease"),
//   BENCH_CONNECTIONS (own: each of the 8 clients on its own connection, the default; shared: one).
import { removeDir, type EtcdClient, type ServerProcess } from '@raftkv/testkit';
import { benchClients, connectionsFromEnv, countedOps, describeConnections, interleavedRounds, startSide, threadTimes } from './cost-sides.js';
import { latencySummary, median } from './matrix/stats.js';
import { VALUE_256 as VALUE } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const OPS = Number(process.env['BENCH_OPS'] ?? 3000);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const ROWS = process.env['BENCH_ROWS']?.split(',');
const wanted = (row: string) => ROWS === undefined || ROWS.some((w) => row.includes(w));
const CONNECTIONS = connectionsFromEnv();

interface Cell {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU µs per op, all threads. */
  cpuUs: number;
  /** Of which the thread whose id is the pid (the event loop, for raftkv). */
  mainUs: number;
  /** Voluntary + involuntary context switches per op, all threads. */
  ctxPerOp: number;
  /** WAL syncs per op (etcd_disk_wal_fsync_duration_seconds_count). */
  syncsPerOp: number;
}

async function syncCount(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.clientUrl}/metrics`)).text();
  const m = /^etcd_disk_wal_fsync_duration_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** `count` ops, `inFlight` at a time. */
async function ops(server: ServerProcess, clients: EtcdClient[], inFlight: number, count: number,
  op: (c: EtcdClient, i: number) => Promise<unknown>): Promise<Cell> {
  const pid = server.child.pid!;
  const s0 = await syncCount(server);
  const t0Threads = threadTimes(pid);
  const { seconds, latencies } = await countedOps(clients, inFlight, count, op);
  const t1 = threadTimes(pid);
  const s1 = await syncCount(server);
  return {
    perSec: count / seconds,
    ...latencySummary(latencies),
    cpuUs: ((t1.total - t0Threads.total) / count) * 1e6,
    mainUs: ((t1.main - t0Threads.main) / count) * 1e6,
    ctxPerOp: (t1.ctx - t0Threads.ctx) / count,
    syncsPerOp: (s1 - s0) / count,
  };
}

async function measure(side: string): Promise<Map<string, Cell>> {
  const server = await startSide(side);
  const clients = benchClients(server.endpoint, CONNECTIONS);
  const out = new Map<string, Cell>();
  try {
    const k = (s: string) => Buffer.from(s);
    // Warm-up: connections, JIT.
    await ops(server, clients, 16, 2000, (c, i) => c.put({ key: k(`bench/${i % 10_000}`), value: VALUE }));
    const cell = async (row: string, run: () => Promise<Cell>) => {
      if (wanted(row)) out.set(row, await run());
    };
    for (const n of [1, 16, 128]) {
      await cell(`put x${n}`, () => ops(server, clients, n, n === 1 ? Math.ceil(OPS / 2) : OPS,
        (c, i) => c.put({ key: k(`bench/${(i * 7919) % 10_000}`), value: VALUE })));
    }
    await cell('lease grant x128', () => ops(server, clients, 128, OPS, (c) => c.leaseGrant(0n, 600n)));
    // The matrix's txn cas x16: a value compare-and-swap on a key per worker (always succeeds).
    // Ops on one key run one after the other (op i waits for op i - 16), so each compare holds.
    const cas = new Map<number, { seen: number; last: Promise<void> }>();
    await cell('txn cas x16', () => ops(server, clients, 16, OPS, (c, i) => {
      const w = i % 16;
      const key = k(`cas/${w}`);
      const state = cas.get(w) ?? { seen: 0, last: Promise.resolve() };
      cas.set(w, state);
      const op = () => {
        const seen = state.seen;
        return c.txn({
          compare: [seen === 0
            ? { result: 0, target: 0, key, version: 0n, rangeEnd: Buffer.alloc(0) }
            : { result: 0, target: 3, key, value: k(String(seen)), rangeEnd: Buffer.alloc(0) }],
          success: [{ requestPut: { key, value: k(String(seen + 1)), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }],
        }).then((res) => {
          if (!res.succeeded) throw new Error('compare-and-swap failed');
          state.seen = seen + 1;
        });
      };
      state.last = state.last.then(op);
      return state.last;
    }));
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    removeDir(server.dataDir);
  }
  return out;
}

const fmt = (c: Cell) =>
  `${c.perSec.toFixed(0)}/s p50 ${c.p50Ms.toFixed(2)} p99 ${c.p99Ms.toFixed(2)} cpu ${c.cpuUs.toFixed(0)} µs (main ${c.mainUs.toFixed(0)}) ctx ${c.ctxPerOp.toFixed(1)} syncs ${c.syncsPerOp.toFixed(2)}`;

async function main(): Promise<void> {
  const runs = await interleavedRounds(SIDES, ROUNDS, measure, (round, side, r) => {
    for (const [row, c] of r) console.log(`round ${round + 1} ${side} ${row}: ${fmt(c)}`);
  });
  const rows = [...runs.get(SIDES[0]!)![0]!.keys()];
  console.log(`\n${describeConnections(CONNECTIONS)}; medians of ${ROUNDS} interleaved rounds: ops/s · p50/p99 ms · server CPU µs/op (main thread) · context switches/op · WAL syncs/op`);
  console.log('| row | side | ops/s | p50 / p99 ms | CPU µs/op (main) | ctx sw/op | syncs/op |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    for (const s of SIDES) {
      const cs = runs.get(s)!.map((m) => m.get(row)!);
      const m = (f: (c: Cell) => number) => median(cs.map(f));
      console.log(`| ${row} | ${s} | ${m((c) => c.perSec).toFixed(0)} | ${m((c) => c.p50Ms).toFixed(2)} / ${m((c) => c.p99Ms).toFixed(2)} | ` +
        `${m((c) => c.cpuUs).toFixed(0)} (${m((c) => c.mainUs).toFixed(0)}) | ${m((c) => c.ctxPerOp).toFixed(1)} | ${m((c) => c.syncsPerOp).toFixed(2)} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
