// `pnpm fuzz -- --requests 100000 --seed 1 [--cluster]`: the long fuzz run. Prints a summary and
// writes the findings as JSON (`--out`); exits 1 when there are findings.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runFuzz } from './runner.js';
import { killAllNow } from './servers.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    requests: { type: 'string' },
    batches: { type: 'string' },
    'batch-size': { type: 'string', default: '50' },
    cluster: { type: 'boolean', default: false },
    'restart-every': { type: 'string', default: '20' },
    'no-skip-known': { type: 'boolean', default: false },
    out: { type: 'string' },
    mix: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(`usage: node apps/server/dist/fuzz/cli.js [--seed N] [--requests N | --batches N] [--batch-size N]
       [--cluster] [--restart-every K] [--no-skip-known] [--out findings.json] [--quiet]
       [--mix unary=80,mutated=12,stream=3,h2=3,peer=2,rawPeer=0]  (relative weights of item kinds; default shown)
Batch b uses seed N+b: replay one batch with --seed <its seed> --batches 1.\n`);
  process.exit(0);
}

const seed = Number(values.seed);
const mix = Object.fromEntries((values.mix ?? '').split(',').filter(Boolean).map((kv) => {
  const [k, v] = kv.split('=');
  if (!['unary', 'mutated', 'stream', 'h2', 'peer', 'rawPeer'].includes(k!) || !(Number(v) >= 0)) throw new Error(`--mix: bad entry ${kv}`);
  return [k!, Number(v)];
}));
const batchSize = Number(values['batch-size']);
const batches = values.batches !== undefined ? Number(values.batches)
  : Math.ceil(Number(values.requests ?? 1000) / batchSize);
let stop = false;
let stops = 0;
const onSignal = (): void => {
  stops++;
  stop = true;
  process.stderr.write(stops > 1 ? 'fuzz: stopping now\n' : 'fuzz: stopping after this batch (Ctrl-C again to stop now)\n');
  if (stops > 1) { killAllNow(); process.exit(130); }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const started = Date.now();
const result = await runFuzz({
  seed, batches, batchSize, cluster: values.cluster, restartEvery: Number(values['restart-every']),
  skipKnown: !values['no-skip-known'], mix,
  log: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  stopRequested: () => stop,
});
process.stdout.write(`${result.summary}\n  took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (values.out) writeFileSync(values.out, JSON.stringify(result.findings, null, 2));
process.exit(result.findings.length > 0 ? 1 : 0);
