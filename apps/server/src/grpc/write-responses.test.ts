import { etcdserverpb } from '@raftkv/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ResponseOp } from '@raftkv/mvcc';
import { txnResponseToWire } from '../apply/convert.js';
import { isFramed, messagesInWrite } from './encoded-responses.js';
import { WriteResponses } from './write-responses.js';

const id64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 300n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const num = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 2 ** 31 - 2, max: 2 ** 33 }), fc.constant(Number.MAX_SAFE_INTEGER));

/** The generated encoder's bytes behind a gRPC frame prefix: what the unary path sent before. */
function framed(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

describe('WriteResponses', () => {
  it('encodes a PutResponse byte for byte as the generated encoder, framed', () => {
    fc.assert(fc.property(id64, id64, num, num, (clusterId, memberId, revision, term) => {
      const got = new WriteResponses(clusterId, memberId).put(revision, term);
      const header = { clusterId, memberId, revision: BigInt(revision), raftTerm: BigInt(term) };
      expect(got).toEqual(framed(etcdserverpb.PutResponse.encode({ header, prevKv: undefined }).finish()));
      expect(isFramed(got)).toBe(true);
      expect(messagesInWrite(got)).toBe(1);
    }));
  });

  it('encodes a LeaseGrantResponse byte for byte as the generated encoder, negative and zero IDs included', () => {
    const leaseId = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    const ttl = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10_000 }), fc.constant(9_000_000_000));
    fc.assert(fc.property(id64, id64, num, num, leaseId, ttl, (clusterId, memberId, revision, term, id, ttlSeconds) => {
      const got = new WriteResponses(clusterId, memberId).leaseGrant(revision, term, id, ttlSeconds);
      const header = { clusterId, memberId, revision: BigInt(revision), raftTerm: BigInt(term) };
      const want = etcdserverpb.LeaseGrantResponse.encode({ header, ID: id, TTL: BigInt(ttlSeconds), error: '' }).finish();
      expect(got).toEqual(framed(want));
    }));
  });

  it('decodes back to the answer it encodes', () => {
    const r = new WriteResponses(0xcdf818194e3a8c32n, 0x8e9e05c52164694dn);
    const put = etcdserverpb.PutResponse.decode(r.put(12345, 7).subarray(5));
    expect(put).toEqual({ header: { clusterId: 0xcdf818194e3a8c32n, memberId: 0x8e9e05c52164694dn, revision: 12345n, raftTerm: 7n }, prevKv: undefined });
    const grant = etcdserverpb.LeaseGrantResponse.decode(r.leaseGrant(9, 2, 0x694d2164c0f3e5an, 60).subarray(5));
    expect(grant).toMatchObject({ ID: 0x694d2164c0f3e5an, TTL: 60n, error: '' });
  });

  it('encodes a TxnResponse of puts byte for byte as the generated encoder (by way of convert.ts), framed', () => {
    const ops = fc.array(num.map((revision): ResponseOp => ({ put: { revision } })), { maxLength: 150 });
    fc.assert(fc.property(id64, id64, num, num, fc.boolean(), ops, (clusterId, memberId, revision, term, succeeded, responses) => {
      const got = new WriteResponses(clusterId, memberId).txnOfPuts(revision, term, succeeded, responses);
      const header = { clusterId, memberId, revision: BigInt(revision), raftTerm: BigInt(term) };
      const want = etcdserverpb.TxnResponse.encode(txnResponseToWire({ revision, succeeded, responses }, header)).finish();
      expect(got).toEqual(framed(want));
      expect(messagesInWrite(got)).toBe(1);
    }));
  });

  it('leaves to the generated encoder a txn with any op other than a put without prev_kv', () => {
    const r = new WriteResponses(1n, 2n);
    const kv = { key: Buffer.from('k'), createRevision: 1, modRevision: 1, version: 1, value: Buffer.from('v'), lease: 0n };
    const others: ResponseOp[] = [
      { put: { revision: 3, prevKv: kv } },
      { range: { revision: 3, kvs: [], more: false, count: 0 } },
      { deleteRange: { revision: 3, deleted: 0, prevKvs: [] } },
      { txn: { revision: 0, succeeded: true, responses: [] } },
    ];
    for (const other of others) expect(r.txnOfPuts(3, 1, true, [{ put: { revision: 3 } }, other])).toBeUndefined();
  });
});
