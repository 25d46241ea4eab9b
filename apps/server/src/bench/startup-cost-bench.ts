// Benchmark (not a test): what starting a member costs, for etcd and raftkv builds, interleaved:
// server CPU (user + system, all threads) from exec to the ready line, RSS at ready and the wall
// time, for a fresh member and for its restart on the same data dir after kill -9. CPU to ready
// survives a busy machine far better than the wall time does (three members share two cores).
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/startup-cost-bench.js
//   BENCH_ROUNDS (default 5), BENCH_SIDES (default etcd,before,after; a path is another raftkv binary).
//   BENCH_RESTART_KEYS=N: instead, the restart of a member holding N keys of 256 B loaded in 100-put txns
//   (the index rebuild and WAL replay): etcd and the first raftkv side load once, then every round starts on a
//   copy of that data dir (raftkv builds share one: the same bytes for each).
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, removeDir } from '@raftkv/testkit';
import { interleavedRounds, startSide } from './cost-sides.js';
import { median } from './matrix/stats.js';
import { cpuSeconds, loadKeys, rssBytes } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const RESTART_KEYS = Number(process.env['BENCH_RESTART_KEYS'] ?? 0);

interface Start { cpuMs: number; rssMiB: number; wallMs: number }
interface Run { fresh: Start; restart: Start }

async function timedStart(side: string, dataDir?: string): Promise<{ start: Start; server: Awaited<ReturnType<typeof startSide>> }> {
  const t0 = performance.now();
  const server = await startSide(side, dataDir);
  const wallMs = performance.now() - t0;
  const pid = server.child.pid!;
  return { server, start: { cpuMs: cpuSeconds(pid) * 1000, rssMiB: rssBytes(pid) / 2 ** 20, wallMs } };
}

async function runSide(side: string): Promise<Run> {
  const first = await timedStart(side);
  const dataDir = first.server.dataDir;
  try {
    await first.server.kill();
    const again = await timedStart(side, dataDir);
    await again.server.stop();
    return { fresh: first.start, restart: again.start };
  } finally {
    removeDir(dataDir);
  }
}

/** Per server (etcd, raftkv), a data dir holding RESTART_KEYS keys, left by a kill -9 (made on its first round). */
const loaded = new Map<string, string>();

async function restartWithKeys(side: string): Promise<Run> {
  const server = side === 'etcd' ? 'etcd' : 'raftkv';
  let template = loaded.get(server);
  let fresh: Start = { cpuMs: NaN, rssMiB: NaN, wallMs: NaN };
  if (template === undefined) {
    const first = await timedStart(side);
    fresh = first.start;
    const client = connect(first.server.endpoint);
    try {
      await loadKeys(client, RESTART_KEYS);
    } finally {
      client.close();
    }
    await first.server.kill();
    template = first.server.dataDir;
    loaded.set(server, template);
  }
  const dataDir = join(mkdtempSync(join(tmpdir(), 'startup-cost-')), 'data');
  cpSync(template, dataDir, { recursive: true });
  try {
    const again = await timedStart(side, dataDir);
    await again.server.stop();
    return { fresh, restart: again.start };
  } finally {
    removeDir(join(dataDir, '..'));
  }
}

const fmt = (s: Start) => `${s.cpuMs.toFixed(0)} ms CPU, ${s.wallMs.toFixed(0)} ms, ${s.rssMiB.toFixed(1)} MiB`;
const results = await interleavedRounds(SIDES, ROUNDS, RESTART_KEYS > 0 ? restartWithKeys : runSide, (r, side, res) => {
  console.log(`round ${r + 1} ${side}: fresh ${fmt(res.fresh)}; restart after kill -9 ${fmt(res.restart)}`);
});

for (const dir of loaded.values()) removeDir(dir);
const what = RESTART_KEYS > 0 ? `${RESTART_KEYS} keys loaded, restarts on copies of the data dir` : 'empty data dir';
console.log(`\none member, ${what}; medians of ${ROUNDS} rounds (CPU is user + system of every thread, at the ready line)`);
console.log('| side | fresh: CPU ms | wall ms | RSS MiB | restart: CPU ms | wall ms | RSS MiB |');
for (const [side, runs] of results) {
  const m = (f: (r: Run) => number, digits = 0) => median(runs.map(f)).toFixed(digits);
  console.log(`| ${side} | ${m((r) => r.fresh.cpuMs)} | ${m((r) => r.fresh.wallMs)} | ${m((r) => r.fresh.rssMiB, 1)} | ` +
    `${m((r) => r.restart.cpuMs)} | ${m((r) => r.restart.wallMs)} | ${m((r) => r.restart.rssMiB, 1)} |`);
}
