import { etcdserverpb } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import { Cmp, Namespace, Op, prefixEnd, rangeRequest, txnReadOnly, txnRequest } from './kv.js';

const b = (s: string) => Buffer.from(s);

describe('prefixEnd', () => {
  it.each([
    ['a', 'b'], ['a/', 'a0'], ['a\xff', 'b'], ['', '\0'], ['\xff\xff', '\0'],
  ])('%j -> %j', (p, end) => {
    expect(prefixEnd(Buffer.from(p, 'latin1'))).toEqual(Buffer.from(end, 'latin1'));
  });
});

describe('Namespace (etcd clientv3/namespace layout)', () => {
  const ns = new Namespace(b('app/'));
  it.each([
    ['one key', 'k', {}, 'app/k', ''],
    ['a prefix', 'k', { prefix: true }, 'app/k', 'app/l'],
    ['every key of the namespace', '', { prefix: true }, 'app/', 'app0'],
    ['from a key to the end of the namespace', 'k', { fromKey: true }, 'app/k', 'app0'],
    ['a range', 'a', { rangeEnd: 'c' }, 'app/a', 'app/c'],
  ])('%s', (_name, key, sel, wantKey, wantEnd) => {
    const r = ns.range(key, sel);
    expect(r.key.toString()).toBe(wantKey);
    expect(r.rangeEnd.toString()).toBe(wantEnd);
  });
  it('strips the namespace from answers', () => {
    expect(ns.strip({ key: b('app/k'), value: b('v'), createRevision: 1n, modRevision: 1n, version: 1n, lease: 0n }).key.toString()).toBe('k');
  });
  it('without a namespace, every key ≥ key is "\\0"; an empty key with prefix or fromKey is every key', () => {
    const none = new Namespace(Buffer.alloc(0));
    expect(none.range('k', { fromKey: true }).rangeEnd).toEqual(Buffer.from([0]));
    expect(none.range('', { fromKey: true })).toEqual({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
    expect(none.range('', { prefix: true })).toEqual({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
  });
});

describe('requests', () => {
  const none = new Namespace(Buffer.alloc(0));
  it('a sort target without an order sorts ascending, as etcdctl does', () => {
    const r = rangeRequest(none, 'k', { prefix: true, sort: { target: 'mod' } });
    expect(r.sortTarget).toBe(etcdserverpb.RangeRequest_SortTarget.MOD);
    expect(r.sortOrder).toBe(etcdserverpb.RangeRequest_SortOrder.ASCEND);
  });
  it('builds compares of every target and nested txns', () => {
    const t = txnRequest(new Namespace(b('n/')), [
      Cmp.value('k', '=', 'v'), Cmp.version('k', '>', 1), Cmp.createRevision('k', '<', 5), Cmp.modRevision('k', '!=', 2n), Cmp.lease('k', '=', 7n),
    ], [Op.txn([Cmp.version('x', '=', 0)], [Op.put('x', '1', { lease: 3n })])], [Op.get('k', { prefix: true })]);
    expect(t.compare.map((c) => [c.key.toString(), c.target, c.result])).toEqual([
      ['n/k', 3, 0], ['n/k', 0, 1], ['n/k', 1, 2], ['n/k', 2, 3], ['n/k', 4, 0],
    ]);
    expect(t.compare[0]!.value?.toString()).toBe('v');
    expect(t.compare[4]!.lease).toBe(7n);
    expect(t.success[0]!.requestTxn!.success[0]!.requestPut!.key.toString()).toBe('n/x');
    expect(t.success[0]!.requestTxn!.success[0]!.requestPut!.lease).toBe(3n);
    expect(t.failure[0]!.requestRange!.rangeEnd.toString()).toBe('n/l');
    // Encodes (every field present).
    expect(etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(t).finish())).toEqual(t);
  });
  it('a txn that only reads may be retried; one that writes anywhere may not', () => {
    expect(txnReadOnly([Op.get('a'), Op.txn([], [Op.get('b')], [Op.get('c')])])).toBe(true);
    expect(txnReadOnly([Op.get('a'), Op.txn([], [Op.get('b')], [Op.delete('c')])])).toBe(false);
  });
});
