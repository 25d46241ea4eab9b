import { EtcdErrors, type etcdserverpb } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import { deleteRangeRequest, putRequest, rangeRequest, txnRequest } from '@raftkv/testkit';
import { checkPut, checkSortOptions, checkTxn } from './validate.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const put = (k: string): etcdserverpb.RequestOp => ({ requestPut: putRequest({ key: b(k) }) });
const del = (k: string, end = ''): etcdserverpb.RequestOp => ({ requestDeleteRange: deleteRangeRequest({ key: b(k), rangeEnd: b(end) }) });
const get = (k: string): etcdserverpb.RequestOp => ({ requestRange: rangeRequest({ key: b(k) }) });
const txn = (success: etcdserverpb.RequestOp[], failure: etcdserverpb.RequestOp[] = []): etcdserverpb.RequestOp =>
  ({ requestTxn: txnRequest({ success, failure }) });

describe('checkTxn', () => {
  it.each([
    { name: 'distinct puts', success: [put('a'), put('b')], want: undefined },
    { name: 'the same key put twice', success: [put('a'), put('a')], want: EtcdErrors.DuplicateKey },
    { name: 'a put and a delete of one key', success: [put('a'), del('a')], want: EtcdErrors.DuplicateKey },
    { name: 'a put inside a deleted range', success: [del('a', 'c'), put('b')], want: EtcdErrors.DuplicateKey },
    { name: 'a put just past a deleted range', success: [del('a', 'c'), put('c')], want: undefined },
    { name: 'a put after a delete to the end (etcd compares "\\0" as a string)', success: [del('a', '\x00'), put('b')], want: undefined },
    { name: 'then and else of a nested txn may put one key', success: [txn([put('a')], [put('a')])], want: undefined },
    { name: 'a nested put and an outer put of one key', success: [txn([put('a')]), put('a')], want: EtcdErrors.DuplicateKey },
    { name: 'a nested delete and an outer put of one key', success: [txn([del('a')]), put('a')], want: EtcdErrors.DuplicateKey },
    { name: 'two nested txns putting one key', success: [txn([put('a')]), txn([], [put('a')])], want: EtcdErrors.DuplicateKey },
    { name: 'reads never conflict', success: [get('a'), put('a'), get('a')], want: undefined },
    { name: 'an empty op', success: [{}], want: EtcdErrors.KeyNotFound },
    { name: 'an empty key in an op', success: [put('')], want: EtcdErrors.EmptyKey },
  ])('$name', ({ success, want }) => {
    expect(checkTxn(txnRequest({ success }), 128)).toBe(want);
  });

  it('counts the longest of compares, success and failure against the ops limit', () => {
    const ops = Array.from({ length: 4 }, (_, i) => put(`k${i}`));
    expect(checkTxn(txnRequest({ success: ops }), 4)).toBeUndefined();
    expect(checkTxn(txnRequest({ failure: [...ops, put('k9')] }), 4)).toBe(EtcdErrors.TooManyOps);
  });

  it('refuses a compare without a key', () => {
    expect(checkTxn(txnRequest({ compare: [{ key: b(''), rangeEnd: b(''), result: 0, target: 0, version: 0n }] }), 128)).toBe(EtcdErrors.EmptyKey);
  });
});

describe('checkPut', () => {
  it.each([
    { req: putRequest({ key: b('') }), want: EtcdErrors.EmptyKey },
    { req: putRequest({ key: b('a'), ignoreValue: true, value: b('x') }), want: EtcdErrors.ValueProvided },
    { req: putRequest({ key: b('a'), ignoreLease: true, lease: 5n }), want: EtcdErrors.LeaseProvided },
    { req: putRequest({ key: b('a'), ignoreValue: true }), want: undefined },
  ])('%#', ({ req, want }) => {
    expect(checkPut(req)).toBe(want);
  });
});

describe('checkSortOptions', () => {
  // etcd 3.4 panics sorting by a target it does not know whenever it sorts at all: order NONE
  // (ASCEND then, for a non-key target), ASCEND or DESCEND. An unknown order sorts nothing.
  it.each([
    { order: 0, target: 0, want: undefined },
    { order: 2, target: 4, want: undefined },
    { order: 0, target: 99, want: EtcdErrors.InvalidSortOption },
    { order: 1, target: 5, want: EtcdErrors.InvalidSortOption },
    { order: 2, target: -1, want: EtcdErrors.InvalidSortOption },
    { order: 7, target: 99, want: undefined },
    { order: -1, target: 2, want: undefined },
  ])('sort order $order, target $target', ({ order, target, want }) => {
    expect(checkSortOptions(rangeRequest({ key: b('a'), sortOrder: order as never, sortTarget: target as never }))).toBe(want);
  });

  it('refuses an unknown sort target inside a txn too', () => {
    const bad: etcdserverpb.RequestOp = { requestRange: rangeRequest({ key: b('a'), sortOrder: 1, sortTarget: 9 as never }) };
    expect(checkTxn(txnRequest({ success: [put('x')], failure: [bad] }), 128)).toBe(EtcdErrors.InvalidSortOption);
    expect(checkTxn(txnRequest({ success: [put('x')], failure: [txn([bad])] }), 128)).toBe(EtcdErrors.InvalidSortOption);
  });

  it("reports etcd 3.4's own errors first, wherever they are in the txn", () => {
    const bad: etcdserverpb.RequestOp = { requestRange: rangeRequest({ key: b('a'), sortOrder: 1, sortTarget: 9 as never }) };
    const leaseProvided: etcdserverpb.RequestOp = { requestPut: putRequest({ key: b('p'), ignoreLease: true, lease: 5n }) };
    expect(checkTxn(txnRequest({ success: [bad, leaseProvided] }), 128)).toBe(EtcdErrors.LeaseProvided);
    expect(checkTxn(txnRequest({ success: [bad, put('d'), put('d')] }), 128)).toBe(EtcdErrors.DuplicateKey);
  });
});
