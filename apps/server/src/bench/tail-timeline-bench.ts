// Benchmark (not a test): what the slowest puts at one in flight wait for. A fresh raftkv with
// tail-probe-preload.js records GCs, WAL writes and backend commits (and, with
// BENCH_PROFILE=1, V8's samples of the event loop); each put's start and latency are set against
// them: the WAL write's part of the latency, the events the slowest 2% overlapped, WAL write
// latency during a backend commit and outside one. Run it on a quiet machine: under load the tail
// is the scheduler's.
// Usage: node apps/server/dist/bench/tail-timeline-bench.js
//   BENCH_OPS (default 10000 timed puts), BENCH_WARMUP (default 3000), BENCH_ROUNDS (default 1),
//   BENCH_RAFTKV_BIN (default this build's bin/raftkv), BENCH_ARGS (extra server flags, e.g.
//   "--backend-batch-interval 1s"), BENCH_PROFILE=1.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, removeDir, startRaftkv } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { VALUE_256 as VALUE } from './matrix/workloads.js';
import type { ProbeDump } from './tail-probe-preload.js';
import { analyse, type Timed } from './tail-timeline.js';

const OPS = Number(process.env['BENCH_OPS'] ?? 10_000);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 3_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 1);
const BIN = process.env['BENCH_RAFTKV_BIN'] ?? raftkvBin;
const ARGS = process.env['BENCH_ARGS']?.split(' ').filter((a) => a !== '') ?? [];
const KEYS = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function round(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tail-timeline-'));
  const out = join(dir, 'probe.json');
  const preload = fileURLToPath(new URL('./tail-probe-preload.js', import.meta.url));
  const server = await startRaftkv({
    raftkvBin: BIN, args: ARGS,
    env: {
      NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim(), TAIL_PROBE_OUT: out,
      ...(process.env['BENCH_PROFILE'] === '1' ? { TAIL_PROBE_PROFILE: '1' } : {}),
    },
  });
  const client = connect(server.endpoint);
  try {
    const put = (i: number) => client.put({ key: Buffer.from(`bench/${i % KEYS}`), value: VALUE });
    for (let i = 0; i < WARMUP; i++) await put(i);
    // The warm-up's events and samples are dropped (the first dump is discarded).
    server.child.kill('SIGUSR2');
    await waitFor(out);
    rmSync(out);
    const puts: Timed[] = [];
    for (let i = 0; i < OPS; i++) {
      const start = performance.now();
      await put(i);
      puts.push([performance.timeOrigin + start, performance.now() - start]);
    }
    server.child.kill('SIGUSR2');
    await waitFor(out);
    const dump = JSON.parse(readFileSync(out, 'utf8')) as ProbeDump;
    console.log(`round ${n} · ${OPS} puts x1 · ${BIN}${ARGS.length ? ` ${ARGS.join(' ')}` : ''}`);
    for (const line of analyse(puts, dump)) console.log(`  ${line}`);
  } finally {
    client.close();
    await server.stop();
    await removeDir(server.dataDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await sleep(50);
  // The file is written in one call; give it a moment to be complete.
  await sleep(100);
}

for (let n = 1; n <= ROUNDS; n++) await round(n);
