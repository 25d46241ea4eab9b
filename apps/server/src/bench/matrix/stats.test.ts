import { describe, expect, test } from 'vitest';
import { latencySummary, median, percentile, ratio, sideOrder, spread } from './stats.js';
import { noiseBand, sideStats } from './runner.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  test.each([
    { xs: hundred, p: 50, want: 50 },
    { xs: hundred, p: 99, want: 99 },
    { xs: hundred, p: 100, want: 100 },
    { xs: hundred, p: 0, want: 1 },
    { xs: [1, 2, 3, 4], p: 50, want: 2 },
    { xs: [1, 2, 3, 4], p: 99, want: 4 },
    { xs: [7], p: 99, want: 7 },
    // 10 samples: the 99th percentile is the largest, not the 9th.
    { xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 99, want: 10 },
    { xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 90, want: 9 },
  ])('p$p of $xs.length samples → $want', ({ xs, p, want }) => {
    expect(percentile(xs, p)).toBe(want);
  });

  test('no samples → NaN', () => {
    expect(percentile([], 50)).toBeNaN();
  });

  test('latencySummary sorts numerically (not as strings)', () => {
    expect(latencySummary([10, 9, 100, 2, 1])).toEqual({ p50Ms: 9, p99Ms: 100 });
  });
});

describe('median', () => {
  test.each([
    { xs: [3, 1, 2], want: 2 },
    { xs: [4, 1, 3, 2], want: 2.5 },
    { xs: [5], want: 5 },
    { xs: [10, NaN, 30], want: 20 },
  ])('$xs → $want', ({ xs, want }) => {
    expect(median(xs)).toBe(want);
  });

  test('nothing but NaN → NaN', () => {
    expect(median([NaN])).toBeNaN();
    expect(median([])).toBeNaN();
  });

  test('does not reorder its input', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('spread: (max − min) / median', () => {
  test.each([
    { xs: [100, 100, 100], want: 0 },
    { xs: [90, 100, 110], want: 0.2 },
    { xs: [50, 100, 200], want: 1.5 },
    { xs: [42], want: 0 },
    { xs: [0, 0], want: 0 },
  ])('$xs → $want', ({ xs, want }) => {
    expect(spread(xs)).toBeCloseTo(want, 10);
  });

  test('median 0 with other values, or no values → NaN', () => {
    expect(spread([0, 0, 5])).toBeNaN();
    expect(spread([])).toBeNaN();
  });
});

describe('ratio', () => {
  test('subject over reference', () => {
    expect(ratio(150, 100)).toBe(1.5);
    expect(ratio(50, 200)).toBe(0.25);
  });
  test('missing figures or a zero reference → NaN', () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(NaN, 1)).toBeNaN();
    expect(ratio(1, NaN)).toBeNaN();
  });
});

describe('sideOrder: sides alternate per round', () => {
  test('two sides: etcd, raftkv, raftkv, etcd, etcd, raftkv', () => {
    const order = [0, 1, 2].flatMap((r) => sideOrder(['etcd', 'raftkv'], r));
    expect(order).toEqual(['etcd', 'raftkv', 'raftkv', 'etcd', 'etcd', 'raftkv']);
  });

  test('three sides: reversed every other round, so over two rounds each side has the same summed position', () => {
    const sides = ['etcd', 'raftkv', 'etcd-again'];
    expect(sideOrder(sides, 0)).toEqual(['etcd', 'raftkv', 'etcd-again']);
    expect(sideOrder(sides, 1)).toEqual(['etcd-again', 'raftkv', 'etcd']);
    const position = (s: string) => sideOrder(sides, 0).indexOf(s) + sideOrder(sides, 1).indexOf(s);
    expect(new Set(sides.map(position)).size).toBe(1);
  });

  test('does not reorder its input', () => {
    const sides = ['a', 'b'];
    sideOrder(sides, 1);
    expect(sides).toEqual(['a', 'b']);
  });
});

describe('sideStats over rounds', () => {
  test('medians and spreads per figure, errors summed', () => {
    const s = sideStats([
      { value: 100, p50Ms: 1, p99Ms: 10, errors: 0 },
      { value: 120, p50Ms: 2, p99Ms: 30, errors: 2 },
      { value: 80, p50Ms: 3, p99Ms: 20, errors: 1 },
    ]);
    expect(s.median).toEqual({ value: 100, p50Ms: 2, p99Ms: 20 });
    expect(s.spread.value).toBeCloseTo(0.4, 10);
    expect(s.spread.p99Ms).toBeCloseTo(1, 10);
    expect(s.errors).toBe(3);
  });

  test('a failed round (NaN) does not drag the median; rows without latencies have NaN p99', () => {
    const s = sideStats([{ value: NaN, errors: 1 }, { value: 200, errors: 0 }, { value: 300, errors: 0 }]);
    expect(s.median.value).toBe(250);
    expect(s.median.p99Ms).toBeNaN();
    expect(s.errors).toBe(1);
  });
});

describe('noiseBand', () => {
  test('the largest factor either way between the same server and itself', () => {
    expect(noiseBand([0.8, 1.1, 1.05])).toEqual({ min: 0.8, max: 1.1, factor: 1.25 });
    expect(noiseBand([1.5, 0.9])).toEqual({ min: 0.9, max: 1.5, factor: 1.5 });
  });
  test('NaN ratios (failed rows) are left out', () => {
    expect(noiseBand([NaN, 1.2])).toEqual({ min: 1.2, max: 1.2, factor: 1.2 });
    expect(noiseBand([NaN]).factor).toBeNaN();
  });
});
