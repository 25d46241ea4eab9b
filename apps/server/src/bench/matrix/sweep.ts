// `pnpm bench:sweep`: how raftkv and etcd grow with key count and value size. Runs the matrix's
// rows that depend on them once per setting (one member, alternating sides as `pnpm bench` does)
// and prints one table per sweep. `--keys 10000,100000,1000000`, `--values 256,4096,65536`,
// `--rounds N` (default 1), `--out DIR` (each setting's JSON).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { raftkvBin } from '../../raftkv-binary.js';
import { parseOptions } from './options.js';
import { num, present } from './report.js';
import { runMatrix, type BenchResult } from './runner.js';

/** Rows of the key-count sweep: what a bigger keyspace costs at start, in memory and to load. */
export const KEY_ROWS = ['load keys', 'rss per key', 'rss after load', 'start-up with keys', 'restart after kill -9'];
/** Rows of the value-size sweep: throughput of bigger values, and their memory. */
export const VALUE_ROWS = ['put x16', 'range 100 keys x16', 'get serializable x16', 'load keys', 'rss per key', 'rss after load'];

export interface SweepPoint { label: string; result: BenchResult }

/** One markdown table: a line per setting and row, etcd and raftkv medians and their ratio. */
export function sweepTable(title: string, points: readonly SweepPoint[], rows: readonly string[]): string {
  const lines = [`### ${title}`, '', '| setting | row | unit | etcd | raftkv | raftkv/etcd (↑ better) |', '|---|---|---|---:|---:|---:|'];
  for (const { label, result } of points) {
    for (const id of rows) {
      const row = result.rows.find((r) => r.id === id && r.members === 1);
      const etcd = row?.sides['etcd']?.median.value;
      const raftkv = row?.sides['raftkv']?.median.value;
      if (!row || !present(etcd) || !present(raftkv)) {
        lines.push(`| ${label} | ${id} | ${row?.unit ?? ''} | — | — | — |`);
        continue;
      }
      // Higher is better for throughput; for times and bytes, etcd/raftkv reads the same way.
      const ratio = row.better === 'higher' ? raftkv / etcd : etcd / raftkv;
      lines.push(`| ${label} | ${id} | ${row.unit} | ${num(etcd)} | ${num(raftkv)} | ${ratio.toFixed(2)} |`);
    }
  }
  return lines.join('\n');
}

const numbers = (text: string): number[] => text.split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${s}`);
  return n;
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      keys: { type: 'string', default: '10000,100000,1000000' },
      values: { type: 'string', default: '256,4096,65536' },
      rounds: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  const bin = process.env['BENCH_RAFTKV_BIN'] ?? raftkvBin;
  const outDir = values.out === undefined ? undefined : resolve(values.out);
  if (outDir) mkdirSync(outDir, { recursive: true });
  const run = async (label: string, argv: string[]): Promise<SweepPoint> => {
    const { opts } = parseOptions(['--members', '1', '--no-noise', '--rounds', values.rounds!, ...argv], bin);
    const result = await runMatrix(opts, (line) => console.error(`[${label}] ${line}`));
    if (outDir) writeFileSync(join(outDir, `sweep-${label.replace(/[^\w.-]+/g, '_')}.json`), `${JSON.stringify(result, null, 2)}\n`);
    return { label, result };
  };
  process.once('SIGINT', () => process.exit(130));

  const byKeys: SweepPoint[] = [];
  for (const n of numbers(values.keys!)) {
    byKeys.push(await run(`${n.toLocaleString('en-US')} keys`, ['--rows', 'load,rss,start-up with keys,restart', '--startup-keys', String(n)]));
  }
  const byValue: SweepPoint[] = [];
  for (const bytes of numbers(values.values!)) {
    byValue.push(await run(`${bytes} B values`, ['--rows', 'put x16,range,get serializable x16,load,rss', '--value-bytes', String(bytes), '--startup-keys', '10000']));
  }
  const first = byKeys[0]?.result ?? byValue[0]?.result;
  console.log(`\nraftkv vs etcd 3.4.23, one member, ${values.rounds} round(s) per setting; load average ${first?.machine.loadAvgStart.map((n) => n.toFixed(1)).join(' ')} at the start\n`);
  console.log(sweepTable('Key count (256-byte values)', byKeys, KEY_ROWS));
  console.log('');
  console.log(sweepTable('Value size (10,000 keys loaded; 10,000 keys put)', byValue, VALUE_ROWS));
}

if (process.argv[1]?.endsWith('sweep.js')) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
