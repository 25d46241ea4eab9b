import { EtcdErrors, type etcdserverpb } from '@raftkv/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deleteRangeRequest, putRequest, rangeRequest, txnRequest } from '@raftkv/testkit';
import { hasDuplicateWrites, type WorkCounter } from './txn-duplicates.js';
import { checkTxn } from './validate.js';

// The model: the pairwise check validate.ts used before (each put against every delete
// interval, puts collected level by level), kept verbatim in behaviour.
interface DeleteInterval { begin: Buffer; end: Buffer }
const DUPLICATE = Symbol('duplicate key');

function deleted(dels: DeleteInterval[], key: Buffer): boolean {
  for (const d of dels) {
    if (Buffer.compare(key, d.begin) < 0) continue;
    if (d.end.length === 0 || Buffer.compare(key, d.end) < 0) return true;
  }
  return false;
}

function collectWrites(ops: etcdserverpb.RequestOp[]): { puts: Set<string>; dels: DeleteInterval[] } {
  const dels: DeleteInterval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (!d) continue;
    dels.push(d.rangeEnd.length > 0
      ? { begin: d.key, end: d.rangeEnd }
      : { begin: d.key, end: Buffer.concat([d.key, Buffer.from([0])]) });
  }
  const puts = new Set<string>();
  const keyOf = (k: string) => Buffer.from(k, 'latin1');
  for (const op of ops) {
    if (!op.requestTxn) continue;
    const then = collectWrites(op.requestTxn.success);
    const otherwise = collectWrites(op.requestTxn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(dels, keyOf(k))) throw DUPLICATE;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw DUPLICATE;
      if (deleted(dels, keyOf(k))) throw DUPLICATE;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!op.requestPut) continue;
    const k = op.requestPut.key.toString('latin1');
    if (puts.has(k) || deleted(dels, op.requestPut.key)) throw DUPLICATE;
    puts.add(k);
  }
  return { puts, dels };
}

function modelHasDuplicate(t: etcdserverpb.TxnRequest): boolean {
  try {
    collectWrites(t.success);
    collectWrites(t.failure);
  } catch (e) {
    if (e === DUPLICATE) return true;
    throw e;
  }
  return false;
}

const b = (s: string) => Buffer.from(s, 'latin1');
const put = (k: string): etcdserverpb.RequestOp => ({ requestPut: putRequest({ key: b(k) }) });
const del = (k: string, end = ''): etcdserverpb.RequestOp => ({ requestDeleteRange: deleteRangeRequest({ key: b(k), rangeEnd: b(end) }) });
const range = (k: string): etcdserverpb.RequestOp => ({ requestRange: rangeRequest({ key: b(k) }) });
const txn = (success: etcdserverpb.RequestOp[], failure: etcdserverpb.RequestOp[] = []): etcdserverpb.RequestOp =>
  ({ requestTxn: txnRequest({ success, failure }) });

// Keys of up to two chars from a three-letter alphabet with "\0": ends equal to keys, to
// keys+"\0", the "\0" quirk and empty intervals all come up often.
const keyArb = fc.string({ unit: fc.constantFrom('\x00', 'a', 'b'), maxLength: 2 });
const opArb: fc.Arbitrary<etcdserverpb.RequestOp> = fc.letrec<{ op: etcdserverpb.RequestOp; ops: etcdserverpb.RequestOp[] }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: keyArb.map(put) },
    { weight: 3, arbitrary: fc.tuple(keyArb, fc.oneof(fc.constant(''), fc.constant('\x00'), keyArb)).map(([k, e]) => del(k, e)) },
    { weight: 1, arbitrary: keyArb.map((k): etcdserverpb.RequestOp => ({ requestRange: rangeRequest({ key: b(k) }) })) },
    // Not sent by etcd's clients, but the wire allows it: one op carrying a put and a delete.
    { weight: 1, arbitrary: fc.tuple(keyArb, keyArb).map(([p, d]) => ({ ...put(p), ...del(d) })) },
    { weight: 2, arbitrary: fc.tuple(tie('ops'), tie('ops')).map(([s, f]) => txn(s, f)) },
  ),
  ops: fc.array(tie('op'), { maxLength: 4 }),
})).op;
const txnArb = fc.tuple(fc.array(opArb, { maxLength: 5 }), fc.array(opArb, { maxLength: 3 }))
  .map(([success, failure]) => txnRequest({ success, failure }));

describe('hasDuplicateWrites', () => {
  it('agrees with the pairwise model on random nested txns', () => {
    const outcomes = { duplicate: 0, clean: 0 };
    fc.assert(fc.property(txnArb, (t) => {
      const want = modelHasDuplicate(t);
      outcomes[want ? 'duplicate' : 'clean']++;
      expect(hasDuplicateWrites(t)).toBe(want);
    }), { seed: 10_2024, numRuns: 5000 });
    // Both answers must be common, or the property proves little.
    expect(outcomes.duplicate).toBeGreaterThan(1000);
    expect(outcomes.clean).toBeGreaterThan(1000);
  });

  it.each([
    { name: 'a delete of a nested txn before a put of a later one', success: [txn([del('a')]), txn([put('a')])], want: true },
    { name: 'a put of a nested txn before a delete of a later one (not checked)', success: [txn([put('a')]), txn([del('a')])], want: false },
    { name: 'a then-delete and an else-put of one txn', success: [txn([del('a', 'z')], [put('b')])], want: false },
    { name: 'an outer put after a txn that deletes it in either branch', success: [txn([], [del('b')]), put('b')], want: true },
    { name: 'a direct delete listed after a nested put', success: [txn([put('b')]), del('a', 'c')], want: true },
    { name: 'success and failure of the request itself', success: [put('a')], failure: [put('a'), del('b')], want: false },
    { name: 'a range end of "\\0" covers nothing', success: [del('a', '\x00'), put('a')], want: false },
    { name: 'an empty interval', success: [del('b', 'a'), put('b')], want: false },
    // Lists of puts and ranges only take the one-set path.
    { name: 'one key put twice among puts and ranges', success: [put('a'), range('a'), put('b'), put('a')], want: true },
    { name: 'distinct puts and a range of one of them', success: [put('a'), range('a'), put('b')], want: false },
    { name: 'a flat success, a failure that puts one key twice after a delete', success: [put('a')], failure: [del('c'), put('b'), put('b')], want: true },
    { name: 'a nested success, a flat failure that puts one key twice', success: [txn([put('a')])], failure: [put('b'), put('b')], want: true },
  ])('$name', ({ success, failure, want }) => {
    const t = txnRequest({ success, failure: failure ?? [] });
    expect(modelHasDuplicate(t)).toBe(want);
    expect(hasDuplicateWrites(t)).toBe(want);
  });

  /** 10,000 puts and 10,000 single-key deletes of distinct keys, interleaved; nothing overlaps. */
  const wide = (n: number) => txnRequest({
    success: Array.from({ length: n }, (_, i) => [put(`p/${String(i).padStart(6, '0')}`), del(`d/${String(i).padStart(6, '0')}`)]).flat(),
  });

  it('checks 10,000 puts and 10,000 deletes in O(n log n) steps', () => {
    const steps = (t: etcdserverpb.TxnRequest) => {
      const c: WorkCounter = { steps: 0 };
      expect(hasDuplicateWrites(t, c)).toBe(false);
      return c.steps;
    };
    const n = 10_000;
    const big = steps(wide(n));
    // 2n writes: sorting ~4n keys, a handful of Fenwick steps of log2(4n) each per write.
    // The pairwise check makes n * n = 10^8 comparisons for the same txn.
    expect(big).toBeLessThan(60 * 2 * n * Math.log2(4 * n));
    expect(big).toBeLessThan((n * n) / 100);
    // Doubling the txn a little more than doubles the work, never quadruples it.
    expect(steps(wide(2 * n)) / big).toBeLessThan(2.5);
    // And through checkTxn with --max-txn-ops raised: accepted, then refused once one put repeats a delete.
    const t = wide(n);
    expect(checkTxn(t, 2 * n)).toBeUndefined();
    t.success.push(put('d/000123'));
    expect(checkTxn(t, 2 * n + 1)).toBe(EtcdErrors.DuplicateKey);
  });

  it('nested txns deep and wide: the undo work stays O(n log n)', () => {
    // A chain of txns whose then-branch holds everything below and whose else-branch holds
    // half as many writes again: walking the smaller branch first keeps re-adding cheap.
    const chain = (depth: number, perLevel: number) => {
      let inner: etcdserverpb.RequestOp[] = [];
      for (let d = 0; d < depth; d++) {
        const mine = Array.from({ length: perLevel }, (_, i) => put(`l${d}/${i}`));
        inner = [txn([...inner, ...mine], mine.map((op) => del(`x${d}/${op.requestPut!.key.toString()}`)))];
      }
      return txnRequest({ success: inner });
    };
    const steps = (t: etcdserverpb.TxnRequest) => {
      const c: WorkCounter = { steps: 0 };
      expect(hasDuplicateWrites(t, c)).toBe(false);
      return c.steps;
    };
    const small = steps(chain(50, 20));
    const large = steps(chain(100, 20)); // twice the writes; the naive undo would be 4x
    expect(large / small).toBeLessThan(2.8);
    expect(modelHasDuplicate(chain(50, 20))).toBe(false);
  });
});
