import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@raftkv/api';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { decodeInternalRequest, encodeInternalRequest, withWireBytes, type InternalRequest, type LogRequest } from './request-codec.js';

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

describe('log entry bytes (the WAL format)', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const put = (p: Partial<etcdserverpb.PutRequest>) => etcdserverpb.PutRequest.fromPartial(p);
  const reqs: LogRequest[] = [
    { kind: 'put', id: 77n, put: put({ key: Buffer.from('key'), value: Buffer.from('value'), lease: 5n }), requester: { username: 'root', revision: 3 } },
    {
      kind: 'txn', id: 2n ** 63n + 9n, txn: etcdserverpb.TxnRequest.fromPartial({
        compare: [{ key: Buffer.from('c'), value: Buffer.from('v'), target: 3, result: 0 }],
        success: [0, 1].map((i) => ({ requestPut: { key: Buffer.from(`k${i}`), value: Buffer.alloc(300, i) } })),
        failure: [{ requestRange: { key: Buffer.from('k'), rangeEnd: Buffer.from([0]) } }],
      }),
    },
    { kind: 'put', id: 1n, put: put({ key: Buffer.from('big'), value: Buffer.alloc(70000, 7) }) },
  ];
  // Digests of what the encoder before the kept writer (commit 880ab12) wrote for the same requests.
  const before = [
    [37, '7ab1d96cde219016e55dba04bd5a4d2fdfa384b4a434b3284349f7ab5f0f2927'],
    [655, '83514429a9068d7f50f94283b13364091732872ad90afd50c0a1c61b94bdd192'],
    [70018, '6e507ba3b6a98d335f1c550c46dbe35a3a52a5c0c32e5cbc07b8e91fc85d7681'],
  ];

  it('are the bytes the earlier encoder wrote, in any order of encodes', () => {
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0, 1]]) {
      for (const i of order) {
        const b = encodeInternalRequest(reqs[i]!);
        expect([b.length, sha(b)]).toEqual(before[i]);
      }
    }
  });

  it('gives each entry memory of its own', () => {
    const a = encodeInternalRequest(reqs[0]!);
    const b = encodeInternalRequest(reqs[1]!);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(a.length);
    const copy = Buffer.from(a);
    encodeInternalRequest(reqs[2]!);
    expect(a).toEqual(copy);
  });

  it('encodes correctly after an encode that threw midway', () => {
    const bad = { kind: 'txn', id: 1n, txn: { compare: [{ key: Buffer.from('c') }], success: [], failure: [] } } as unknown as LogRequest;
    expect(() => encodeInternalRequest(bad)).toThrow();
    const b = encodeInternalRequest(reqs[1]!);
    expect([b.length, sha(b)]).toEqual(before[1]);
  });

  it('decodes keys and values of a put, txn and deleteRange as views of the entry', () => {
    const entry = encodeInternalRequest(reqs[1]!);
    const req = decodeInternalRequest(entry);
    if (req.kind !== 'txn') throw new Error(req.kind);
    expect(req.txn.success[1]!.requestPut!.value).toEqual(Buffer.alloc(300, 1));
    expect(req.txn.success[1]!.requestPut!.value.buffer).toBe(entry.buffer);
    expect(req.txn.compare[0]!.key.buffer).toBe(entry.buffer);
    const single = encodeInternalRequest(reqs[0]!);
    const p = decodeInternalRequest(single);
    if (p.kind !== 'put') throw new Error(p.kind);
    expect(p.put.value.buffer).toBe(single.buffer);
    const del = encodeInternalRequest({ kind: 'deleteRange', id: 2n, deleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.from('b'), prevKv: false } });
    const d = decodeInternalRequest(del);
    if (d.kind !== 'deleteRange') throw new Error(d.kind);
    expect(d.deleteRange.rangeEnd.buffer).toBe(del.buffer);
  });
});

describe('a txn entry of the bytes the txn came in (withWireBytes)', () => {
  const txn = etcdserverpb.TxnRequest.fromPartial({
    compare: [{ key: Buffer.from('c'), value: Buffer.from('v'), target: 3, result: 0 }],
    success: [0, 1, 2].map((i) => ({ requestPut: { key: Buffer.from(`k${i}`), value: Buffer.alloc(200, i), lease: BigInt(i) } })),
    failure: [{ requestDeleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.from('b') } }],
  });
  const wire = Buffer.from(etcdserverpb.TxnRequest.encode(txn).finish());
  const requester = { username: 'üser', revision: 12 };

  it('is the entry the encoder writes, when the bytes are what the encoder would write', () => {
    for (const r of [{}, { requester }]) {
      const decoded = withWireBytes(etcdserverpb.TxnRequest.decode(wire), wire);
      const fromWire = encodeInternalRequest({ kind: 'txn', id: 5n, txn: decoded, ...r });
      expect(fromWire).toEqual(encodeInternalRequest({ kind: 'txn', id: 5n, txn, ...r }));
      expect(fromWire.byteOffset).toBe(0);
      expect(fromWire.buffer.byteLength).toBe(fromWire.length);
    }
  });

  it('applies as the txn it was decoded to, unknown fields and repeated fields as the decoder reads them', () => {
    // An unknown field (99, varint), then success[0] again: a decoder appends a repeated field.
    const extra = Buffer.concat([wire, Buffer.from([0x98, 0x06, 0x01]), etcdserverpb.TxnRequest.encode({ ...txn, compare: [], failure: [], success: [txn.success[0]!] }).finish()]);
    const decoded = etcdserverpb.TxnRequest.decode(extra);
    expect(decoded.success).toHaveLength(4);
    const entry = encodeInternalRequest({ kind: 'txn', id: 6n, txn: withWireBytes(decoded, extra), requester });
    expect(entry.subarray(entry.length - extra.length)).toEqual(extra);
    expect(decodeInternalRequest(entry)).toEqual({ kind: 'txn', id: 6n, txn: decoded, requester });
  });

  it('copies the bytes: the entry does not share the message\'s memory', () => {
    const msg = Buffer.from(wire);
    const entry = encodeInternalRequest({ kind: 'txn', id: 7n, txn: withWireBytes(etcdserverpb.TxnRequest.decode(msg), msg) });
    msg.fill(0);
    expect(decodeInternalRequest(entry)).toEqual({ kind: 'txn', id: 7n, txn });
  });
});
