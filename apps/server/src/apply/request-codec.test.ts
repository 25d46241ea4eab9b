import { describe, expect, it } from 'vitest';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { decodeInternalRequest, encodeInternalRequest, type InternalRequest } from './request-codec.js';

describe('log entry encoding of requests', () => {
  it.each<InternalRequest>([
    { kind: 'put', id: 1n, put: putRequest({ key: Buffer.from('k'), value: Buffer.from('v'), lease: 7n, prevKv: true }) },
    { kind: 'deleteRange', id: 2n ** 64n - 1n, deleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.from([0]), prevKv: false } },
    { kind: 'txn', id: 3n, txn: txnRequest({ success: [{ requestPut: putRequest({ key: Buffer.from('x') }) }] }) },
    { kind: 'compaction', id: 4n, compaction: { revision: 42n, physical: true } },
    { kind: 'leaseGrant', id: 5n, leaseGrant: { ID: 2n ** 62n + 1n, TTL: 60n } },
    { kind: 'leaseRevoke', id: 6n, leaseRevoke: { ID: 9n } },
    { kind: 'leaseCheckpoint', id: 7n, leaseCheckpoint: { checkpoints: [{ ID: 9n, remainingTTL: 30n }] } },
    { kind: 'memberAttributes', id: 8n, member: { ID: 2n ** 63n + 5n, name: 'm1', peerURLs: [], clientURLs: ['http://127.0.0.1:2379'], isLearner: false } },
    { kind: 'alarm', id: 9n, alarm: { action: 1, memberID: 2n ** 64n - 1n, alarm: 1 } },
  ])('round-trips a $kind', (req) => {
    expect(decodeInternalRequest(encodeInternalRequest(req))).toEqual(req);
  });

  it('refuses an unknown kind and a truncated entry', () => {
    const bad = Buffer.alloc(9);
    bad[0] = 99;
    expect(() => decodeInternalRequest(bad)).toThrow(/unknown log entry kind 99/);
    expect(() => decodeInternalRequest(Buffer.alloc(3))).toThrow(/too short/);
  });
});
