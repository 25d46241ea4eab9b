import { endAfter } from './key-range.js';

/**
 * An interval tree over binary-string keys: a treap ordered by (start, end), each node
 * augmented with the greatest end in its subtree so a stabbing query skips subtrees
 * that end at or before the point. Intervals are half-open [start, end); end '' means
 * +infinity. One value per distinct interval (watchers on the same range share a node).
 *
 * Priorities come from a fixed xorshift sequence, not Math.random: the structure is
 * deterministic for a given sequence of operations (the package bans ambient randomness).
 */
interface Node<V> {
  start: string;
  end: string;
  maxEnd: string;
  prio: number;
  value: V;
  left: Node<V> | undefined;
  right: Node<V> | undefined;
}

function maxOfEnds(a: string, b: string): string {
  if (a === '' || b === '') return '';
  return a > b ? a : b;
}

function compare(aStart: string, aEnd: string, bStart: string, bEnd: string): number {
  if (aStart !== bStart) return aStart < bStart ? -1 : 1;
  if (aEnd === bEnd) return 0;
  if (aEnd === '') return 1;
  if (bEnd === '') return -1;
  return aEnd < bEnd ? -1 : 1;
}

export class IntervalTree<V> {
  private root: Node<V> | undefined;
  private seed = 0x9e3779b9;
  private count = 0;

  get size(): number {
    return this.count;
  }

  private nextPrio(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  private static fix<V>(n: Node<V>): void {
    let m = n.end;
    if (n.left) m = maxOfEnds(m, n.left.maxEnd);
    if (n.right) m = maxOfEnds(m, n.right.maxEnd);
    n.maxEnd = m;
  }

  private static rotateRight<V>(n: Node<V>): Node<V> {
    const l = n.left!;
    n.left = l.right;
    l.right = n;
    IntervalTree.fix(n);
    IntervalTree.fix(l);
    return l;
  }

  private static rotateLeft<V>(n: Node<V>): Node<V> {
    const r = n.right!;
    n.right = r.left;
    r.left = n;
    IntervalTree.fix(n);
    IntervalTree.fix(r);
    return r;
  }

  /** The value stored for exactly [start, end), if any. */
  find(start: string, end: string): V | undefined {
    let n = this.root;
    while (n) {
      const c = compare(start, end, n.start, n.end);
      if (c === 0) return n.value;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** Returns the value for [start, end), inserting `make()` when the interval is new. */
  getOrInsert(start: string, end: string, make: () => V): V {
    const existing = this.find(start, end);
    if (existing !== undefined) return existing;
    const value = make();
    this.root = this.insertAt(this.root, { start, end, maxEnd: end, prio: this.nextPrio(), value, left: undefined, right: undefined });
    this.count++;
    return value;
  }

  private insertAt(n: Node<V> | undefined, fresh: Node<V>): Node<V> {
    if (!n) return fresh;
    if (compare(fresh.start, fresh.end, n.start, n.end) < 0) {
      n.left = this.insertAt(n.left, fresh);
      if (n.left.prio > n.prio) n = IntervalTree.rotateRight(n);
    } else {
      n.right = this.insertAt(n.right, fresh);
      if (n.right.prio > n.prio) n = IntervalTree.rotateLeft(n);
    }
    IntervalTree.fix(n);
    return n;
  }

  /** Removes [start, end); returns whether it was present. */
  delete(start: string, end: string): boolean {
    const before = this.count;
    this.root = this.deleteAt(this.root, start, end);
    return this.count < before;
  }

  private deleteAt(n: Node<V> | undefined, start: string, end: string): Node<V> | undefined {
    if (!n) return undefined;
    const c = compare(start, end, n.start, n.end);
    if (c < 0) n.left = this.deleteAt(n.left, start, end);
    else if (c > 0) n.right = this.deleteAt(n.right, start, end);
    else {
      this.count--;
      return this.merge(n.left, n.right);
    }
    IntervalTree.fix(n);
    return n;
  }

  private merge(a: Node<V> | undefined, b: Node<V> | undefined): Node<V> | undefined {
    if (!a) return b;
    if (!b) return a;
    if (a.prio > b.prio) {
      a.right = this.merge(a.right, b);
      IntervalTree.fix(a);
      return a;
    }
    b.left = this.merge(a, b.left);
    IntervalTree.fix(b);
    return b;
  }

  /** Calls `visit` with the value of every interval containing `point`. */
  stab(point: string, visit: (value: V) => void): void {
    this.stabAt(this.root, point, visit);
  }

  private stabAt(n: Node<V> | undefined, point: string, visit: (value: V) => void): void {
    // Iterate down the right spine, recurse only into left children: depth stays O(log n).
    while (n && endAfter(n.maxEnd, point)) {
      this.stabAt(n.left, point, visit);
      if (n.start > point) return; // right subtree starts even later
      if (endAfter(n.end, point)) visit(n.value);
      n = n.right;
    }
  }

  /** True when some interval contains `point`. */
  intersects(point: string): boolean {
    let found = false;
    this.stab(point, () => {
      found = true;
    });
    return found;
  }
}
