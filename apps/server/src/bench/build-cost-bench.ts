// Benchmark (not a test): the server's CPU time per put for two builds of raftkv, interleaved
// runs, so the cost of a change on the write path shows through a shared machine's noise (which
// moves puts/s far more than it moves CPU time per put).
// Usage: BENCH_RAFTKV_BIN_BEFORE=/path/to/other/bin/raftkv node apps/server/dist/bench/build-cost-bench.js
//   BENCH_PUTS (default 20000) per run, BENCH_ROUNDS (default 3); this build is "after".
import { connect, removeDir, startRaftkv, type EtcdClient } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { median } from './matrix/stats.js';
import { cpuSeconds, VALUE_256 as VALUE } from './matrix/workloads.js';

const PUTS = Number(process.env['BENCH_PUTS'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

async function puts(clients: EtcdClient[], inFlight: number, count: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    const c = clients[w % clients.length]!;
    while (n < count) {
      const i = n++;
      await c.put({ key: Buffer.from(`bench/${i % 10_000}`), value: VALUE });
    }
  }));
  return count / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const before = process.env['BENCH_RAFTKV_BIN_BEFORE'];
  if (!before) throw new Error('set BENCH_RAFTKV_BIN_BEFORE to the other build\'s bin/raftkv');
  const builds = { before, after: raftkvBin } as const;
  const runs: Record<'before' | 'after', Array<{ cpuUsPerPut: number; putsPerSec: number }>> = { before: [], after: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
      const server = await startRaftkv({ raftkvBin: builds[name] });
      const clients = Array.from({ length: 8 }, () => connect(server.endpoint));
      try {
        await puts(clients, 16, 3_000);
        const t0 = cpuSeconds(server.child.pid!);
        const putsPerSec = await puts(clients, 16, PUTS);
        const cpuUsPerPut = ((cpuSeconds(server.child.pid!) - t0) / PUTS) * 1e6;
        runs[name].push({ cpuUsPerPut, putsPerSec });
        console.log(`round ${round + 1} ${name}: ${cpuUsPerPut.toFixed(1)} µs CPU/put, ${putsPerSec.toFixed(0)} puts/s`);
      } finally {
        for (const c of clients) c.close();
        await server.stop();
        removeDir(server.dataDir);
      }
    }
  }
  console.log(`\n${PUTS} puts per run, 16 in flight, 8 connections, 256-byte values, ${ROUNDS} interleaved runs per build\n`);
  console.log('| build | median server CPU µs/put | median puts/s |');
  console.log('|---|---:|---:|');
  for (const name of ['before', 'after'] as const) {
    console.log(`| ${name} | ${median(runs[name].map((r) => r.cpuUsPerPut)).toFixed(1)} | ${median(runs[name].map((r) => r.putsPerSec)).toFixed(0)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
