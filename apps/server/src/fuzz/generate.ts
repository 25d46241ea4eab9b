// Generators of etcd v3 requests for the fuzzer: every unary method, with field distributions
// that reach the edges (int64 extremes, out-of-range enums, empty and NUL keys, nested txns).
//
// Lease IDs come from disjoint sets so that the two servers' keyspaces stay comparable:
// - POOL_LEASES are granted only with long TTLs and are the only leases a key can be attached to;
// - FREE_LEASES may be granted with any TTL (so they may expire at slightly different moments on
//   the two servers) and are never attached to keys;
// - NEVER_LEASES are never granted: a request naming one must fail the same way on both.
import fc from 'fast-check';

/** A generated request: the method's short name (see methods.ts) and the request object. */
export interface FuzzRequest {
  readonly method: string;
  readonly req: Record<string, unknown>;
}

/** Placeholders resolved per server at send time (member IDs differ between servers). */
export const SELF = 'SELF';
export const LEARNER = 'LEARNER';
export const PEER = 'PEER';
export type MemberRef = bigint | typeof SELF | typeof LEARNER | typeof PEER;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
export const INT64_EDGES: readonly bigint[] = [I64_MIN, I64_MIN + 1n, -1n, 0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 32n, I64_MAX];

export const POOL_LEASES: readonly bigint[] = [0x1001n, 0x1002n, 0x1003n, -1n];
export const FREE_LEASES: readonly bigint[] = [1n, 2n ** 53n + 1n, I64_MAX];
export const NEVER_LEASES: readonly bigint[] = [I64_MIN, 2n ** 53n - 1n, 0x7777777n];
/** The TTL every pool lease is granted with at start (long enough never to expire in a run). */
export const POOL_TTL = 86_400n;
/** The shortest TTL a pool lease is ever granted with (an hour: longer than any run's batch). */
export const POOL_MIN_TTL = 3600n;

/** fc.oneof with fractional relative weights (fast-check wants integers); weight 0 drops the choice. */
const weighted = <T>(...pairs: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([w, arbitrary]) => ({ weight: Math.round(w * 100), arbitrary })).filter((p) => p.weight > 0));

export const int64 = (): fc.Arbitrary<bigint> => weighted(
  [4, fc.constantFrom(...INT64_EDGES)],
  [2, fc.bigInt({ min: I64_MIN, max: I64_MAX })],
);

/** Revisions: mostly near the servers' current revisions, sometimes an int64 edge. */
export const revision = (): fc.Arbitrary<bigint> => weighted(
  [3, fc.constant(0n)],
  [6, fc.bigInt({ min: 1n, max: 60n })],
  [2, int64()],
);

/** An enum field: the defined values, and sometimes one out of range. */
const enumOf = (max: number): fc.Arbitrary<number> => weighted(
  [8, fc.integer({ min: 0, max })],
  [2, fc.constantFrom(max + 1, 5, 7, 99, -1, 2 ** 31 - 1, -(2 ** 31))],
);

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const KEY_POOL: readonly Buffer[] = [
  b(''), b('\0'), b('\0\0'), b('a'), b('a\0'), b('a/'), b('a/1'), b('a/2'), b('b'), b('foo'), b('foo/bar'),
  b('\x7f'), b('\xff'), b('\xff\xff'), b('k'.repeat(1024)),
];

export const key = (): fc.Arbitrary<Buffer> => weighted(
  [8, fc.constantFrom(...KEY_POOL)],
  [2, fc.uint8Array({ minLength: 0, maxLength: 8 }).map((u) => Buffer.from(u))],
  [1, fc.integer({ min: 2000, max: 40_000 }).map((n) => Buffer.alloc(n, 0x6b))],
);

/** A range end: none, "\0" (everything from key), a prefix end, a pool key, random bytes. */
export const rangeEnd = (): fc.Arbitrary<Buffer> => weighted(
  [5, fc.constant(Buffer.alloc(0))],
  [3, fc.constant(b('\0'))],
  [4, fc.constantFrom(...KEY_POOL)],
  [1, fc.uint8Array({ maxLength: 4 }).map((u) => Buffer.from(u))],
);

export const value = (): fc.Arbitrary<Buffer> => weighted(
  [6, fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u))],
  [2, fc.constant(Buffer.alloc(0))],
  [1, fc.integer({ min: 1000, max: 200_000 }).map((n) => Buffer.alloc(n, 0x76))],
  // Over etcd's 1.5 MiB request limit: rare, it is heavy for a shared machine.
  [0.05, fc.constant(Buffer.alloc(1_600_000, 0x77))],
);

/** A lease for a key: none, a pool lease, or one that is never granted. */
export const attachLease = (): fc.Arbitrary<bigint> => weighted(
  [6, fc.constant(0n)],
  [4, fc.constantFrom(...POOL_LEASES)],
  [1, fc.constantFrom(...NEVER_LEASES)],
  // fast-check favours the bounds: 1 and I64_MAX are FREE leases (they may expire at different
  // moments on the two servers), so those become "no lease" (a map: the same draws as before).
  [1, fc.bigInt({ min: 1n, max: I64_MAX }).map((id) => (FREE_LEASES.includes(id) ? 0n : id))],
);

const poolIfNone = (id: bigint): bigint => (id === 0n ? POOL_LEASES[0]! : id);

/** Any lease ID (revoke, time-to-live, keepalive). */
export const anyLease = (): fc.Arbitrary<bigint> => weighted(
  [4, fc.constantFrom(...POOL_LEASES)],
  [2, fc.constantFrom(...FREE_LEASES)],
  [2, fc.constantFrom(...NEVER_LEASES)],
  [1, fc.constant(0n)],
  [1, int64()],
);

const limit = (): fc.Arbitrary<bigint> => weighted([5, fc.constant(0n)], [3, fc.bigInt({ min: 1n, max: 5n })], [2, int64()]);

const rangeReq = fc.record({
  key: key(), rangeEnd: rangeEnd(), limit: limit(), revision: weighted([6, fc.constant(0n)], [3, revision()]),
  sortOrder: enumOf(2), sortTarget: enumOf(4), serializable: fc.boolean(), keysOnly: fc.boolean(), countOnly: fc.boolean(),
  minModRevision: weighted([6, fc.constant(0n)], [2, revision()]), maxModRevision: weighted([6, fc.constant(0n)], [2, revision()]),
  minCreateRevision: weighted([6, fc.constant(0n)], [2, revision()]), maxCreateRevision: weighted([6, fc.constant(0n)], [2, revision()]),
});
const putReq = fc.record({
  key: key(), value: value(), lease: attachLease(), prevKv: fc.boolean(),
  ignoreValue: weighted([4, fc.constant(false)], [1, fc.constant(true)]),
  ignoreLease: weighted([4, fc.constant(false)], [1, fc.constant(true)]),
});
const deleteReq = fc.record({ key: key(), rangeEnd: rangeEnd(), prevKv: fc.boolean() });

const compareTargetUnion = weighted<Record<string, unknown>>(
  [2, fc.record({ version: revision() })],
  [2, fc.record({ createRevision: revision() })],
  [2, fc.record({ modRevision: revision() })],
  [2, fc.record({ value: value() })],
  [2, fc.record({ lease: anyLease() })],
  [1, fc.constant({})],
);
const compare = fc.tuple(fc.record({ result: enumOf(3), target: enumOf(4), key: key(), rangeEnd: weighted([4, fc.constant(Buffer.alloc(0))], [2, rangeEnd()]) }), compareTargetUnion)
  .map(([c, u]) => ({ ...c, ...u }));

/** A txn nested up to `depth` more levels: ops of every kind, and empty RequestOps. */
function txnReq(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const op: fc.Arbitrary<Record<string, unknown>> = weighted<Record<string, unknown>>(
    [3, rangeReq.map((r) => ({ requestRange: r }))],
    [4, putReq.map((r) => ({ requestPut: r }))],
    [2, deleteReq.map((r) => ({ requestDeleteRange: r }))],
    [depth > 0 ? 2 : 0, depth > 0 ? fc.constant(null).chain(() => txnReq(depth - 1)).map((r) => ({ requestTxn: r })) : fc.constant({})],
    [1, fc.constant({})],
  );
  return fc.record({
    compare: fc.array(compare, { maxLength: 3 }),
    success: fc.array(op, { maxLength: 4 }),
    failure: fc.array(op, { maxLength: 3 }),
  });
}

const memberRef = (): fc.Arbitrary<MemberRef> => weighted<MemberRef>(
  [3, int64()],
  [1, fc.constant(LEARNER)],
  [1, fc.constant(PEER)],
);

/** Peer URLs: garbage that etcd refuses, and (for learners only) well-formed ones nobody listens on. */
// Every bad URL must be one etcd refuses: a voting member etcd accepted would cost it its quorum
// (etcd accepts port 99999, so that one is only ever a learner's).
const badUrl = fc.constantFrom('', 'not a url', 'http://', 'http://127.0.0.1', 'http://[::1',
  'http://a b:1', 'ftp://127.0.0.1:2380', 'unix://x', 'http://127.0.0.1:2380/path', '\0', 'http://127.0.0.1:-1', 'h'.repeat(3000));
const goodUrl = fc.constantFrom('http://127.0.0.1:1', 'http://127.0.0.2:2380', 'https://127.0.0.1:3', 'http://localhost:4', 'http://127.0.0.1:99999');

const userName = fc.constantFrom('', 'alice', 'bob', 'u\0', 'é', 'x'.repeat(300));
const roleName = fc.constantFrom('', 'root', 'reader', 'writer', 'r\0');
const password = fc.constantFrom('', 'pw', 'p'.repeat(200));

const ttl = (id: bigint): fc.Arbitrary<bigint> => (POOL_LEASES.includes(id)
  ? weighted([5, fc.bigInt({ min: POOL_MIN_TTL, max: 9_000_000_000n })], [1, fc.constantFrom(9_000_000_001n, I64_MAX)])
  : weighted([3, int64()], [3, fc.bigInt({ min: -5n, max: 10n })], [2, fc.bigInt({ min: 3600n, max: 9_000_000_000n })]));

const grantId = weighted(
  [3, fc.constantFrom(...POOL_LEASES)], [3, fc.constantFrom(...FREE_LEASES)], [2, fc.constant(0n)],
  [1, fc.bigInt({ min: 2n ** 40n, max: I64_MAX })],
);

/** One generator per unary method (short names as in methods.ts). */
export const requestArbs: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  Range: rangeReq,
  Put: putReq,
  DeleteRange: deleteReq,
  Txn: fc.integer({ min: 0, max: 3 }).chain((d) => txnReq(d)),
  Compact: fc.record({ revision: revision(), physical: fc.boolean() }),
  LeaseGrant: grantId.chain((ID) => ttl(ID).map((TTL) => ({ ID, TTL }))),
  LeaseRevoke: fc.record({ ID: anyLease() }),
  LeaseTimeToLive: fc.record({ ID: anyLease(), keys: fc.boolean() }),
  LeaseLeases: fc.constant({}),
  MemberList: fc.record({ linearizable: fc.boolean() }),
  MemberAdd: fc.oneof(
    fc.record({ peerURLs: fc.array(goodUrl, { minLength: 1, maxLength: 2 }), isLearner: fc.constant(true) }),
    fc.record({ peerURLs: fc.array(badUrl, { maxLength: 2 }).filter((u) => u.length > 0), isLearner: fc.boolean() }),
  ),
  MemberRemove: fc.record({ ID: memberRef() }),
  MemberUpdate: fc.record({ ID: memberRef(), peerURLs: fc.array(fc.oneof(badUrl, goodUrl), { maxLength: 2 }) }),
  MemberPromote: fc.record({ ID: memberRef() }),
  Alarm: fc.record({
    action: enumOf(2), alarm: enumOf(2),
    memberID: weighted<MemberRef>([2, fc.constant(0n)], [2, fc.constant(SELF)], [2, int64()]),
  }),
  Status: fc.constant({}),
  Hash: fc.constant({}),
  HashKV: fc.record({ revision: revision() }),
  MoveLeader: fc.record({ targetID: weighted<MemberRef>([2, fc.constant(SELF)], [1, fc.constant(PEER)], [1, fc.constant(LEARNER)], [2, int64()]) }),
  Defragment: fc.constant({}),
  AuthEnable: fc.constant({}),
  AuthDisable: fc.constant({}),
  AuthStatus: fc.constant({}),
  Authenticate: fc.record({ name: userName, password }),
  UserAdd: fc.record({ name: userName, password, options: fc.option(fc.record({ noPassword: fc.boolean() }), { nil: undefined }), hashedPassword: fc.constant('') }),
  UserGet: fc.record({ name: userName }),
  UserList: fc.constant({}),
  UserDelete: fc.record({ name: userName }),
  UserChangePassword: fc.record({ name: userName, password, hashedPassword: fc.constant('') }),
  UserGrantRole: fc.record({ user: userName, role: roleName }),
  UserRevokeRole: fc.record({ name: userName, role: roleName }),
  RoleAdd: fc.record({ name: roleName }),
  RoleGet: fc.record({ role: roleName }),
  RoleList: fc.constant({}),
  RoleDelete: fc.record({ role: roleName }),
  RoleGrantPermission: fc.record({ name: roleName, perm: fc.option(fc.record({ permType: enumOf(2), key: key(), rangeEnd: rangeEnd() }), { nil: undefined }) }),
  RoleRevokePermission: fc.record({ role: roleName, key: key(), rangeEnd: rangeEnd() }),
  // Lock and Election keys live under their own prefixes; see methods.ts for how they are compared.
  // Lock and Campaign without a lease would grant one (a random ID on each server, in the key's
  // name): they take the first pool lease instead (a map: the same draws as before).
  Lock: fc.record({ name: fc.constantFrom(b(''), b('L1'), b('L2'), b('\0')), lease: attachLease().map(poolIfNone) }),
  Unlock: fc.record({ key: weighted([2, fc.constantFrom(b(''), b('L1/1001'), b('L1/x'))], [1, key()]) }),
  Campaign: fc.record({ name: fc.constantFrom(b(''), b('E1'), b('E2')), lease: attachLease().map(poolIfNone), value: value() }),
  Proclaim: fc.record({ leader: fc.option(fc.record({ name: fc.constantFrom(b('E1'), b('')), key: key(), rev: revision(), lease: attachLease() }), { nil: undefined }), value: value() }),
  Leader: fc.record({ name: fc.constantFrom(b(''), b('E1'), b('E2'), b('\0')) }),
  Resign: fc.record({ leader: fc.option(fc.record({ name: fc.constantFrom(b('E1'), b('')), key: key(), rev: revision(), lease: attachLease() }), { nil: undefined }) }),
};

/** How often each method is drawn: KV most, the rest enough to reach every path. */
export const METHOD_WEIGHTS: Record<string, number> = {
  Range: 12, Put: 14, DeleteRange: 5, Txn: 12, Compact: 3,
  LeaseGrant: 4, LeaseRevoke: 3, LeaseTimeToLive: 3, LeaseLeases: 1,
  MemberList: 1, MemberAdd: 1, MemberRemove: 1, MemberUpdate: 1, MemberPromote: 1,
  Alarm: 2, Status: 1, Hash: 0.5, HashKV: 2, MoveLeader: 1, Defragment: 0.3,
  AuthEnable: 0.5, AuthDisable: 0.5, AuthStatus: 0.5, Authenticate: 0.5, UserAdd: 0.5, UserGet: 0.5, UserList: 0.3,
  UserDelete: 0.5, UserChangePassword: 0.5, UserGrantRole: 0.5, UserRevokeRole: 0.5, RoleAdd: 0.5, RoleGet: 0.5,
  RoleList: 0.3, RoleDelete: 0.5, RoleGrantPermission: 0.5, RoleRevokePermission: 0.5,
  Lock: 0.5, Unlock: 0.5, Campaign: 0.5, Proclaim: 0.5, Leader: 0.5, Resign: 0.5,
};

export function requestArb(methods: readonly string[] = Object.keys(METHOD_WEIGHTS)): fc.Arbitrary<FuzzRequest> {
  return weighted(...methods.map((m): [number, fc.Arbitrary<FuzzRequest>] => {
    const arb = requestArbs[m];
    if (arb === undefined) throw new Error(`no generator for ${m}`);
    return [METHOD_WEIGHTS[m] ?? 1, arb.map((req) => ({ method: m, req }))];
  }));
}

/** A byte-level mutation of an encoded request. Positions are fractions of the length. */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate'; at: number; count: number };

/** A position as a fraction of the length (fc.double favours tiny values; this is uniform). */
const pos = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);

export const mutationArb: fc.Arbitrary<Mutation> = weighted<Mutation>(
  [3, fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) })],
  [2, fc.record({ op: fc.constant('set' as const), at: pos, byte: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12, 0x08) })],
  [2, fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 }) })],
  [1, fc.record({ op: fc.constant('delete' as const), at: pos, count: fc.integer({ min: 1, max: 8 }) })],
  [1, fc.record({ op: fc.constant('truncate' as const), at: pos })],
  [1, fc.record({ op: fc.constant('duplicate' as const), at: pos, count: fc.integer({ min: 1, max: 16 }) })],
);

export function applyMutations(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.min(buf.length, Math.floor(m.at * (buf.length + 1)));
    switch (m.op) {
      case 'flip':
        if (buf.length > 0) { const i = Math.min(at, buf.length - 1); buf[i] = buf[i]! ^ (1 << m.bit); }
        break;
      case 'set':
        if (buf.length > 0) buf[Math.min(at, buf.length - 1)] = m.byte;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
        break;
      case 'truncate':
        buf = buf.subarray(0, at);
        break;
      case 'duplicate':
        buf = Buffer.concat([buf.subarray(0, at + m.count), buf.subarray(at)]);
        break;
    }
  }
  return buf;
}
