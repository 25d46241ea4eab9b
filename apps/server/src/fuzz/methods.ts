// The unary methods the fuzzer calls: path, codecs, and how two servers' answers are compared.
import { etcdserverpb, v3electionpb, v3lockpb } from '@raftkv/api';
import { NEVER_LEASES, POOL_LEASES } from './generate.js';

interface MessageFns {
  encode(message: never): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromPartial(object: never): unknown;
}

/**
 * How the answers of etcd and raftkv to one request are compared:
 * - `body`: code, message, and the normalised response;
 * - `code`: code and message only (the body holds what differs by nature: hashes, sizes, IDs);
 * - `none`: nothing (the outcome depends on timing, e.g. a lease that may just have expired).
 */
export type ComparePolicy = 'body' | 'code' | 'none';

export interface MethodSpec {
  readonly name: string;
  readonly service: 'KV' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth' | 'Lock' | 'Election';
  readonly path: string;
  encode(req: Record<string, unknown>): Buffer;
  decodeRequest(bytes: Buffer): unknown;
  decodeResponse(bytes: Buffer): unknown;
  /** The comparison for this request; `cluster` when raftkv runs as a 3-member cluster. */
  policy(req: Record<string, unknown>, cluster: boolean): ComparePolicy;
  /** Removes from a decoded response what legitimately differs (beyond header IDs). */
  normalise?(res: Record<string, unknown>, req: Record<string, unknown>): void;
}

const UINT64_FIELDS: Record<string, readonly string[]> = {
  MemberRemove: ['ID'], MemberUpdate: ['ID'], MemberPromote: ['ID'], Alarm: ['memberID'], MoveLeader: ['targetID'],
};

function hasSerializable(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasSerializable);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const o = v as Record<string, unknown>;
    if (o['serializable'] === true) return true;
    return Object.values(o).some(hasSerializable);
  }
  return false;
}

const isPool = (id: unknown): boolean => typeof id === 'bigint' && POOL_LEASES.includes(id);

function spec(name: string, service: MethodSpec['service'], path: string, reqFns: MessageFns, resFns: MessageFns,
  policy: MethodSpec['policy'], normalise?: MethodSpec['normalise']): MethodSpec {
  const uint64 = UINT64_FIELDS[name] ?? [];
  return {
    name, service, path, policy, normalise,
    encode(req) {
      const r: Record<string, unknown> = { ...req };
      for (const f of uint64) if (typeof r[f] === 'bigint') r[f] = BigInt.asUintN(64, r[f] as bigint);
      return Buffer.from(reqFns.encode(reqFns.fromPartial(r as never) as never).finish());
    },
    decodeRequest: (bytes) => reqFns.decode(bytes),
    decodeResponse: (bytes) => resFns.decode(bytes),
  };
}

const pb = etcdserverpb as unknown as Record<string, MessageFns>;
const lockpb = v3lockpb as unknown as Record<string, MessageFns>;
const electionpb = v3electionpb as unknown as Record<string, MessageFns>;

const body = (_req: Record<string, unknown>, cluster: boolean): ComparePolicy => (cluster ? 'code' : 'body');
const kvBody = (req: Record<string, unknown>, cluster: boolean): ComparePolicy => (cluster && hasSerializable(req) ? 'code' : 'body');
const code = (): ComparePolicy => 'code';
/** Lease outcomes compare only for leases whose lifetime is deterministic (pool and never-granted). */
const leasePolicy = (req: Record<string, unknown>): ComparePolicy =>
  (isPool(req['ID']) || (typeof req['ID'] === 'bigint' && NEVER_LEASES.includes(req['ID'])) ? 'body' : 'none');

const KV: MethodSpec[] = [
  spec('Range', 'KV', '/etcdserverpb.KV/Range', pb['RangeRequest']!, pb['RangeResponse']!, kvBody),
  spec('Put', 'KV', '/etcdserverpb.KV/Put', pb['PutRequest']!, pb['PutResponse']!, kvBody),
  spec('DeleteRange', 'KV', '/etcdserverpb.KV/DeleteRange', pb['DeleteRangeRequest']!, pb['DeleteRangeResponse']!, kvBody),
  spec('Txn', 'KV', '/etcdserverpb.KV/Txn', pb['TxnRequest']!, pb['TxnResponse']!, kvBody),
  spec('Compact', 'KV', '/etcdserverpb.KV/Compact', pb['CompactionRequest']!, pb['CompactionResponse']!, kvBody),
];

const LEASE: MethodSpec[] = [
  spec('LeaseGrant', 'Lease', '/etcdserverpb.Lease/LeaseGrant', pb['LeaseGrantRequest']!, pb['LeaseGrantResponse']!,
    // A FREE lease may have expired on one server and not yet on the other: not compared.
    (req) => (req['ID'] === 0n ? 'code' : leasePolicy(req))),
  spec('LeaseRevoke', 'Lease', '/etcdserverpb.Lease/LeaseRevoke', pb['LeaseRevokeRequest']!, pb['LeaseRevokeResponse']!, leasePolicy),
  spec('LeaseTimeToLive', 'Lease', '/etcdserverpb.Lease/LeaseTimeToLive', pb['LeaseTimeToLiveRequest']!, pb['LeaseTimeToLiveResponse']!, leasePolicy,
    (res) => {
      // The remaining TTL counts down; only whether the lease lives is deterministic.
      const ttl = res['TTL'];
      if (typeof ttl === 'bigint' && ttl > 0n) res['TTL'] = 'live';
      // etcd lists a lease's keys in Go map order: random.
      const keys = res['keys'] as Buffer[] | undefined;
      if (keys) keys.sort(Buffer.compare);
    }),
  spec('LeaseLeases', 'Lease', '/etcdserverpb.Lease/LeaseLeases', pb['LeaseLeasesRequest']!, pb['LeaseLeasesResponse']!, body,
    (res) => {
      const leases = (res['leases'] as { ID: bigint }[] | undefined) ?? [];
      res['leases'] = leases.map((l) => l.ID).filter((id) => POOL_LEASES.includes(id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }),
];

// The reference has as many members as raftkv (3 etcd beside 3 raftkv with --cluster): membership
// answers compare by shape (the runner drops member IDs and the header and names each side's
// own URLs by position: FuzzRunner.membershipShape).
const CLUSTER: MethodSpec[] = [
  spec('MemberList', 'Cluster', '/etcdserverpb.Cluster/MemberList', pb['MemberListRequest']!, pb['MemberListResponse']!, () => 'body'),
  spec('MemberAdd', 'Cluster', '/etcdserverpb.Cluster/MemberAdd', pb['MemberAddRequest']!, pb['MemberAddResponse']!, () => 'body'),
  spec('MemberRemove', 'Cluster', '/etcdserverpb.Cluster/MemberRemove', pb['MemberRemoveRequest']!, pb['MemberRemoveResponse']!, () => 'body'),
  spec('MemberUpdate', 'Cluster', '/etcdserverpb.Cluster/MemberUpdate', pb['MemberUpdateRequest']!, pb['MemberUpdateResponse']!, () => 'body'),
  spec('MemberPromote', 'Cluster', '/etcdserverpb.Cluster/MemberPromote', pb['MemberPromoteRequest']!, pb['MemberPromoteResponse']!, () => 'body'),
];

const MAINTENANCE: MethodSpec[] = [
  spec('Alarm', 'Maintenance', '/etcdserverpb.Maintenance/Alarm', pb['AlarmRequest']!, pb['AlarmResponse']!, body),
  spec('Status', 'Maintenance', '/etcdserverpb.Maintenance/Status', pb['StatusRequest']!, pb['StatusResponse']!, code),
  spec('Hash', 'Maintenance', '/etcdserverpb.Maintenance/Hash', pb['HashRequest']!, pb['HashResponse']!, code),
  spec('HashKV', 'Maintenance', '/etcdserverpb.Maintenance/HashKV', pb['HashKVRequest']!, pb['HashKVResponse']!, code),
  spec('MoveLeader', 'Maintenance', '/etcdserverpb.Maintenance/MoveLeader', pb['MoveLeaderRequest']!, pb['MoveLeaderResponse']!, (_r, c) => (c ? 'none' : 'code')),
  spec('Defragment', 'Maintenance', '/etcdserverpb.Maintenance/Defragment', pb['DefragmentRequest']!, pb['DefragmentResponse']!, code),
];

const authPaths: [string, string][] = [
  ['AuthEnable', 'AuthEnable'], ['AuthDisable', 'AuthDisable'], ['AuthStatus', 'AuthStatus'], ['Authenticate', 'Authenticate'],
  ['UserAdd', 'AuthUserAdd'], ['UserGet', 'AuthUserGet'], ['UserList', 'AuthUserList'], ['UserDelete', 'AuthUserDelete'],
  ['UserChangePassword', 'AuthUserChangePassword'], ['UserGrantRole', 'AuthUserGrantRole'], ['UserRevokeRole', 'AuthUserRevokeRole'],
  ['RoleAdd', 'AuthRoleAdd'], ['RoleGet', 'AuthRoleGet'], ['RoleList', 'AuthRoleList'], ['RoleDelete', 'AuthRoleDelete'],
  ['RoleGrantPermission', 'AuthRoleGrantPermission'], ['RoleRevokePermission', 'AuthRoleRevokePermission'],
];
const AUTH: MethodSpec[] = authPaths.map(([m, msg]) => spec(m, 'Auth', `/etcdserverpb.Auth/${m}`, pb[`${msg}Request`]!, pb[`${msg}Response`]!,
  (_req, cluster) => (cluster || m === 'AuthStatus' ? 'code' : 'body'),
  (res) => { if (typeof res['token'] === 'string' && res['token'] !== '') res['token'] = 'TOKEN'; }));

// A lock or campaign may wait for another holder: with the fuzzer's deadline the outcome is
// timing, so only the code of requests that cannot wait is compared.
const LOCK: MethodSpec[] = [
  spec('Lock', 'Lock', '/v3lockpb.Lock/Lock', lockpb['LockRequest']!, lockpb['LockResponse']!, code),
  spec('Unlock', 'Lock', '/v3lockpb.Lock/Unlock', lockpb['UnlockRequest']!, lockpb['UnlockResponse']!, code),
];
const ELECTION: MethodSpec[] = [
  spec('Campaign', 'Election', '/v3electionpb.Election/Campaign', electionpb['CampaignRequest']!, electionpb['CampaignResponse']!, code),
  spec('Proclaim', 'Election', '/v3electionpb.Election/Proclaim', electionpb['ProclaimRequest']!, electionpb['ProclaimResponse']!, code),
  spec('Leader', 'Election', '/v3electionpb.Election/Leader', electionpb['LeaderRequest']!, electionpb['LeaderResponse']!, code),
  spec('Resign', 'Election', '/v3electionpb.Election/Resign', electionpb['ResignRequest']!, electionpb['ResignResponse']!, code),
];

export const METHODS: ReadonlyMap<string, MethodSpec> = new Map(
  [...KV, ...LEASE, ...CLUSTER, ...MAINTENANCE, ...AUTH, ...LOCK, ...ELECTION].map((s) => [s.name, s]),
);

export function methodSpec(name: string): MethodSpec {
  const s = METHODS.get(name);
  if (s === undefined) throw new Error(`unknown method ${name}`);
  return s;
}

/** Methods whose mutated bytes could reconfigure the cluster: never mutated. */
export const NEVER_MUTATED: ReadonlySet<string> = new Set(['MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberPromote', 'AuthEnable']);
