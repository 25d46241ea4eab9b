import { describe, expect, it } from 'vitest';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { decodeInternalRequest, encodeInternalRequest, type InternalRequest, type LogRequest } from './request-codec.js';

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

describe('log entry encoding of auth requests and requesters', () => {
  it.each<LogRequest>([
    { kind: 'auth', id: 10n, auth: { op: 'authEnable', req: {} } },
    { kind: 'auth', id: 11n, auth: { op: 'userAdd', req: { name: 'u', password: '', options: { noPassword: false }, hashedPassword: '$2a$10$x' } } },
    { kind: 'auth', id: 12n, auth: { op: 'roleGrantPermission', req: { name: 'r', perm: { permType: 2, key: Buffer.from('k'), rangeEnd: Buffer.from([0]) } } } },
    { kind: 'auth', id: 13n, auth: { op: 'authenticate', req: { name: 'u', password: 'abcdefghijklmnop' } }, requester: { username: '', revision: 0 } },
    { kind: 'put', id: 14n, put: putRequest({ key: Buffer.from('k') }), requester: { username: 'ünïcode', revision: 2 ** 40 } },
  ])('round-trips $kind $auth.op with its requester', (req) => {
    expect(decodeInternalRequest(encodeInternalRequest(req))).toEqual(req);
  });

  it('keeps the codes of the entry kinds written before auth (the WAL format)', () => {
    const put = encodeInternalRequest({ kind: 'put', id: 1n, put: putRequest({ key: Buffer.from('k') }) });
    expect(put[0]).toBe(1);
    expect(encodeInternalRequest({ kind: 'put', id: 1n, put: putRequest({ key: Buffer.from('k') }), requester: { username: 'u', revision: 1 } })[0]).toBe(0x81);
    expect(encodeInternalRequest({ kind: 'auth', id: 1n, auth: { op: 'roleList', req: {} } })[0]).toBe(25);
  });
});
