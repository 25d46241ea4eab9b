/**
 * etcd's pkg/adt interval tree (a red-black tree keyed by interval begin, each node keeping the
 * largest end below it), ported step for step, quirks included: permission checks must give
 * etcd's answer even where its search prunes oddly (a range that ends before its key, an
 * inverted permission), and those answers depend on the tree's shape.
 *
 * Keys compare as etcd's BytesAffineComparable: byte order, except that the empty key is
 * +infinity (so "\0" range ends, stored as empty, mean "to the end", and an empty begin
 * comes after every key).
 */

/** Byte order with the empty key as +infinity (etcd's BytesAffineComparable.Compare). */
export function affineCompare(a: Uint8Array, b: Uint8Array): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return Buffer.compare(a, b);
}

export interface Interval { begin: Uint8Array; end: Uint8Array }

/** etcd's Interval.Compare: 0 when they overlap, -1 when `a` is left of `b`, 1 when right of it. */
function compareIntervals(a: Interval, b: Interval): number {
  const beginBegin = affineCompare(a.begin, b.begin);
  const beginEnd = affineCompare(a.begin, b.end);
  const endBegin = affineCompare(a.end, b.begin);
  if (beginBegin < 0 && endBegin <= 0) return -1;
  if (beginEnd >= 0) return 1;
  return 0;
}

const enum Color { Black, Red }

interface Node {
  ivl: Interval;
  max: Uint8Array;
  left: Node;
  right: Node;
  parent: Node;
  c: Color;
}

export class IntervalTree {
  private readonly sentinel: Node;
  private root: Node;

  constructor() {
    const s = { ivl: { begin: new Uint8Array(0), end: new Uint8Array(0) }, max: new Uint8Array(0), c: Color.Black } as Node;
    s.left = s;
    s.right = s;
    s.parent = s;
    this.sentinel = s;
    this.root = s;
  }

  private color(x: Node): Color {
    return x === this.sentinel ? Color.Black : x.c;
  }

  private updateMax(x: Node): void {
    while (x !== this.sentinel) {
      const oldmax = x.max;
      let max = x.ivl.end;
      if (x.left !== this.sentinel && affineCompare(x.left.max, max) > 0) max = x.left.max;
      if (x.right !== this.sentinel && affineCompare(x.right.max, max) > 0) max = x.right.max;
      if (affineCompare(oldmax, max) === 0) break;
      x.max = max;
      x = x.parent;
    }
  }

  insert(ivl: Interval): void {
    const s = this.sentinel;
    let y = s;
    const z: Node = { ivl, max: ivl.end, left: s, right: s, parent: s, c: Color.Red };
    let x = this.root;
    while (x !== s) {
      y = x;
      x = affineCompare(z.ivl.begin, x.ivl.begin) < 0 ? x.left : x.right;
    }
    z.parent = y;
    if (y === s) {
      this.root = z;
    } else {
      if (affineCompare(z.ivl.begin, y.ivl.begin) < 0) y.left = z;
      else y.right = z;
      this.updateMax(y);
    }
    z.c = Color.Red;
    this.insertFixup(z);
  }

  private insertFixup(z: Node): void {
    while (this.color(z.parent) === Color.Red) {
      if (z.parent === z.parent.parent.left) {
        const y = z.parent.parent.right;
        if (this.color(y) === Color.Red) {
          y.c = Color.Black;
          z.parent.c = Color.Black;
          z.parent.parent.c = Color.Red;
          z = z.parent.parent;
        } else {
          if (z === z.parent.right) {
            z = z.parent;
            this.rotateLeft(z);
          }
          z.parent.c = Color.Black;
          z.parent.parent.c = Color.Red;
          this.rotateRight(z.parent.parent);
        }
      } else {
        const y = z.parent.parent.left;
        if (this.color(y) === Color.Red) {
          y.c = Color.Black;
          z.parent.c = Color.Black;
          z.parent.parent.c = Color.Red;
          z = z.parent.parent;
        } else {
          if (z === z.parent.left) {
            z = z.parent;
            this.rotateRight(z);
          }
          z.parent.c = Color.Black;
          z.parent.parent.c = Color.Red;
          this.rotateLeft(z.parent.parent);
        }
      }
    }
    this.root.c = Color.Black;
  }

  private rotateLeft(x: Node): void {
    if (x.right === this.sentinel) return;
    const y = x.right;
    x.right = y.left;
    if (y.left !== this.sentinel) y.left.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.left = x;
    this.updateMax(y);
  }

  private rotateRight(x: Node): void {
    if (x.left === this.sentinel) return;
    const y = x.left;
    x.left = y.right;
    if (y.right !== this.sentinel) y.right.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.right = x;
    this.updateMax(y);
  }

  private replaceParent(x: Node, y: Node): void {
    y.parent = x.parent;
    if (x.parent === this.sentinel) {
      this.root = y;
    } else {
      if (x === x.parent.left) x.parent.left = y;
      else x.parent.right = y;
      this.updateMax(x.parent);
    }
    x.parent = y;
  }

  /** etcd's intervalNode.visit: in order, pruned as etcd prunes; stops when `nv` returns false. */
  private visit(x: Node, iv: Interval, nv: (n: Node) => boolean): boolean {
    if (x === this.sentinel) return true;
    const v = compareIntervals(iv, x.ivl);
    if (v < 0) {
      if (!this.visit(x.left, iv, nv)) return false;
    } else if (v > 0) {
      const maxiv: Interval = { begin: x.ivl.begin, end: x.max };
      if (compareIntervals(maxiv, iv) === 0) {
        if (!this.visit(x.left, iv, nv) || !this.visit(x.right, iv, nv)) return false;
      }
    } else if (!this.visit(x.left, iv, nv) || !nv(x) || !this.visit(x.right, iv, nv)) {
      return false;
    }
    return true;
  }

  /** etcd's Intersects: some node overlaps `iv`. */
  intersects(iv: Interval): boolean {
    let x = this.root;
    while (x !== this.sentinel && compareIntervals(iv, x.ivl) !== 0) {
      x = x.left !== this.sentinel && affineCompare(x.left.max, iv.begin) > 0 ? x.left : x.right;
    }
    return x !== this.sentinel;
  }

  /** etcd's Contains: the nodes it visits for `ivl` cover it without a gap. */
  contains(ivl: Interval): boolean {
    let minBegin: Uint8Array | undefined;
    let maxEnd: Uint8Array | undefined;
    let contiguous = true;
    this.visit(this.root, ivl, (n) => {
      if (minBegin === undefined || maxEnd === undefined) {
        minBegin = n.ivl.begin;
        maxEnd = n.ivl.end;
        return true;
      }
      if (affineCompare(maxEnd, n.ivl.begin) < 0) {
        contiguous = false;
        return false;
      }
      if (affineCompare(n.ivl.end, maxEnd) > 0) maxEnd = n.ivl.end;
      return true;
    });
    return contiguous && minBegin !== undefined && maxEnd !== undefined
      && affineCompare(maxEnd, ivl.end) >= 0 && affineCompare(minBegin, ivl.begin) <= 0;
  }
}
