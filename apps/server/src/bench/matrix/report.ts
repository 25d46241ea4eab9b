// The matrix result as markdown tables, one per member count.
import type { BenchResult, RowResult, SideName } from './runner.js';

// Results read back from JSON have null where the run had NaN: every figure goes through present().
/** A figure is missing when NaN, or null once the result went through JSON. */
export const present = (n: number | null | undefined): n is number => typeof n === 'number' && !Number.isNaN(n);

/** A figure as the tables print it: thousands separated, fewer decimals the larger it is. */
export const num = (n: number | undefined): string => {
  if (!present(n)) return 'n/a';
  const a = Math.abs(n);
  return a >= 1000 ? Math.round(n).toLocaleString('en-US') : a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
};
const pct = (n: number) => (present(n) ? `${Math.round(n * 100)}%` : 'n/a');
const x = (n: number | undefined) => (present(n) ? n.toFixed(2) : 'n/a');

function latency(row: RowResult, side: SideName): string {
  const m = row.sides[side]?.median;
  return !m || !present(m.p99Ms) ? '' : `${num(m.p50Ms)} / ${num(m.p99Ms)}`;
}

function label(row: RowResult): string {
  const errs = (['etcd', 'raftkv', 'raftkv-before', 'etcd-again'] as const)
    .map((s) => [s, row.sides[s]?.errors ?? 0] as const).filter(([, n]) => n > 0);
  return errs.length === 0 ? row.id : `${row.id} (errors: ${errs.map(([s, n]) => `${s} ${n}`).join(', ')})`;
}

export function formatTables(result: BenchResult): string {
  const o = result.options;
  const lines: string[] = [];
  const load = (l: number[]) => l.map((v) => v.toFixed(1)).join(' ');
  lines.push(`raftkv vs etcd 3.4.23 — ${result.startedAt} → ${result.finishedAt}, ${result.machine.cpus} CPUs, ` +
    `load average ${load(result.machine.loadAvgStart)} at the start, ${load(result.machine.loadAvgEnd)} at the end`);
  lines.push(`${o.quick ? 'quick: ' : ''}${o.rounds} rounds (sides alternate: ${result.sides.join(', ')}, then reversed), ` +
    `fresh data dirs each round, ${o.cellSeconds} s cells after ${o.warmupSeconds} s warm-up; medians over rounds; ` +
    `spread = (max − min) / median of the rounds; watch rows ask ${num(o.eventBudget)} events/s; start-up rows load ${num(o.startupKeys)} keys; ${o.valueBytes ?? 256}-byte values` +
    `${o.tls ? '; clients over TLS' : ''}`);
  if (result.noiseFloor) {
    const n = result.noiseFloor;
    lines.push(`noise floor (etcd vs etcd, same run): figure ratios ${x(n.value.min)}–${x(n.value.max)}, p99 ratios ` +
      `${x(n.p99Ms.min)}–${x(n.p99Ms.max)}; raftkv/etcd figures within ${x(1 / n.value.factor)}–${x(n.value.factor)} ` +
      `(p99 within ${x(1 / n.p99Ms.factor)}–${x(n.p99Ms.factor)}) cannot be told from noise in this run`);
  }
  for (const members of [1, 3] as const) {
    const rows = result.rows.filter((r) => r.members === members);
    if (rows.length === 0) continue;
    lines.push('', `### ${members} member${members === 1 ? '' : 's'}`, '');
    // With a before build: its figure, raftkv/before (p99) and its latencies, after raftkv's columns.
    const withBefore = result.sides.includes('raftkv-before');
    lines.push('| row | unit | etcd | raftkv | raftkv/etcd | etcd p50 / p99 ms | raftkv p50 / p99 ms | p99 raftkv/etcd | spread etcd / raftkv | noise: etcd/etcd (p99) |' +
      (withBefore ? ' before | raftkv/before (p99) | before p50 / p99 ms |' : ''));
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|' + (withBefore ? '---:|---:|---:|' : ''));
    for (const r of rows) {
      const e = r.sides.etcd!;
      const k = r.sides.raftkv!;
      const noise = r.noise ? `${x(r.noise.value)}${!present(r.noise.p99Ms) ? '' : ` (${x(r.noise.p99Ms)})`}` : '';
      const before = !withBefore ? '' : ` ${num(r.sides['raftkv-before']?.median.value)} | ${r.before ? `${x(r.before.value)}${!present(r.before.p99Ms) ? '' : ` (${x(r.before.p99Ms)})`}` : ''} | ${latency(r, 'raftkv-before')} |`;
      lines.push(`| ${label(r)} | ${r.unit} ${r.better === 'higher' ? '↑' : '↓'} | ${num(e.median.value)} | ${num(k.median.value)} | ` +
        `${x(r.ratio.value)} | ${latency(r, 'etcd')} | ${latency(r, 'raftkv')} | ${present(r.ratio.p99Ms) ? x(r.ratio.p99Ms) : ''} | ` +
        `${pct(e.spread.value)} / ${pct(k.spread.value)} | ${noise} |${before}`);
    }
  }
  return lines.join('\n');
}
