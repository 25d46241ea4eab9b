// Smoke test of `pnpm bench` in its smallest form: real etcd 3.4.23 and the built raftkv, a few
// rows of 1 s, one round, the noise side included; checks what the JSON holds, not speeds.
import { afterAll, expect, test } from 'vitest';
import { killAllChildren, liveChildPids } from '@raftkv/testkit';
import { formatTables } from './report.js';
import { defaultOptions, runMatrix, type BenchResult } from './runner.js';

afterAll(() => killAllChildren());

test('the matrix runner measures the selected rows on etcd, raftkv and etcd again, and reports them as JSON', async () => {
  const bin = process.env['TESTKIT_RAFTKV_BIN'];
  expect(bin, 'vitest.config.ts sets TESTKIT_RAFTKV_BIN').toBeTruthy();
  const opts = {
    ...defaultOptions(true, bin!),
    members: [1 as const],
    rows: ['put x16', 'get serializable x16', 'start-up', 'restart after kill'],
    rounds: 1,
    cellSeconds: 1,
    warmupSeconds: 0.2,
    startupKeys: 200,
  };
  const log: string[] = [];
  const result = JSON.parse(JSON.stringify(await runMatrix(opts, (l) => log.push(l)))) as BenchResult;

  expect(result.schema).toBe('raftkv-bench/1');
  expect(result.sides).toEqual(['etcd', 'raftkv', 'etcd-again']);
  expect(result.options).toMatchObject({ rounds: 1, cellSeconds: 1, members: [1], tls: false });
  expect(result.rows.map((r) => r.id)).toEqual(['put x16', 'get serializable x16', 'start-up, empty', 'start-up with keys', 'restart after kill -9']);
  // Each group ran once per side, in the round's order, and none failed.
  expect(result.schedule.map((s) => `${s.group}/${s.side}`)).toEqual([
    'kv/etcd', 'kv/raftkv', 'kv/etcd-again', 'startup/etcd', 'startup/raftkv', 'startup/etcd-again',
  ]);
  expect(result.schedule.filter((s) => s.failed)).toEqual([]);

  for (const row of result.rows) {
    expect(row.members).toBe(1);
    for (const side of result.sides) {
      const s = row.sides[side]!;
      expect(s.errors, `${row.id} on ${side}`).toBe(0);
      expect(s.rounds).toHaveLength(1);
      expect(s.median.value, `${row.id} on ${side}`).toBeGreaterThan(0);
      expect(s.spread.value).toBe(0);
    }
    expect(row.ratio.value).toBeCloseTo(row.sides.raftkv!.median.value / row.sides.etcd!.median.value, 10);
    expect(row.noise!.value).toBeCloseTo(row.sides['etcd-again']!.median.value / row.sides.etcd!.median.value, 10);
  }
  const put = result.rows[0]!;
  expect(put).toMatchObject({ unit: 'ops/s', better: 'higher', group: 'kv' });
  for (const side of result.sides) {
    const m = put.sides[side]!.median;
    expect(m.p50Ms).toBeGreaterThan(0);
    expect(m.p99Ms).toBeGreaterThanOrEqual(m.p50Ms);
  }
  // Each key-value cell carries its member's state at start and end: one member leads its
  // term throughout, and the cell's puts were fsynced in its WAL.
  for (const side of result.sides) {
    const m = put.sides[side]!.rounds[0]!.members!;
    expect(m.start[0]!.leader, side).toBe(m.start[0]!.id);
    expect(m.end[0]!.term, side).toBe(m.start[0]!.term);
    expect(m.end[0]!.fsyncs!, side).toBeGreaterThan(m.start[0]!.fsyncs!);
    expect(m.end[0]!.cpuSeconds!, side).toBeGreaterThanOrEqual(m.start[0]!.cpuSeconds!);
  }
  // A restart has no latency figures: they stay out of the JSON (NaN becomes null).
  const restart = result.rows[4]!;
  expect(restart).toMatchObject({ unit: 'ms', better: 'lower', group: 'startup' });
  expect(restart.sides.raftkv!.median.p99Ms).toBeNull();
  expect(result.noiseFloor!.value.factor).toBeGreaterThanOrEqual(1);

  const table = formatTables(result);
  expect(table).toContain('| put x16 | ops/s ↑ |');
  expect(table).toContain('noise floor (etcd vs etcd, same run)');
  // A line per group and side; under each key-value one, a line per cell on what the members did.
  expect(log.filter((l) => !l.startsWith('    ')).length).toBe(6);
  expect(log.filter((l) => l.startsWith('    put x16 ')).length).toBe(3);
  expect(liveChildPids()).toEqual([]);
}, 90_000);

test('a before build (--before) runs as a side of its own, alternating with the others, and the table compares raftkv with it', async () => {
  const bin = process.env['TESTKIT_RAFTKV_BIN']!;
  const opts = {
    ...defaultOptions(true, bin),
    raftkvBeforeBin: bin,
    members: [1 as const],
    rows: ['get serializable x16'],
    rounds: 2,
    cellSeconds: 1,
    warmupSeconds: 0.2,
    noiseFloor: false,
  };
  const result = JSON.parse(JSON.stringify(await runMatrix(opts))) as BenchResult;
  expect(result.sides).toEqual(['etcd', 'raftkv', 'raftkv-before']);
  expect(result.schedule.map((s) => s.side)).toEqual(['etcd', 'raftkv', 'raftkv-before', 'raftkv-before', 'raftkv', 'etcd']);
  expect(result.schedule.filter((s) => s.failed)).toEqual([]);
  const row = result.rows[0]!;
  expect(row.before!.value).toBeCloseTo(row.sides.raftkv!.median.value / row.sides['raftkv-before']!.median.value, 10);
  expect(row.noise).toBeUndefined();
  const table = formatTables(result);
  expect(table).toContain('raftkv/before (p99)');
  expect(table.split('\n').find((l) => l.startsWith('| get serializable x16 |'))!.split('|').length).toBe(10 + 3 + 2); // 10 columns, 3 of the before build, the edges
  expect(liveChildPids()).toEqual([]);
}, 90_000);
