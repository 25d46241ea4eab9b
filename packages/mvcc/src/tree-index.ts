import BTreeModule from 'sorted-btree';
import { KeyIndex, RevisionSet, type KeyAt } from './key-index.js';
import type { Revision } from './revision.js';

// sorted-btree is CommonJS: under node's ESM loader the class is the module's
// `.default`, under vitest's interop the default import is the class itself.
type BTreeClass = typeof BTreeModule.default;
const BTree: BTreeClass =
  typeof BTreeModule === 'function' ? (BTreeModule as unknown as BTreeClass) : BTreeModule.default;
type Tree = import('sorted-btree').default<string, KeyIndex>;
const DELETE = { delete: true } as const;
const BREAK = { break: true } as const;

/** Node's (undocumented, long-standing) Buffer.prototype.latin1Slice, when this runtime has it. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/**
 * Keys are held as latin1 strings (one char per byte): JS string order on chars
 * 0..255 is byte order, and string compares are much cheaper than byte-array compares.
 */
export function keyString(key: Uint8Array): string {
  return keyStringAt(key, 0, key.length);
}

/** {@link keyString} of `bytes[start, end)`, without a view of it (the index rebuild makes one per stored change). */
export function keyStringAt(bytes: Uint8Array, start: number, end: number): string {
  // Buffer's latin1Slice takes any Uint8Array: ~3x faster than a Buffer view and toString,
  // and a write or watch notification makes one per key. Same string either way.
  if (latin1Slice) return latin1Slice.call(bytes, start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Upper bound of a range: `undefined` for a single key, `null` for "to the end of the
 * key space" (etcd's range_end "\0"), otherwise the exclusive end key.
 */
export type RangeEnd = string | null | undefined;

/**
 * The index as it was when {@link TreeIndex.pin} took it, for a read that runs in steps while
 * writes and compactions go on: reads at a revision <= the newest one at that time give the
 * same answers throughout. Release it when the read ends.
 */
export class PinnedIndex {
  private released = false;
  constructor(private readonly tree: Tree, private readonly onRelease: () => void) {}

  /** Key indexes in [key, end) from `key` on (`end` null: to the end), in key order. */
  *entries(key: string, end: string | null): Generator<[string, KeyIndex]> {
    for (const [k, ki] of this.tree.entries(key)) {
      if (end !== null && k >= end) return;
      yield [k, ki];
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}

/** The in-memory index from key to its generations of revisions (etcd's treeIndex). */
export class TreeIndex {
  private readonly tree: Tree = new BTree<string, KeyIndex>(undefined, compareStrings);
  /** Pinned views alive: while there are any, compaction replaces key indexes instead of changing them. */
  private pins = 0;

  get size(): number {
    return this.tree.size;
  }

  getKeyIndex(key: string): KeyIndex | undefined {
    return this.tree.get(key);
  }

  put(key: string, rev: Revision): void {
    let ki = this.tree.get(key);
    if (!ki) {
      ki = new KeyIndex(key);
      this.tree.set(key, ki);
    }
    ki.put(rev);
  }

  insert(key: string, ki: KeyIndex): void {
    this.tree.set(key, ki);
  }

  get(key: string, atRev: number): KeyAt | undefined {
    return this.tree.get(key)?.get(atRev);
  }

  /** Calls `f` for every key index in [key, end), in key order; `f` returns false to stop. */
  visit(key: string, end: RangeEnd, f: (k: string, ki: KeyIndex) => boolean | void): void {
    if (end === undefined) {
      const ki = this.tree.get(key);
      if (ki) f(key, ki);
      return;
    }
    if (end !== null && end <= key) return;
    // forRange, not entries(): no iterator result and [k, v] array per key.
    const high = end === null ? this.tree.maxKey() : end;
    if (high === undefined) return; // empty tree
    this.tree.forRange(key, high, end === null, (k, ki) => (f(k, ki) === false ? BREAK : undefined));
  }

  /** Revisions of the keys in the range that exist at `atRev`, in key order. */
  revisions(key: string, end: RangeEnd, atRev: number): KeyAt[] {
    const out: KeyAt[] = [];
    this.visit(key, end, (_k, ki) => {
      const at = ki.get(atRev);
      if (at) out.push(at);
    });
    return out;
  }

  /** Keys in the range that exist at `atRev`, with their index entries and revision then, in key order. */
  liveKeys(key: string, end: RangeEnd, atRev: number): Array<{ ks: string; ki: KeyIndex; at: KeyAt }> {
    const out: Array<{ ks: string; ki: KeyIndex; at: KeyAt }> = [];
    this.visit(key, end, (ks, ki) => {
      const at = ki.get(atRev);
      if (at) out.push({ ks, ki, at });
    });
    return out;
  }

  /**
   * A view of the index as it is now, unchanged by later compactions (the tree is cloned in
   * O(1), copy-on-write) and by later writes below the current revision (writes only append
   * newer revisions to the key indexes it shares).
   */
  pin(): PinnedIndex {
    this.pins++;
    return new PinnedIndex(this.tree.clone(), () => {
      this.pins--;
    });
  }

  /** Compacts every key at `atRev`; returns the revisions <= atRev that stay reachable. */
  compact(atRev: number): RevisionSet {
    const available = new RevisionSet();
    if (this.tree.size === 0) return available;
    if (this.pins > 0) {
      // A pinned view shares the key indexes: compact copies and swap them in.
      this.tree.editAll((_k, ki) => {
        const copy = ki.clone();
        copy.compact(atRev, available);
        return copy.isEmpty() ? { delete: true } : { value: copy };
      });
      return available;
    }
    // One pass; keys left without history are deleted during it (not looked up again after).
    this.tree.editAll((_k, ki) => {
      ki.compact(atRev, available);
      return ki.isEmpty() ? DELETE : undefined;
    });
    return available;
  }

  /**
   * {@link compact} in steps of `keysPerStep` keys, in key order, yielding between steps; returns
   * the same set. Between steps the index holds compacted keys up to {@link compactedThrough}
   * and untouched ones after it; reads at or above `atRev` see the same either way. Nothing
   * else may change the tree until it ends (writes wait). A step compacts copies while a
   * pinned view exists, as {@link compact} does.
   */
  *compactSteps(atRev: number, keysPerStep: number): Generator<void, RevisionSet> {
    const available = new RevisionSet();
    let after: string | undefined;
    this.compactedThrough = undefined;
    try {
      for (;;) {
        const low = after ?? this.tree.minKey();
        const high = this.tree.maxKey();
        if (low === undefined || high === undefined) break;
        const copies = this.pins > 0;
        let n = 0;
        let last: string | undefined;
        this.tree.editRange(low, high, true, (k, ki) => {
          if (k === after) return undefined;
          last = k;
          const full = ++n >= keysPerStep;
          let target = ki;
          if (copies) target = ki.clone();
          target.compact(atRev, available);
          if (target.isEmpty()) return full ? { delete: true, break: true } : DELETE;
          if (copies) return full ? { value: target, break: true } : { value: target };
          return full ? BREAK : undefined;
        });
        if (last !== undefined) this.compactedThrough = last;
        if (n < keysPerStep) break;
        after = last;
        yield;
      }
    } finally {
      this.compactedThrough = undefined;
    }
    return available;
  }

  /**
   * While {@link compactSteps} runs: the last key it has compacted (undefined before the first);
   * keys after it still hold what the compaction will drop.
   */
  compactedThrough: string | undefined;

  /**
   * What {@link compact} at `atRev` would keep, without changing the index. The set
   * holds the index's own Revision objects (compared by identity: cheap for hashKV).
   */
  keep(atRev: number): Set<Revision> {
    const available = new Set<Revision>();
    this.tree.forEachPair((_k, ki) => ki.keep(atRev, available));
    return available;
  }

  forEach(f: (k: string, ki: KeyIndex) => void): void {
    this.tree.forEachPair(f);
  }
}
