// The matrix runner: every selected row, for one member and three, on each side (etcd, raftkv
// and etcd again for the noise floor), in alternating order over rounds, each round on fresh
// data dirs; the result keeps every round and the medians, spreads and ratios.
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ServerKind } from '@raftkv/testkit';
import { describeCell } from './member-probe.js';
import { matrixGroups, rowSelected, type GroupSettings, type Unit } from './rows.js';
import { median, ratio, sideOrder, spread } from './stats.js';
import { startTarget, type Certificates } from './targets.js';
import type { Sample } from './workloads.js';

/** etcd, raftkv, and a second etcd whose ratio to the first is the run's noise floor. */
/** `raftkv-before`: a second raftkv build (`--before`), so a change's before and after run alternating in one run. */
export type SideName = 'etcd' | 'raftkv' | 'raftkv-before' | 'etcd-again';
export const kindOf = (side: SideName): ServerKind => (side === 'raftkv' || side === 'raftkv-before' ? 'raftkv' : 'etcd');

export interface MatrixOptions extends GroupSettings {
  members: Array<1 | 3>;
  /** Row filters (substrings of row ids); all rows when empty. */
  rows: string[];
  rounds: number;
  /** Run etcd a second time as its own side: the noise floor. */
  noiseFloor: boolean;
  raftkvBin: string;
  /** Another raftkv build run as the `raftkv-before` side. */
  raftkvBeforeBin?: string;
  /** One member only: clients over https. */
  tls?: Certificates;
  /** Directory for a V8 CPU profile of every raftkv process (written when it stops cleanly). */
  cpuProfDir?: string;
  quick: boolean;
}

export function defaultOptions(quick: boolean, raftkvBin: string): MatrixOptions {
  return quick
    ? { quick, raftkvBin, members: [1, 3], rows: [], rounds: 2, noiseFloor: true, cellSeconds: 1, warmupSeconds: 0.5,
        watchers: [10, 100, 1000], eventBudget: 20_000, startupKeys: 10_000, valueBytes: 256 }
    : { quick, raftkvBin, members: [1, 3], rows: [], rounds: 3, noiseFloor: true, cellSeconds: 5, warmupSeconds: 3,
        watchers: [10, 1000, 100_000], eventBudget: 100_000, startupKeys: 200_000, valueBytes: 256 };
}

export interface Figure { value: number; p50Ms: number; p99Ms: number }

export interface SideStats {
  /** One sample per round, in round order. */
  rounds: Sample[];
  /** Median over rounds of each figure. */
  median: Figure;
  /** (max − min) / median over rounds. */
  spread: { value: number; p99Ms: number };
  errors: number;
}

export interface RowResult {
  id: string;
  members: 1 | 3;
  group: string;
  unit: Unit;
  better: 'higher' | 'lower';
  what: string;
  sides: Partial<Record<SideName, SideStats>>;
  /** raftkv / etcd, of the medians. */
  ratio: { value: number; p99Ms: number };
  /** etcd-again / etcd, of the medians: what the same server gets from the noise of the run. */
  noise?: { value: number; p99Ms: number };
  /** raftkv / raftkv-before, of the medians, when a before build ran. */
  before?: { value: number; p99Ms: number };
}

export interface BenchResult {
  schema: 'raftkv-bench/1';
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; loadAvgStart: number[]; loadAvgEnd: number[]; node: string };
  options: Omit<MatrixOptions, 'tls'> & { tls: boolean };
  sides: SideName[];
  rows: RowResult[];
  /** Every server (or cluster) run, in the order they ran: shows the alternation. */
  schedule: Array<{ members: 1 | 3; group: string; round: number; side: SideName; seconds: number; failed?: string }>;
  /** The range of etcd-again/etcd over the rows, per figure; undefined without the noise side. */
  noiseFloor?: { value: NoiseBand; p99Ms: NoiseBand };
}

const figure = (samples: Sample[], f: (s: Sample) => number | undefined) => samples.map((s) => f(s) ?? NaN);

export function sideStats(samples: Sample[]): SideStats {
  return {
    rounds: samples,
    median: {
      value: median(figure(samples, (s) => s.value)),
      p50Ms: median(figure(samples, (s) => s.p50Ms)),
      p99Ms: median(figure(samples, (s) => s.p99Ms)),
    },
    spread: { value: spread(figure(samples, (s) => s.value)), p99Ms: spread(figure(samples, (s) => s.p99Ms)) },
    errors: samples.reduce((n, s) => n + s.errors, 0),
  };
}

/**
 * The etcd-again/etcd ratios of a run: their range, and `factor`, the largest factor by which
 * the same server differed from itself (max of r and 1/r): raftkv/etcd ratios between
 * 1/factor and factor are within the noise of the run.
 */
export interface NoiseBand { min: number; max: number; factor: number }

export function noiseBand(ratios: number[]): NoiseBand {
  const s = ratios.filter((x) => Number.isFinite(x) && x > 0);
  if (s.length === 0) return { min: NaN, max: NaN, factor: NaN };
  return { min: Math.min(...s), max: Math.max(...s), factor: Math.max(...s.map((r) => Math.max(r, 1 / r))) };
}

/** Environment that makes a raftkv process write a CPU profile into `dir` (see cpu-profile-preload.ts). */
function cpuProfileEnv(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const preload = fileURLToPath(new URL('./cpu-profile-preload.js', import.meta.url));
  return { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim(), BENCH_CPU_PROF_DIR: dir };
}

export async function runMatrix(opts: MatrixOptions, log: (line: string) => void = () => undefined): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const loadAvgStart = loadavg();
  const sides: SideName[] = ['etcd', 'raftkv', ...(opts.raftkvBeforeBin ? ['raftkv-before' as const] : []), ...(opts.noiseFloor ? ['etcd-again' as const] : [])];
  const rows: RowResult[] = [];
  const schedule: BenchResult['schedule'] = [];
  for (const members of opts.members) {
    if (members === 3 && opts.tls) throw new Error('--tls runs one member only');
    for (const group of matrixGroups(members, opts)) {
      const wanted = group.rows.filter((r) => rowSelected(r.id, opts.rows));
      if (wanted.length === 0) continue;
      const wantedIds = new Set(wanted.map((r) => r.id));
      const samples = new Map<SideName, Map<string, Sample[]>>(sides.map((s) => [s, new Map(wanted.map((r) => [r.id, []]))]));
      for (let round = 0; round < opts.rounds; round++) {
        for (const side of sideOrder(sides, round)) {
          const t0 = performance.now();
          let got: Map<string, Sample>;
          let failed: string | undefined;
          try {
            got = await group.run({
              settings: opts,
              start: () => startTarget(kindOf(side), members, {
                raftkvBin: side === 'raftkv-before' ? opts.raftkvBeforeBin! : opts.raftkvBin,
                ...(opts.tls ? { tls: opts.tls } : {}),
                ...(opts.cpuProfDir ? { raftkvEnv: cpuProfileEnv(opts.cpuProfDir) } : {}),
              }),
            }, wantedIds);
          } catch (err) {
            // One failed round is a hole in the table, not the end of an hour's run.
            failed = err instanceof Error ? err.message : String(err);
            log(`  ${side}: ${group.id} failed: ${failed}`);
            got = new Map();
          }
          const seconds = (performance.now() - t0) / 1000;
          schedule.push({ members, group: group.id, round: round + 1, side, seconds, ...(failed ? { failed } : {}) });
          for (const r of wanted) samples.get(side)!.get(r.id)!.push(got.get(r.id) ?? { value: NaN, errors: 1 });
          log(`${members} member${members === 1 ? '' : 's'} · ${group.id} · round ${round + 1}/${opts.rounds} · ${side}: ` +
            `${seconds.toFixed(1)} s${[...got].map(([id, s]) => `; ${id} ${fmt(s.value)}`).join('')}`);
          for (const [id, s] of got) {
            if (s.members) log(`    ${id} (p50 ${fmt(s.p50Ms ?? NaN)} p99 ${fmt(s.p99Ms ?? NaN)} ms): ${describeCell(s.members, s.value * opts.cellSeconds)}`);
          }
        }
      }
      for (const r of wanted) {
        const stats = Object.fromEntries(sides.map((s) => [s, sideStats(samples.get(s)!.get(r.id)!)])) as Partial<Record<SideName, SideStats>>;
        const e = stats.etcd!.median;
        const k = stats.raftkv!.median;
        const again = stats['etcd-again']?.median;
        const before = stats['raftkv-before']?.median;
        rows.push({
          id: r.id, members, group: group.id, unit: r.unit, better: r.better, what: r.what, sides: stats,
          ratio: { value: ratio(k.value, e.value), p99Ms: ratio(k.p99Ms, e.p99Ms) },
          ...(again ? { noise: { value: ratio(again.value, e.value), p99Ms: ratio(again.p99Ms, e.p99Ms) } } : {}),
          ...(before ? { before: { value: ratio(k.value, before.value), p99Ms: ratio(k.p99Ms, before.p99Ms) } } : {}),
        });
      }
    }
  }
  const { tls, ...rest } = opts;
  const noisy = rows.filter((r) => r.noise);
  return {
    schema: 'raftkv-bench/1',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, loadAvgStart, loadAvgEnd: loadavg(), node: process.version },
    options: { ...rest, tls: tls !== undefined },
    sides,
    rows,
    schedule,
    ...(opts.noiseFloor ? {
      noiseFloor: { value: noiseBand(noisy.map((r) => r.noise!.value)), p99Ms: noiseBand(noisy.map((r) => r.noise!.p99Ms)) },
    } : {}),
  };
}

const fmt = (n: number) => (Number.isNaN(n) ? 'n/a' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
