/**
 * Run the deterministic simulation from the command line.
 *
 *   node dist/simulation/cli.js --seeds 100000 [--start 1]
 *   node dist/simulation/cli.js --seed 42        # replay one seed with a trace
 *
 * Prints every failing seed and a summary; exits non-zero on any failure.
 */
import { runSeed } from './simulator.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const one = arg('seed');
if (one !== undefined) {
  const res = runSeed(Number(one), (line) => console.log(line));
  console.log(JSON.stringify({ ...res, failure: res.failure ?? null }, null, 1));
  process.exit(res.ok ? 0 : 1);
}

const count = Number(arg('seeds') ?? '1000');
const start = Number(arg('start') ?? '1');
const started = process.hrtime.bigint();
let failures = 0;
let committed = 0;
let ticks = 0;
for (let seed = start; seed < start + count; seed++) {
  const res = runSeed(seed);
  committed += res.committed;
  ticks += res.ticks;
  if (!res.ok) {
    failures++;
    console.log(`FAIL seed ${seed}: ${res.failure}`);
  }
  if ((seed - start + 1) % 10000 === 0) {
    const s = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`... ${seed - start + 1} seeds, ${failures} failures, ${s.toFixed(1)} s`);
  }
}
const secs = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `${count} seeds (${start}..${start + count - 1}): ${failures} failed; ${secs.toFixed(1)} s ` +
    `(${((secs * 1000) / count).toFixed(2)} ms/seed); ${ticks} ticks, ${committed} entries applied (max node per seed, summed)`,
);
process.exit(failures === 0 ? 0 : 1);
