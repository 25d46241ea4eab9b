// The statistics every benchmark here prints: percentiles of one cell's latencies, and the
// median, spread and ratio of a figure over rounds. Pure functions, unit-tested.

/**
 * The nearest-rank percentile of an ascending array: the smallest sample with at least p % of
 * the samples at or below it. NaN for no samples.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** The median (the mean of the two middle values for an even count); NaN values are ignored. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * How far the rounds of one figure lie apart, relative to their median: (max − min) / median.
 * 0 for a single round; NaN when the median is 0 or there are no values.
 */
export function spread(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x));
  if (s.length === 0) return NaN;
  const m = median(s);
  if (m === 0) return s.every((x) => x === 0) ? 0 : NaN;
  return (Math.max(...s) - Math.min(...s)) / Math.abs(m);
}

/** subject / reference; NaN when either is missing or the reference is 0. */
export function ratio(subject: number, reference: number): number {
  if (Number.isNaN(subject) || Number.isNaN(reference) || reference === 0) return NaN;
  return subject / reference;
}

/**
 * The order in which the sides run in round `round` (0-based): as given in even rounds,
 * reversed in odd ones — etcd, raftkv, raftkv, etcd, ... — so a side is not always the first
 * on a cold machine or the last on a hot one, and each pair of rounds is symmetric.
 */
export function sideOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse();
}

/** Latency samples of one cell, summarised. */
export function latencySummary(latenciesMs: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(latenciesMs).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}
