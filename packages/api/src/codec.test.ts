import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as authpb from './gen/authpb/auth.js';
import * as etcdserverpb from './gen/etcdserverpb/rpc.js';
import * as mvccpb from './gen/mvccpb/kv.js';
import * as v3electionpb from './gen/v3electionpb/v3election.js';
import * as v3lockpb from './gen/v3lockpb/v3lock.js';
import {
  AuthService,
  ClusterService,
  ElectionService,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
} from './index.js';

interface Codec {
  create(base?: object): Record<string, unknown>;
  encode(m: object): { finish(): Uint8Array };
  decode(b: Uint8Array): Record<string, unknown>;
}

function codecsOf(mod: Record<string, unknown>): [string, Codec][] {
  return Object.entries(mod).filter(
    (e): e is [string, Codec] =>
      typeof e[1] === 'object' && e[1] !== null && 'encode' in e[1] && 'decode' in e[1] && 'create' in e[1],
  );
}

const modules = { etcdserverpb, mvccpb, authpb, v3lockpb, v3electionpb };
const allCodecs = Object.entries(modules).flatMap(([pkg, mod]) =>
  codecsOf(mod).map(([name, c]) => [`${pkg}.${name}`, c] as const),
);

// Sets every scalar field of a default instance to a non-default value, so a field
// that the codec drops or mis-numbers shows up as a difference.
function populated(codec: Codec): Record<string, unknown> {
  const m = codec.create();
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'bigint') m[k] = 1234567890123n;
    else if (typeof v === 'number') m[k] = 2; // valid for every enum and for uint32
    else if (typeof v === 'boolean') m[k] = true;
    else if (typeof v === 'string') m[k] = `s-${k}`;
    else if (Buffer.isBuffer(v)) m[k] = Buffer.from(`b-${k}\u0000\xff`, 'latin1');
  }
  return m;
}

const roundTrip = <T extends object>(codec: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T }, m: T): T =>
  codec.decode(codec.encode(m).finish());

describe('every generated message', () => {
  it('covers etcd’s messages', () => {
    const names = new Set(allCodecs.map(([n]) => n));
    // etcd 3.4's rpc.proto declares 91 messages; 3.5/3.6 add 5 (DowngradeRequest/Response,
    // DowngradeInfo, AuthStatusRequest/Response).
    expect(allCodecs.filter(([n]) => n.startsWith('etcdserverpb.')).length).toBe(96);
    expect(allCodecs.filter(([n]) => n.startsWith('mvccpb.')).map(([n]) => n)).toEqual(['mvccpb.KeyValue', 'mvccpb.Event']);
    for (const n of ['etcdserverpb.PutRequest', 'etcdserverpb.RangeResponse', 'mvccpb.KeyValue', 'authpb.Role', 'v3lockpb.LockResponse', 'v3electionpb.LeaderKey']) {
      expect(names).toContain(n);
    }
  });

  it.each(allCodecs)('%s round-trips every scalar field', (_name, codec) => {
    const m = populated(codec);
    expect(codec.decode(codec.encode(m).finish())).toEqual(m);
  });

  it.each(allCodecs)('%s encodes its default instance as zero bytes (proto3)', (_name, codec) => {
    expect(codec.encode(codec.create()).finish().length).toBe(0);
  });
});

describe('wire bytes match etcd’s field numbers', () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  it.each([
    ['PutRequest key=foo value=bar lease=1', etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('foo'), value: Buffer.from('bar'), lease: 1n })).finish(), '0a03666f6f1203626172' + '1801'],
    ['Compare.range_end is tag 64', etcdserverpb.Compare.encode(etcdserverpb.Compare.fromPartial({ rangeEnd: Buffer.from('z') })).finish(), '82047a'.replace('7a', '017a')],
    ['WatchResponse.events is tag 11', etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial({ events: [{}] })).finish(), '5a00'],
    ['ResponseHeader uint64 max', etcdserverpb.ResponseHeader.encode(etcdserverpb.ResponseHeader.fromPartial({ clusterId: 2n ** 64n - 1n })).finish(), '08ffffffffffffffffff01'],
    ['LeaseGrantRequest TTL then ID', etcdserverpb.LeaseGrantRequest.encode(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: 5n, ID: 7n })).finish(), '08051007'],
    ['negative int64 takes 10 bytes', mvccpb.KeyValue.encode(mvccpb.KeyValue.fromPartial({ lease: -1n })).finish(), '30ffffffffffffffffff01'],
    ['Event DELETE type', mvccpb.Event.encode(mvccpb.Event.fromPartial({ type: mvccpb.Event_EventType.DELETE })).finish(), '0801'],
    ['Compare NOT_EQUAL on LEASE', etcdserverpb.Compare.encode(etcdserverpb.Compare.fromPartial({ result: etcdserverpb.Compare_CompareResult.NOT_EQUAL, target: etcdserverpb.Compare_CompareTarget.LEASE, lease: 9n })).finish(), '080310044009'],
  ])('%s', (_name, bytes, want) => {
    expect(hex(bytes)).toBe(want);
  });

  it('a oneof member set to its default value is still sent (presence)', () => {
    const bytes = etcdserverpb.Compare.encode(etcdserverpb.Compare.fromPartial({ version: 0n })).finish();
    expect(hex(bytes)).toBe('2000');
    expect(etcdserverpb.Compare.decode(bytes).version).toBe(0n);
  });

  it('unknown fields from a newer etcd are skipped, known ones still decode', () => {
    // HashKVResponse{hash=5} followed by an unknown field 99 (varint 1).
    const bytes = Buffer.from('1005' + '981801', 'hex');
    expect(etcdserverpb.HashKVResponse.decode(bytes).hash).toBe(5);
  });
});

// Service paths are the other half of the wire contract: /package.Service/Method.
const expectedPaths: [string, Record<string, { path: string; requestStream: boolean; responseStream: boolean }>, string[]][] = [
  ['etcdserverpb.KV', KVService, ['Range', 'Put', 'DeleteRange', 'Txn', 'Compact']],
  ['etcdserverpb.Watch', WatchService, ['Watch']],
  ['etcdserverpb.Lease', LeaseService, ['LeaseGrant', 'LeaseRevoke', 'LeaseKeepAlive', 'LeaseTimeToLive', 'LeaseLeases']],
  ['etcdserverpb.Cluster', ClusterService, ['MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberList', 'MemberPromote']],
  ['etcdserverpb.Maintenance', MaintenanceService, ['Alarm', 'Status', 'Defragment', 'Hash', 'HashKV', 'Snapshot', 'MoveLeader', 'Downgrade']],
  ['etcdserverpb.Auth', AuthService, ['AuthEnable', 'AuthDisable', 'AuthStatus', 'Authenticate', 'UserAdd', 'UserGet', 'UserList', 'UserDelete', 'UserChangePassword', 'UserGrantRole', 'UserRevokeRole', 'RoleAdd', 'RoleGet', 'RoleList', 'RoleDelete', 'RoleGrantPermission', 'RoleRevokePermission']],
  ['v3lockpb.Lock', LockService, ['Lock', 'Unlock']],
  ['v3electionpb.Election', ElectionService, ['Campaign', 'Proclaim', 'Leader', 'Observe', 'Resign']],
];

describe('service definitions', () => {
  it.each(expectedPaths)('%s has etcd’s methods and paths', (svc, def, methods) => {
    expect(Object.values(def).map((m) => m.path).sort()).toEqual(methods.map((m) => `/${svc}/${m}`).sort());
  });

  it.each([
    [WatchService.watch, true, true],
    [LeaseService.leaseKeepAlive, true, true],
    [MaintenanceService.snapshot, false, true],
    [ElectionService.observe, false, true],
    [KVService.range, false, false],
  ])('streaming shape of %#', (m, req, res) => {
    expect([m.requestStream, m.responseStream]).toEqual([req, res]);
  });
});

// ---- property tests ----

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const header = fc.record({ clusterId: u64, memberId: u64, revision: i64, raftTerm: u64 });
const keyValue = fc.record({ key: bytes, createRevision: i64, modRevision: i64, version: i64, value: bytes, lease: i64 });
const rangeRequest = fc.record({
  key: bytes,
  rangeEnd: bytes,
  limit: i64,
  revision: i64,
  sortOrder: fc.constantFrom(0, 1, 2),
  sortTarget: fc.constantFrom(0, 1, 2, 3, 4),
  serializable: fc.boolean(),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: i64,
  maxModRevision: i64,
  minCreateRevision: i64,
  maxCreateRevision: i64,
});
const putRequest = fc.record({ key: bytes, value: bytes, lease: i64, prevKv: fc.boolean(), ignoreValue: fc.boolean(), ignoreLease: fc.boolean() });
const deleteRangeRequest = fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() });
const compare = fc.oneof(
  ...(['version', 'createRevision', 'modRevision', 'lease'] as const).map((f) =>
    fc.record({ result: fc.constantFrom(0, 1, 2, 3), target: fc.constantFrom(0, 1, 2, 3, 4), key: bytes, rangeEnd: bytes, [f]: i64 }),
  ),
  fc.record({ result: fc.constantFrom(0, 1, 2, 3), target: fc.constantFrom(0, 1, 2, 3, 4), key: bytes, rangeEnd: bytes, value: bytes }),
);
const { txnRequest } = fc.letrec<{ txnRequest: unknown; requestOp: unknown }>((tie) => ({
  txnRequest: fc.record({
    compare: fc.array(compare, { maxLength: 3 }),
    success: fc.array(tie('requestOp'), { maxLength: 3 }),
    failure: fc.array(tie('requestOp'), { maxLength: 3 }),
  }),
  requestOp: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ requestRange: rangeRequest }),
    fc.record({ requestPut: putRequest }),
    fc.record({ requestDeleteRange: deleteRangeRequest }),
    fc.record({ requestTxn: tie('txnRequest') }),
  ),
}));
const watchRequest = fc.oneof(
  fc.record({
    createRequest: fc.record({
      key: bytes,
      rangeEnd: bytes,
      startRevision: i64,
      progressNotify: fc.boolean(),
      filters: fc.array(fc.constantFrom(0, 1), { maxLength: 2 }),
      prevKv: fc.boolean(),
      watchId: i64,
      fragment: fc.boolean(),
    }),
  }),
  fc.record({ cancelRequest: fc.record({ watchId: i64 }) }),
  fc.record({ progressRequest: fc.constant({}) }),
);

describe('round-trip properties', () => {
  it('PutRequest', () => {
    fc.assert(fc.property(putRequest, (m) => {
          expect(roundTrip(etcdserverpb.PutRequest, m)).toEqual(m);
        }));
  });

  it('RangeRequest', () => {
    fc.assert(fc.property(rangeRequest, (m) => {
          expect(roundTrip(etcdserverpb.RangeRequest, m)).toEqual(m);
        }));
  });

  it('RangeResponse with up to 100 KVs', () => {
    fc.assert(
      fc.property(
        fc.record({ header, kvs: fc.array(keyValue, { maxLength: 100 }), more: fc.boolean(), count: i64 }),
        (m) => {
          expect(roundTrip(etcdserverpb.RangeResponse, m)).toEqual(m);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('TxnRequest with nested ops (and the oneof member that was set survives)', () => {
    fc.assert(
      fc.property(txnRequest, (raw) => {
        const m = etcdserverpb.TxnRequest.fromPartial(raw as etcdserverpb.TxnRequest);
        expect(roundTrip(etcdserverpb.TxnRequest, m)).toEqual(m);
      }),
    );
  });

  it('WatchRequest oneof: exactly the member that was set decodes', () => {
    fc.assert(
      fc.property(watchRequest, (raw) => {
        const m = etcdserverpb.WatchRequest.fromPartial(raw);
        const back = roundTrip(etcdserverpb.WatchRequest, m);
        expect(back).toEqual(m);
        const set = (['createRequest', 'cancelRequest', 'progressRequest'] as const).filter((k) => back[k] !== undefined);
        expect(set).toEqual(Object.keys(raw));
      }),
    );
  });
});

describe('unset bytes fields', () => {
  it('decode as one shared empty Buffer (no allocation per field), and a set field never reaches another message', () => {
    const empty = etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ lease: 5n })).finish();
    const full = etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') })).finish();
    const a = etcdserverpb.PutRequest.decode(empty);
    const b = etcdserverpb.PutRequest.decode(full);
    const c = etcdserverpb.PutRequest.decode(empty);
    expect(Buffer.isBuffer(a.key)).toBe(true);
    expect(a.key.length).toBe(0);
    expect(a.key).toBe(c.value);
    expect(mvccpb.KeyValue.decode(new Uint8Array(0)).value).toBe(mvccpb.KeyValue.decode(new Uint8Array(0)).key);
    expect(b.key.toString()).toBe('k');
    expect(b.value.toString()).toBe('v');
    expect(c.key.length + c.value.length).toBe(0);
  });
});
