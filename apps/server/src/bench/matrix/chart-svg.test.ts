import { expect, test } from 'vitest';
import { renderChart } from './chart-svg.js';
import { sideStats, type BenchResult, type RowResult } from './runner.js';

function row(id: string, members: 1 | 3, etcd: number[], raftkv: number[], again: number[]): RowResult {
  const sample = (v: number) => ({ value: v, p50Ms: 1, p99Ms: v / 100, errors: 0 });
  const sides = { etcd: sideStats(etcd.map(sample)), raftkv: sideStats(raftkv.map(sample)), 'etcd-again': sideStats(again.map(sample)) };
  return {
    id, members, group: 'kv', unit: 'ops/s', better: 'higher', what: '', sides,
    ratio: { value: sides.raftkv.median.value / sides.etcd.median.value, p99Ms: 1 },
    noise: { value: sides['etcd-again'].median.value / sides.etcd.median.value, p99Ms: 1 },
  };
}

const result = {
  schema: 'raftkv-bench/1', startedAt: '2026-12-06T08:00:00.000Z', finishedAt: '2026-12-06T08:10:00.000Z',
  machine: { cpus: 2, loadAvgStart: [1, 1, 1], loadAvgEnd: [1, 1, 1], node: 'v20' },
  options: { rounds: 3, cellSeconds: 5, quick: false },
  sides: ['etcd', 'raftkv', 'etcd-again'],
  rows: [row('put x16 <&>', 1, [1000, 1100, 900], [500, 600, 550], [1050, 1000, 990]), row('put x1', 3, [100, 100, 100], [150, 150, 150], [100, 100, 100])],
  schedule: [],
  noiseFloor: { value: { min: 1, max: 1.05, factor: 1.05 }, p99Ms: { min: 1, max: 1, factor: 1 } },
} as unknown as BenchResult;

test('one chart per member count, with both sides, the ratio, round whiskers and the noise tick; labels escaped', () => {
  const one = renderChart(result, 1)!;
  expect(one).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(one.trimEnd().endsWith('</svg>')).toBe(true);
  expect(one).toContain('put x16 &lt;&amp;&gt;');
  expect(one).not.toContain('put x1<');
  expect(one).toContain('×0.55'); // 550 / 1000
  expect(one).toContain('class="bad">×0.55');
  expect(one).toContain('noise ×1.00'); // 1000 / 1000
  expect(one.match(/class="whisker"/g)).toHaveLength(4); // 2 sides × (figure, p99)
  expect(one).toContain('by up to ×1.05 this run');
  const three = renderChart(result, 3)!;
  expect(three).toContain('class="good">×1.50');
  expect(three).not.toContain('class="whisker"'); // every round the same: no spread to draw
});

test('no rows for a member count → no chart', () => {
  expect(renderChart({ ...result, rows: result.rows.filter((r) => r.members === 1) }, 3)).toBeUndefined();
});
