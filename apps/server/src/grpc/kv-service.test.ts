import type { etcdserverpb } from '@raftkv/api';
import { isReadOnlyTxn } from '@raftkv/mvcc';
import { deleteRangeRequest, putRequest, rangeRequest, txnRequest } from '@raftkv/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { txnFromWire } from '../apply/convert.js';
import { isReadOnlyWireTxn } from './kv-service.js';

const key = Buffer.from('k');
const range: etcdserverpb.RequestOp = { requestRange: rangeRequest({ key }) };
const put: etcdserverpb.RequestOp = { requestPut: putRequest({ key }) };
const del: etcdserverpb.RequestOp = { requestDeleteRange: deleteRangeRequest({ key }) };

// Ops as the wire allows them, several fields set on one op included (convert.ts picks the first).
const opArb: fc.Arbitrary<etcdserverpb.RequestOp> = fc.letrec<{ op: etcdserverpb.RequestOp; ops: etcdserverpb.RequestOp[] }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: fc.constant(range) },
    { weight: 1, arbitrary: fc.constant(put) },
    { weight: 1, arbitrary: fc.constant(del) },
    { weight: 1, arbitrary: fc.constantFrom({ ...range, ...put }, { ...put, ...del }, { ...range, ...del }) },
    { weight: 2, arbitrary: fc.tuple(tie('ops'), tie('ops'), fc.constantFrom({}, range, put, del)).map(([s, f, also]) =>
      ({ ...also, requestTxn: txnRequest({ success: s, failure: f }) })) },
  ),
  ops: fc.array(tie('op'), { maxLength: 4 }),
})).op;

describe('isReadOnlyWireTxn', () => {
  it('agrees with mvcc isReadOnlyTxn on the converted txn', () => {
    const outcomes = { readOnly: 0, write: 0 };
    fc.assert(fc.property(fc.tuple(fc.array(opArb, { maxLength: 4 }), fc.array(opArb, { maxLength: 3 })), ([success, failure]) => {
      const t = txnRequest({ success, failure });
      const want = isReadOnlyTxn(txnFromWire(t));
      outcomes[want ? 'readOnly' : 'write']++;
      expect(isReadOnlyWireTxn(t)).toBe(want);
    }), { seed: 2026_12_06, numRuns: 3000 });
    // Both answers must be common, or the property proves little.
    expect(outcomes.readOnly).toBeGreaterThan(300);
    expect(outcomes.write).toBeGreaterThan(300);
  });
});
