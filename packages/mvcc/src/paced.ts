/**
 * How a long read shares the thread with everything else: after about `entriesPerStep`
 * entries of work it awaits `pause()`. The server passes a promise of `setImmediate`, so
 * other requests (and raft) run between steps; tests pass a hook that writes or compacts
 * there. (This package keeps timers out: the pause is injected.)
 */
export interface ReadPacing {
  pause(): Promise<void>;
  /** Entries handled between two pauses; at least 1. */
  entriesPerStep: number;
}

/** Counts work and says when a step is over. */
export class Pacer {
  private done = 0;
  readonly step: number;

  constructor(private readonly pacing: ReadPacing) {
    if (!Number.isSafeInteger(pacing.entriesPerStep) || pacing.entriesPerStep < 1) {
      throw new RangeError(`entriesPerStep must be a positive integer, got ${pacing.entriesPerStep}`);
    }
    this.step = pacing.entriesPerStep;
  }

  /** Counts `n` entries; true when a step is full (then call {@link pause}). */
  tick(n = 1): boolean {
    this.done += n;
    if (this.done < this.step) return false;
    this.done = 0;
    return true;
  }

  pause(): Promise<void> {
    return this.pacing.pause();
  }
}

/**
 * A stable sort in steps: runs of one step are sorted with Array.prototype.sort (stable), then
 * merged pairwise, pausing every step of moved entries. Same order as `items.slice().sort(cmp)`
 * for any consistent comparator. `check` runs after every pause (it throws to abandon).
 */
export async function sortPaced<T>(items: T[], cmp: (a: T, b: T) => number, pacer: Pacer, check: () => void): Promise<T[]> {
  const run = pacer.step;
  let src = items.slice();
  for (let i = 0; i < src.length; i += run) {
    const sorted = src.slice(i, i + run).sort(cmp);
    for (let j = 0; j < sorted.length; j++) src[i + j] = sorted[j]!;
    if (pacer.tick(sorted.length) && i + run < src.length) {
      await pacer.pause();
      check();
    }
  }
  let dst: T[] = new Array<T>(src.length);
  for (let width = run; width < src.length; width *= 2) {
    for (let lo = 0; lo < src.length; lo += 2 * width) {
      const mid = Math.min(lo + width, src.length);
      const hi = Math.min(lo + 2 * width, src.length);
      let a = lo;
      let b = mid;
      let o = lo;
      while (a < mid || b < hi) {
        // Ties take the left run first: that keeps the sort stable.
        if (b >= hi || (a < mid && cmp(src[a]!, src[b]!) <= 0)) dst[o++] = src[a++]!;
        else dst[o++] = src[b++]!;
        if (pacer.tick()) {
          await pacer.pause();
          check();
        }
      }
    }
    [src, dst] = [dst, src];
  }
  return src;
}
