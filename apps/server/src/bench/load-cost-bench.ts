// Benchmark (not a test): what loading keys in txns of 100 puts costs the server, for etcd and two
// builds of raftkv, interleaved: server CPU per txn, wall time, and RSS before and after each pass
// of BENCH_KEYS keys (the matrix's `load keys` row, repeated on distinct prefixes so a profile or
// the RSS growth covers more than one pass). CPU per txn survives a busy machine far better than
// wall time does. Then PUTS single-key puts (16 in flight): CPU per put, puts/s and RSS.
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/load-cost-bench.js
//   BENCH_ROUNDS (default 3), BENCH_KEYS (keys per pass, default 10000), BENCH_PASSES (default 3),
//   BENCH_SIDES (default etcd,before,after; a path is another raftkv binary), BENCH_VALUE_BYTES (default 256), BENCH_PUTS (default 5000),
//   BENCH_CONNECTIONS (the puts' 8 clients: own connections, the default, or one shared; the load goes over the first, as the matrix's).
import { removeDir } from '@raftkv/testkit';
import { benchClients, connectionsFromEnv, describeConnections, interleavedRounds, startSide } from './cost-sides.js';
import { median } from './matrix/stats.js';
import { cpuSeconds, loadKeys, rssBytes } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 10_000);
const PASSES = Number(process.env['BENCH_PASSES'] ?? 3);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const VALUE = Buffer.alloc(Number(process.env['BENCH_VALUE_BYTES'] ?? 256), 'v');
const CONNECTIONS = connectionsFromEnv();

interface Pass { cpuUsPerTxn: number; ms: number; rssMiB: number }
interface Side { readyMiB: number; passes: Pass[]; putCpuUs: number; putsPerSec: number; endMiB: number }

/** Single-key puts, 16 in flight, after the passes: a flag that saves memory must not cost the write path. */
const PUTS = Number(process.env['BENCH_PUTS'] ?? 5000);

async function runSide(side: string): Promise<Side> {
  const server = await startSide(side);
  const pid = server.child.pid!;
  const clients = benchClients(server.endpoint, CONNECTIONS);
  const client = clients[0]!;
  try {
    const readyMiB = rssBytes(pid) / 2 ** 20;
    const passes: Pass[] = [];
    const txns = Math.ceil(KEYS / Math.max(1, Math.min(100, Math.floor(1024 * 1024 / (VALUE.length + 64)))));
    for (let p = 0; p < PASSES; p++) {
      const cpu0 = cpuSeconds(pid);
      const ms = await loadKeys(client, KEYS, VALUE, `load${p}/`);
      passes.push({ cpuUsPerTxn: ((cpuSeconds(pid) - cpu0) / txns) * 1e6, ms, rssMiB: rssBytes(pid) / 2 ** 20 });
    }
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async (_, w) => {
      const c = clients[w % clients.length]!;
      for (let i = next++; i < PUTS; i = next++) await c.put({ key: Buffer.from(`put/${i % 1000}`), value: VALUE });
    }));
    const putsPerSec = PUTS / ((performance.now() - t0) / 1000);
    return { readyMiB, passes, putCpuUs: ((cpuSeconds(pid) - cpu0) / PUTS) * 1e6, putsPerSec, endMiB: rssBytes(pid) / 2 ** 20 };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    removeDir(server.dataDir);
  }
}

const results = await interleavedRounds(SIDES, ROUNDS, runSide, (r, side, res) => {
  console.log(`round ${r + 1} ${side}: ready ${res.readyMiB.toFixed(1)} MiB; ` +
    res.passes.map((p, i) => `pass ${i + 1}: ${p.cpuUsPerTxn.toFixed(0)} µs CPU/txn, ${p.ms.toFixed(0)} ms, rss ${p.rssMiB.toFixed(1)} MiB`).join('; ') +
    `; puts: ${res.putCpuUs.toFixed(0)} µs CPU/put, ${res.putsPerSec.toFixed(0)}/s, rss ${res.endMiB.toFixed(1)} MiB`);
});

console.log(`\n${KEYS} keys per pass in txns of up to 100 puts (8 in flight, one connection), ${VALUE.length}-byte values; ` +
  `puts over ${describeConnections(CONNECTIONS)}; medians of ${ROUNDS} rounds`);
console.log('| side | rss at ready MiB | ' + Array.from({ length: PASSES }, (_, i) => `pass ${i + 1} µs CPU/txn | ms | rss MiB`).join(' | ') +
  ` | put x16 µs CPU/put | puts/s | rss at end MiB |`);
for (const [side, runs] of results) {
  const cells = [median(runs.map((x) => x.readyMiB)).toFixed(1)];
  for (let p = 0; p < PASSES; p++) {
    cells.push(median(runs.map((x) => x.passes[p]!.cpuUsPerTxn)).toFixed(0), median(runs.map((x) => x.passes[p]!.ms)).toFixed(0),
      median(runs.map((x) => x.passes[p]!.rssMiB)).toFixed(1));
  }
  cells.push(median(runs.map((x) => x.putCpuUs)).toFixed(0), median(runs.map((x) => x.putsPerSec)).toFixed(0), median(runs.map((x) => x.endMiB)).toFixed(1));
  console.log(`| ${side} | ${cells.join(' | ')} |`);
}
