// etcd refuses a txn that writes one key twice ("duplicate key given in txn request"). The
// check runs on the gRPC path before proposing, on every txn, so it must stay cheap for the
// largest txn a member accepts: O(n log n) here, where a put-against-every-delete scan is
// O(puts × deletes) (10,000 of each: 10^8 comparisons, seconds of a blocked event loop).
//
// The rule kept here is the one validate.ts applied before (modelled on etcd 3.4's
// checkIntervals; its test keeps the old pairwise check as the model): at each list of ops (a txn branch), a write comes from a "source": each direct
// delete, each nested txn (both of its branches together), each direct put. Then
//  - a key put by two different sources of one list is a duplicate;
//  - a put conflicts with a delete interval of the same list that comes BEFORE its source,
//    in the order: direct deletes, then nested txns in order, then direct puts. So a put
//    in nested txn i sees the list's direct deletes and the deletes of nested txns j < i,
//    not those of nested txns after it;
//  - the then and else branches of one txn exclude each other: they never conflict, and
//    a txn's top-level success and failure lists are checked apart.
// Delete intervals are [key, range_end), or [key, key+"\0") for a single key; a range end of
// "\0" (that means "to the end" elsewhere) compares as the string "\0", so it covers nothing.
//
// How: one walk in that order, keeping the writes seen so far that a later put can meet —
// put keys in a counting map, delete intervals as +1/-1 on a Fenwick tree over the sorted
// distinct keys and ends, so "is this key inside some delete" is a prefix sum. Exclusive
// branches are walked one after the other: the first one's writes are taken out (undo log)
// while the second runs, then put back, because what follows the nested txn meets both.
// Walking the branch with fewer writes first bounds the undo work: a write is undone only
// when it sits in the smaller branch, which happens at most log2(n) times along its path.
import type { etcdserverpb } from '@raftkv/api';

/** Elementary steps taken (comparisons, tree and map operations), for tests that bound the work. */
export interface WorkCounter { steps: number }

type Ops = etcdserverpb.RequestOp[];

/** A delete interval as indexes into the sorted coordinates: covers [lo, hi). */
interface DelWrite { put: false; lo: number; hi: number }
interface PutWrite { put: true; key: string }
type Write = DelWrite | PutWrite;

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/**
 * [begin, end) of a deleteRange as latin1 strings (their order is byte order); undefined when
 * it covers no key. An end of '' stands for "after every key" (never produced by a request,
 * kept so the rule reads as etcd's).
 */
function deleteInterval(d: etcdserverpb.DeleteRangeRequest): { begin: string; end: string } | undefined {
  const begin = latin1(d.key);
  const end = d.rangeEnd.length > 0 ? latin1(d.rangeEnd) : `${begin}\x00`;
  if (end !== '' && begin >= end) return undefined;
  return { begin, end };
}

class Fenwick {
  private readonly t: Int32Array;
  constructor(size: number, private readonly counter: WorkCounter) {
    this.t = new Int32Array(size + 1);
  }

  /** Adds v at position i (0-based). */
  add(i: number, v: number): void {
    for (let j = i + 1; j < this.t.length; j += j & -j) {
      this.t[j]! += v;
      this.counter.steps++;
    }
  }

  /** Sum of positions 0..i. */
  prefix(i: number): number {
    let s = 0;
    for (let j = i + 1; j > 0; j -= j & -j) {
      s += this.t[j]!;
      this.counter.steps++;
    }
    return s;
  }
}

/** The writes seen so far that later puts of the walk must not meet. */
class Seen {
  private readonly puts = new Map<string, number>();
  private readonly dels: Fenwick;
  /** Every write applied, in order, so a branch's writes can be taken out and put back. */
  readonly log: Write[] = [];

  constructor(private readonly coord: Map<string, number>, private readonly counter: WorkCounter) {
    this.dels = new Fenwick(coord.size + 1, counter);
  }

  index(s: string): number {
    this.counter.steps++;
    return this.coord.get(s)!;
  }

  apply(w: Write): void {
    this.log.push(w);
    this.change(w, 1);
  }

  change(w: Write, by: 1 | -1): void {
    if (w.put) {
      this.counter.steps++;
      this.puts.set(w.key, (this.puts.get(w.key) ?? 0) + by);
    } else {
      this.dels.add(w.lo, by);
      this.dels.add(w.hi, -by);
    }
  }

  /** Whether a put of `key` meets an earlier put or falls inside a delete. */
  meets(key: string): boolean {
    this.counter.steps++;
    if ((this.puts.get(key) ?? 0) > 0) return true;
    return this.dels.prefix(this.index(key)) > 0;
  }
}

/**
 * The common txn (puts and ranges only, no delete or nested txn in the list): a duplicate is a
 * key put twice, one set lookup per put. undefined when the list needs the full walk. Writing
 * many keys in one txn is how a bulk load goes, so this is most of the check's work there.
 */
function flatPutsHaveDuplicate(ops: Ops, counter: WorkCounter): boolean | undefined {
  let puts: Set<string> | undefined;
  for (const op of ops) {
    if (op.requestDeleteRange || op.requestTxn) return undefined;
    if (!op.requestPut) continue;
    puts ??= new Set();
    const key = latin1(op.requestPut.key);
    counter.steps++;
    if (puts.has(key)) return true;
    puts.add(key);
  }
  return false;
}

/**
 * Whether a txn writes a key twice, by etcd's rule (see the top of this file): O(n log n) in
 * the number of ops at every depth. Recursion depth is the txn's nesting depth, which
 * checkTxnOps bounds first.
 */
export function hasDuplicateWrites(t: etcdserverpb.TxnRequest, counter: WorkCounter = { steps: 0 }): boolean {
  // The branches are checked apart: one found flat needs no walk.
  const success = flatPutsHaveDuplicate(t.success, counter);
  if (success === true) return true;
  const failure = flatPutsHaveDuplicate(t.failure, counter);
  if (failure === true) return true;
  if (success === false && failure === false) return false;
  const keys: string[] = [];
  const writeCount = new WeakMap<Ops, number>();
  const collect = (ops: Ops): number => {
    let n = writeCount.get(ops);
    if (n !== undefined) return n;
    n = 0;
    for (const op of ops) {
      if (op.requestPut) {
        keys.push(latin1(op.requestPut.key));
        n++;
      }
      if (op.requestDeleteRange) {
        const d = deleteInterval(op.requestDeleteRange);
        if (d) {
          keys.push(d.begin);
          if (d.end !== '') keys.push(d.end);
          n++;
        }
      }
      if (op.requestTxn) n += collect(op.requestTxn.success) + collect(op.requestTxn.failure);
    }
    writeCount.set(ops, n);
    return n;
  };
  collect(t.success);
  collect(t.failure);
  if (keys.length === 0) return false;

  keys.sort((a, b) => {
    counter.steps++;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const coord = new Map<string, number>();
  for (const k of keys) if (!coord.has(k)) coord.set(k, coord.size);
  const endOfKeys = coord.size; // the position of an infinite end

  const walk = (ops: Ops, seen: Seen): boolean => {
    for (const op of ops) {
      const d = op.requestDeleteRange && deleteInterval(op.requestDeleteRange);
      if (d) seen.apply({ put: false, lo: seen.index(d.begin), hi: d.end === '' ? endOfKeys : seen.index(d.end) });
    }
    for (const op of ops) {
      if (!op.requestTxn) continue;
      const { success, failure } = op.requestTxn;
      const [first, second] = writeCount.get(success)! <= writeCount.get(failure)! ? [success, failure] : [failure, success];
      const mark = seen.log.length;
      if (walk(first, seen)) return true;
      const firstWrites = seen.log.splice(mark);
      for (const w of firstWrites) seen.change(w, -1);
      if (walk(second, seen)) return true;
      for (const w of firstWrites) seen.apply(w);
    }
    for (const op of ops) {
      if (!op.requestPut) continue;
      const key = latin1(op.requestPut.key);
      if (seen.meets(key)) return true;
      seen.apply({ put: true, key });
    }
    return false;
  };
  return walk(t.success, new Seen(coord, counter)) || walk(t.failure, new Seen(coord, counter));
}
