// The sweep's table: one line per setting and row, ratios oriented so that above 1 is raftkv ahead.
import { expect, test } from 'vitest';
import type { BenchResult, RowResult } from './runner.js';
import { sweepTable } from './sweep.js';

const stats = (value: number) => ({ rounds: [], median: { value, p50Ms: NaN, p99Ms: NaN }, spread: { value: 0, p99Ms: 0 }, errors: 0 });
const row = (id: string, unit: RowResult['unit'], better: RowResult['better'], etcd: number, raftkv: number): RowResult => ({
  id, members: 1, group: 'g', unit, better, what: '', sides: { etcd: stats(etcd), raftkv: stats(raftkv) }, ratio: { value: raftkv / etcd, p99Ms: NaN },
});
const result = (rows: RowResult[]) => ({ rows } as unknown as BenchResult);

test('throughput rows divide raftkv by etcd; time and memory rows etcd by raftkv; a missing row is a dash', () => {
  const table = sweepTable('T', [
    { label: '10,000 keys', result: result([row('put x16', 'ops/s', 'higher', 2000, 3000), row('rss per key', 'bytes/key', 'lower', 2400, 4800)]) },
    { label: '100,000 keys', result: result([]) },
  ], ['put x16', 'rss per key']);
  expect(table.split('\n')).toEqual([
    '### T',
    '',
    '| setting | row | unit | etcd | raftkv | raftkv/etcd (↑ better) |',
    '|---|---|---|---:|---:|---:|',
    '| 10,000 keys | put x16 | ops/s | 2,000 | 3,000 | 1.50 |',
    '| 10,000 keys | rss per key | bytes/key | 2,400 | 4,800 | 0.50 |',
    '| 100,000 keys | put x16 |  | — | — | — |',
    '| 100,000 keys | rss per key |  | — | — | — |',
  ]);
});
