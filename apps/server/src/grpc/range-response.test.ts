import { etcdserverpb } from '@raftkv/api';
import type { KeyValue, RangeResponse } from '@raftkv/mvcc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rangeResponseToWire } from '../apply/convert.js';
import { messagesInWrite } from './encoded-responses.js';
import { encodeRangeResponse, encodeSmallRangeResponse } from './range-response.js';
import { WriteResponses } from './write-responses.js';

const int = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 2 ** 31 - 2, max: 2 ** 33 }), fc.constant(Number.MAX_SAFE_INTEGER));
const kvArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ maxLength: 20 }),
  createRevision: int,
  modRevision: int,
  version: int,
  value: fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 127, maxLength: 300 })),
  lease: fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
});
const resArb: fc.Arbitrary<RangeResponse> = fc.record({
  revision: int,
  kvs: fc.array(kvArb, { maxLength: 30 }),
  more: fc.boolean(),
  count: int,
});
const headerArb = fc.record({
  clusterId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  memberId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  revision: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  raftTerm: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
});

describe('encodeRangeResponse', () => {
  it('gives one gRPC frame of the generated encoder\'s bytes, pausing every step', async () => {
    await fc.assert(fc.asyncProperty(resArb, headerArb, fc.integer({ min: 1, max: 8 }), async (res, header, step) => {
      let pauses = 0;
      const got = await encodeRangeResponse(res, header, { entriesPerStep: step, pause: async () => void pauses++ });
      const want = Buffer.from(etcdserverpb.RangeResponse.encode(rangeResponseToWire(res, header)).finish());
      expect(messagesInWrite(got)).toBe(1);
      expect(got[0]).toBe(0);
      expect(got.readUInt32BE(1)).toBe(want.byteLength);
      expect(got.subarray(5).equals(want)).toBe(true);
      // Two passes over the KVs (measure, write).
      expect(pauses).toBe(Math.floor((2 * res.kvs.length) / step));
      expect(etcdserverpb.RangeResponse.decode(got.subarray(5)).kvs.length).toBe(res.kvs.length);
    }), { seed: 77, numRuns: 500 });
  });

  it('at once (encodeSmallRangeResponse) gives the same frame for no KV or one, with the header from WriteResponses', () => {
    const small = resArb.map((res) => ({ ...res, kvs: res.kvs.slice(0, 1) }));
    const revisionAndTerm = fc.record({ revision: fc.integer({ min: 0, max: 2 ** 40 }), term: fc.integer({ min: 0, max: 2 ** 40 }) });
    fc.assert(fc.property(small, headerArb, revisionAndTerm, (res, ids, { revision, term }) => {
      const header = { clusterId: ids.clusterId, memberId: ids.memberId, revision: BigInt(revision), raftTerm: BigInt(term) };
      const headerBytes = new WriteResponses(ids.clusterId, ids.memberId).header(revision, term);
      expect(headerBytes.equals(etcdserverpb.ResponseHeader.encode(header).finish())).toBe(true);
      const got = encodeSmallRangeResponse(res, headerBytes);
      const want = Buffer.from(etcdserverpb.RangeResponse.encode(rangeResponseToWire(res, header)).finish());
      expect(messagesInWrite(got)).toBe(1);
      expect(got.readUInt32BE(1)).toBe(want.byteLength);
      expect(got.subarray(5).equals(want)).toBe(true);
    }), { seed: 78, numRuns: 500 });
    expect(() => encodeSmallRangeResponse({ revision: 1, kvs: [{ key: new Uint8Array(1), createRevision: 1, modRevision: 1, version: 1, value: new Uint8Array(), lease: 0n }, { key: new Uint8Array(2), createRevision: 1, modRevision: 1, version: 1, value: new Uint8Array(), lease: 0n }], more: false, count: 2 }, Buffer.alloc(0))).toThrow(RangeError);
  });
});
