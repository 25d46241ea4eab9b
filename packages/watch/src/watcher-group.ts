import { IntervalTree } from './interval-tree.js';
import type { Watcher } from './watcher.js';

/**
 * A set of watchers indexed by what they watch: single keys in a hash map, ranges in an
 * interval tree (watchers on the same range share one node). Each watcher sits in
 * exactly one place, so a lookup by key visits each matching watcher once.
 */
export class WatcherGroup {
  private readonly keyWatchers = new Map<string, Set<Watcher>>();
  private readonly ranges = new IntervalTree<Set<Watcher>>();
  readonly watchers = new Set<Watcher>();
  private prevKvWatchers = 0;

  get size(): number {
    return this.watchers.size;
  }

  has(w: Watcher): boolean {
    return this.watchers.has(w);
  }

  /** Whether a watcher of the group asked for prev_kv (the store reads previous values only then). */
  get wantsPrevKv(): boolean {
    return this.prevKvWatchers > 0;
  }

  add(w: Watcher): void {
    if (this.watchers.has(w)) throw new Error('watcher added to a group twice');
    this.watchers.add(w);
    if (w.prevKv) this.prevKvWatchers++;
    const { key, end } = w.range;
    if (end === undefined) {
      let set = this.keyWatchers.get(key);
      if (!set) {
        set = new Set();
        this.keyWatchers.set(key, set);
      }
      set.add(w);
      return;
    }
    this.ranges.getOrInsert(key, end, () => new Set()).add(w);
  }

  /** Removes `w`; returns false when it was not in this group. */
  delete(w: Watcher): boolean {
    if (!this.watchers.delete(w)) return false;
    if (w.prevKv) this.prevKvWatchers--;
    const { key, end } = w.range;
    if (end === undefined) {
      const set = this.keyWatchers.get(key)!;
      set.delete(w);
      if (set.size === 0) this.keyWatchers.delete(key);
      return true;
    }
    const set = this.ranges.find(key, end)!;
    set.delete(w);
    if (set.size === 0) this.ranges.delete(key, end);
    return true;
  }

  /** Appends every watcher whose key or range contains `key` to `out`. */
  collect(key: string, out: Watcher[]): void {
    const single = this.keyWatchers.get(key);
    if (single) for (const w of single) out.push(w);
    if (this.ranges.size > 0) {
      this.ranges.stab(key, (set) => {
        for (const w of set) out.push(w);
      });
    }
  }
}
