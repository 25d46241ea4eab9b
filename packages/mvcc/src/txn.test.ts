import { beforeEach, describe, expect, it } from 'vitest';
import type { Compare, TxnResponse } from './kv.js';
import type { MvccStore } from './kvstore.js';
import { isReadOnlyTxn } from './txn-check.js';
import { dec, enc, keys, openStore } from './test-support/helpers.js';

// k1: value 'b', create 2, mod 4, version 2, lease 5.  k2: value 'z', create 3, mod 3, version 1, lease 0.
async function fixture(): Promise<MvccStore> {
  const s = await openStore();
  s.put({ key: enc('k1'), value: enc('a'), lease: 5n }, 1);
  s.put({ key: enc('k2'), value: enc('z') }, 2);
  s.put({ key: enc('k1'), value: enc('b'), lease: 5n }, 3);
  return s;
}

type C = Omit<Compare, 'key'> & { key?: string; rangeEnd?: Uint8Array };
const compareCases: Array<[string, C, boolean]> = [
  ['version equal', { target: 'version', result: 'equal', version: 2 }, true],
  ['version not_equal', { target: 'version', result: 'not_equal', version: 2 }, false],
  ['version greater', { target: 'version', result: 'greater', version: 1 }, true],
  ['version less', { target: 'version', result: 'less', version: 2 }, false],
  ['create equal', { target: 'create', result: 'equal', createRevision: 2 }, true],
  ['create greater', { target: 'create', result: 'greater', createRevision: 2 }, false],
  ['create less', { target: 'create', result: 'less', createRevision: 3 }, true],
  ['create not_equal', { target: 'create', result: 'not_equal', createRevision: 2 }, false],
  ['mod equal', { target: 'mod', result: 'equal', modRevision: 4 }, true],
  ['mod not_equal', { target: 'mod', result: 'not_equal', modRevision: 3 }, true],
  ['mod less', { target: 'mod', result: 'less', modRevision: 4 }, false],
  ['mod greater', { target: 'mod', result: 'greater', modRevision: 3 }, true],
  ['value equal', { target: 'value', result: 'equal', value: enc('b') }, true],
  ['value greater', { target: 'value', result: 'greater', value: enc('a') }, true],
  ['value less', { target: 'value', result: 'less', value: enc('ba') }, true],
  ['value not_equal', { target: 'value', result: 'not_equal', value: enc('b') }, false],
  ['lease equal', { target: 'lease', result: 'equal', lease: 5n }, true],
  ['lease greater', { target: 'lease', result: 'greater', lease: 4n }, true],
  ['lease less', { target: 'lease', result: 'less', lease: 5n }, false],
  ['lease not_equal', { target: 'lease', result: 'not_equal', lease: 0n }, true],
  ['missing operand means zero', { target: 'version', result: 'greater' }, true],
  ['missing key: version = 0', { key: 'nope', target: 'version', result: 'equal', version: 0 }, true],
  ['missing key: create = 0', { key: 'nope', target: 'create', result: 'equal', createRevision: 0 }, true],
  ['missing key: mod less 1', { key: 'nope', target: 'mod', result: 'less', modRevision: 1 }, true],
  ['missing key: lease = 0', { key: 'nope', target: 'lease', result: 'equal', lease: 0n }, true],
  ['missing key: value compare always fails', { key: 'nope', target: 'value', result: 'not_equal', value: enc('x') }, false],
  ['missing key: value equal empty fails', { key: 'nope', target: 'value', result: 'equal', value: new Uint8Array(0) }, false],
  ['range: every key must match (true)', { key: 'k', rangeEnd: enc('l'), target: 'create', result: 'greater', createRevision: 1 }, true],
  ['range: every key must match (false)', { key: 'k', rangeEnd: enc('l'), target: 'version', result: 'equal', version: 2 }, false],
  ['range "\\0": all keys', { key: 'k1', rangeEnd: enc('\0'), target: 'lease', result: 'less', lease: 6n }, true],
  // etcd's answers to enum values it does not know (a newer client, or a hostile one).
  ['unknown target compares as equal', { target: 'none', result: 'equal' }, true],
  ['unknown target is never greater', { target: 'none', result: 'greater', version: 1 }, false],
  ['unknown result holds', { target: 'version', result: 'always', version: 99 }, true],
  ['unknown result on a missing key holds', { key: 'nope', target: 'mod', result: 'always' }, true],
  ['unknown result of a value compare on a missing key fails', { key: 'nope', target: 'value', result: 'always' }, false],
  ['empty range behaves like a missing key', { key: 'x', rangeEnd: enc('y'), target: 'version', result: 'equal', version: 0 }, true],
];

describe('txn compares', () => {
  let s: MvccStore;
  beforeEach(async () => {
    s = await fixture();
  });

  it.each(compareCases)('%s', (_name, c, expected) => {
    const { key, ...rest } = c;
    const r = s.txn(
      { compare: [{ key: enc(key ?? 'k1'), ...rest }], success: [{ range: { key: enc('k1') } }], failure: [{ range: { key: enc('k2') } }] },
      100,
    );
    expect(r.succeeded).toBe(expected);
    expect(r.revision).toBe(4);
    const rr = r.responses[0]!;
    expect('range' in rr && keys(rr.range.kvs)).toEqual([expected ? 'k1' : 'k2']);
  });

  it('all compares must hold', () => {
    const ok: Compare = { key: enc('k1'), target: 'version', result: 'equal', version: 2 };
    const bad: Compare = { key: enc('k2'), target: 'version', result: 'equal', version: 2 };
    expect(s.txn({ compare: [ok, ok], success: [], failure: [] }, 100).succeeded).toBe(true);
    expect(s.txn({ compare: [ok, bad], success: [], failure: [] }, 101).succeeded).toBe(false);
    expect(s.txn({ compare: [], success: [], failure: [] }, 102).succeeded).toBe(true);
  });
});

describe('txn apply', () => {
  let s: MvccStore;
  beforeEach(async () => {
    s = await fixture();
  });

  it('all changes share one revision with increasing sub revisions', () => {
    const r = s.txn(
      {
        compare: [],
        success: [
          { put: { key: enc('a'), value: enc('1') } },
          { put: { key: enc('a'), value: enc('2'), prevKv: true } },
          { deleteRange: { key: enc('k1'), prevKv: true } },
          { range: { key: enc('\0'), rangeEnd: enc('\0') } },
        ],
        failure: [],
      },
      100,
    );
    expect(r.revision).toBe(5);
    expect(s.currentRevision).toBe(5);
    const [p1, p2, d, rg] = r.responses as [TxnResponse['responses'][number], ...TxnResponse['responses']];
    expect(p1).toEqual({ put: { revision: 5 } });
    // A later op sees the earlier ones: prevKv of the second put is the first put.
    expect('put' in p2! && p2.put.prevKv && dec(p2.put.prevKv.value)).toBe('1');
    expect('put' in p2! && p2.put.prevKv?.version).toBe(1);
    expect('deleteRange' in d! && d.deleteRange).toMatchObject({ revision: 5, deleted: 1 });
    expect('range' in rg! && rg.range.revision).toBe(5);
    expect('range' in rg! && keys(rg.range.kvs)).toEqual(['a', 'k2']);
    expect(s.range({ key: enc('a') }).kvs[0]).toMatchObject({ version: 2, createRevision: 5, modRevision: 5 });
    const events = s.eventsBetween(5, 5, 10);
    expect(events.map((e) => [e.type, dec(e.kv.key)])).toEqual([
      ['put', 'a'],
      ['put', 'a'],
      ['delete', 'k1'],
    ]);
  });

  it('a read-only txn keeps the revision; a range before any change sees the old revision', () => {
    const r = s.txn({ compare: [], success: [{ range: { key: enc('k1') } }, { deleteRange: { key: enc('nope') } }], failure: [] }, 100);
    expect(r.revision).toBe(4);
    expect(r.responses[0]).toMatchObject({ range: { revision: 4 } });
    expect(r.responses[1]).toEqual({ deleteRange: { revision: 4, deleted: 0, prevKvs: [] } });
    expect(s.currentRevision).toBe(4);
  });

  it('a delete of nothing after a change reports the txn revision', () => {
    const r = s.txn({ compare: [], success: [{ put: { key: enc('a'), value: enc('1') } }, { deleteRange: { key: enc('nope') } }], failure: [] }, 100);
    expect(r.responses[1]).toEqual({ deleteRange: { revision: 5, deleted: 0, prevKvs: [] } });
  });

  it('nested txns: compares are evaluated before any change, responses nest', () => {
    const r = s.txn(
      {
        compare: [{ key: enc('k2'), target: 'version', result: 'equal', version: 1 }],
        success: [
          { put: { key: enc('k2'), value: enc('new') } },
          {
            txn: {
              // Still sees k2 at version 1: nested compares use the state before the txn.
              compare: [{ key: enc('k2'), target: 'version', result: 'equal', version: 1 }],
              success: [{ put: { key: enc('n1'), value: enc('s') } }],
              failure: [{ put: { key: enc('n1'), value: enc('f') } }],
            },
          },
          {
            txn: {
              compare: [{ key: enc('k1'), target: 'value', result: 'equal', value: enc('nope') }],
              success: [],
              failure: [{ range: { key: enc('k2') } }, { txn: { compare: [], success: [{ put: { key: enc('n2'), value: enc('deep') } }], failure: [] } }],
            },
          },
        ],
        failure: [],
      },
      100,
    );
    expect(r.succeeded).toBe(true);
    expect(r.revision).toBe(5);
    const inner1 = r.responses[1]!;
    expect('txn' in inner1 && inner1.txn).toMatchObject({ succeeded: true, revision: 0, responses: [{ put: { revision: 5 } }] });
    const inner2 = r.responses[2]!;
    expect('txn' in inner2 && inner2.txn.succeeded).toBe(false);
    const innerRange = 'txn' in inner2 ? inner2.txn.responses[0]! : undefined;
    expect(innerRange && 'range' in innerRange && dec(innerRange.range.kvs[0]!.value)).toBe('new');
    expect(keys(s.range({ key: enc('n'), rangeEnd: enc('o') }).kvs)).toEqual(['n1', 'n2']);
    expect(dec(s.range({ key: enc('n1') }).kvs[0]!.value)).toBe('s');
    expect(s.eventsBetween(5, 5, 100).map((e) => e.kv.modRevision)).toEqual([5, 5, 5]);
  });

  it.each([
    ['ignoreValue on a key missing before the txn', [{ put: { key: enc('a'), value: enc('1') } }, { put: { key: enc('a'), value: enc(''), ignoreValue: true } }], 'key_not_found'],
    ['ignoreLease on a key deleted earlier in the txn', [{ deleteRange: { key: enc('k1') } }, { put: { key: enc('k1'), value: enc('x'), ignoreLease: true } }], 'key_not_found'],
    ['ignoreLease on a key deleted after an earlier ignoreValue put of it', [{ put: { key: enc('k1'), value: enc(''), ignoreValue: true } }, { put: { key: enc('k2'), value: enc('x') } }, { deleteRange: { key: enc('k0'), rangeEnd: enc('k2') } }, { put: { key: enc('k1'), value: enc('x'), ignoreLease: true } }], 'key_not_found'],
    ['range at a future revision', [{ put: { key: enc('a'), value: enc('1') } }, { range: { key: enc('a'), revision: 5 } }], 'future_revision'],
  ] as const)('%s fails the whole txn without changes', (_name, ops, code) => {
    const hash = s.hash();
    expect(() => s.txn({ compare: [], success: [...ops], failure: [] }, 100)).toThrowError(expect.objectContaining({ code }));
    expect(s.currentRevision).toBe(4);
    expect(s.hash()).toBe(hash);
    expect(s.consistentIndex).toBe(100);
  });

  it('ignoreValue on a key that exists before the txn works inside it', () => {
    s.txn({ compare: [], success: [{ put: { key: enc('k1'), value: enc(''), ignoreValue: true, lease: 0n } }], failure: [] }, 100);
    expect(s.range({ key: enc('k1') }).kvs[0]).toMatchObject({ value: enc('b'), lease: 0n, version: 3 });
  });

  it('range in a txn at a compacted revision fails', async () => {
    await s.compact(3, 50).done;
    expect(() => s.txn({ compare: [], success: [{ range: { key: enc('k1'), revision: 2 } }], failure: [] }, 100)).toThrowError(
      expect.objectContaining({ code: 'compacted' }),
    );
    expect(s.txn({ compare: [], success: [{ range: { key: enc('k1'), revision: 3 } }], failure: [] }, 101).succeeded).toBe(true);
  });
});

describe('readTxn', () => {
  it('answers a txn without writes as a read, at the current revision, without an index', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 1);
    const req = {
      compare: [{ key: enc('a'), target: 'value' as const, result: 'equal' as const, value: enc('1') }],
      success: [{ range: { key: enc('a') } }, { txn: { compare: [], success: [{ range: { key: enc('b') } }], failure: [] } }],
      failure: [],
    };
    const r = s.readTxn(req);
    expect(r.succeeded).toBe(true);
    expect(r.revision).toBe(s.currentRevision);
    expect(s.consistentIndex).toBe(1);
    const inner = r.responses[0]!;
    expect('range' in inner && inner.range.kvs.map((kv) => dec(kv.value))).toEqual(['1']);
    expect(isReadOnlyTxn(req)).toBe(true);
    expect(() => s.readTxn({ compare: [], success: [], failure: [{ put: { key: enc('x'), value: enc('y') } }] })).toThrow(RangeError);
  });
});
