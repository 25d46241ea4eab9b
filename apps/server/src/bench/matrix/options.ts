// The command line of `pnpm bench` (see USAGE).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultOptions, type MatrixOptions } from './runner.js';

export const USAGE = `usage: pnpm bench [options]
  --quick               short cells (1 s), 2 rounds, 10/100/1000 watchers, 10,000 start-up keys: 7-8 min on a busy 2-core machine
  --rows a,b            only rows whose name contains one of these (e.g. put,watch,"get serializable")
  --members 1|3|1,3     member counts (default both)
  --rounds N            rounds per side (default 3; 2 with --quick)
  --seconds S           seconds per cell (default 5; 1 with --quick)
  --warmup S            warm-up seconds before the key-value rows (default 3; 0.5 with --quick);
                        each key-value cell also runs its own operation for min(1, S/2) s first
  --watchers a,b        watcher counts of the watch rows (default 10,1000,100000)
  --event-budget N      events/s asked of a watch row in total (default 100000; 20000 with --quick)
  --startup-keys N      keys loaded before the restart row (default 200000; 10000 with --quick)
  --value-bytes N       value size of the key-value and start-up rows (default 256)
  --no-noise            skip the second etcd side (no noise floor)
  --tls                 clients over https (one member only)
  --out PATH            JSON output (default results/bench-<date>.json)
  --cpu-prof DIR        raftkv processes write V8 CPU profiles into DIR (summarise: node dist/bench/matrix/profile-top.js)
  --before BIN          also run this raftkv build (a checkout before a change: its bin/raftkv) as a side of its own,
                        alternating with the others: the table adds raftkv/before
environment: BENCH_RAFTKV_BIN=/path/to/bin/raftkv runs another raftkv build`;

function list(s: string): number[] {
  return s.split(',').map((v) => {
    const n = Number(v.replaceAll('_', ''));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
    return n;
  });
}

export function parseOptions(argv: string[], raftkvBin: string): { opts: MatrixOptions; out: string | undefined; help: boolean; tls: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rows: { type: 'string' },
      members: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      watchers: { type: 'string' },
      'event-budget': { type: 'string' },
      'startup-keys': { type: 'string' },
      'value-bytes': { type: 'string' },
      'no-noise': { type: 'boolean', default: false },
      tls: { type: 'boolean', default: process.env['BENCH_TLS'] === '1' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      before: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  const opts = defaultOptions(values.quick, raftkvBin);
  if (values.rows) opts.rows = values.rows.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (values.members) {
    opts.members = list(values.members).map((m) => {
      if (m !== 1 && m !== 3) throw new Error('--members takes 1, 3 or 1,3');
      return m;
    });
  } else if (values.tls) {
    opts.members = [1];
  }
  if (values.rounds) opts.rounds = list(values.rounds)[0]!;
  if (values.seconds) opts.cellSeconds = list(values.seconds)[0]!;
  if (values.warmup) opts.warmupSeconds = list(values.warmup)[0]!;
  if (values.watchers) opts.watchers = list(values.watchers);
  if (values['event-budget']) opts.eventBudget = list(values['event-budget'])[0]!;
  if (values['startup-keys']) opts.startupKeys = list(values['startup-keys'])[0]!;
  if (values['value-bytes']) opts.valueBytes = list(values['value-bytes'])[0]!;
  if (values['no-noise']) opts.noiseFloor = false;
  if (values['cpu-prof']) opts.cpuProfDir = resolve(values['cpu-prof']);
  if (values.before) opts.raftkvBeforeBin = resolve(values.before);
  return { opts, out: values.out, help: values.help, tls: values.tls };
}

