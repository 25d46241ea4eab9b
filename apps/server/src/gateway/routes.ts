/**
 * The paths etcd 3.4's gateway serves (its generated *.pb.gw.go files), each a POST that calls
 * one gRPC method. Where two methods share a path (/v3/maintenance/hash: Hash and HashKV) the
 * one registered first answers, as in grpc-gateway 1.6's mux: Hash.
 */

/** How the gateway calls a method: one message each way, or a stream on either side. */
export type CallKind = 'unary' | 'server-stream' | 'bidi';

export interface Route {
  /** The gRPC method path, e.g. `/etcdserverpb.KV/Range`. */
  readonly method: string;
  readonly request: string;
  readonly response: string;
  readonly kind: CallKind;
}

const route = (service: string, method: string, request: string, response: string, kind: CallKind = 'unary'): Route =>
  ({ method: `/${service}/${method}`, request, response, kind });

const kv = (m: string, req: string, res: string): Route => route('etcdserverpb.KV', m, `etcdserverpb.${req}`, `etcdserverpb.${res}`);
const lease = (m: string, kind: CallKind = 'unary'): Route => route('etcdserverpb.Lease', m, `etcdserverpb.${m}Request`, `etcdserverpb.${m}Response`, kind);
const cluster = (m: string): Route => route('etcdserverpb.Cluster', m, `etcdserverpb.${m}Request`, `etcdserverpb.${m}Response`);
const maintenance = (m: string, kind: CallKind = 'unary'): Route => route('etcdserverpb.Maintenance', m, `etcdserverpb.${m}Request`, `etcdserverpb.${m}Response`, kind);
const auth = (m: string, message: string): Route => route('etcdserverpb.Auth', m, `etcdserverpb.${message}Request`, `etcdserverpb.${message}Response`);

/** Path (after /v3beta/ → /v3/) → what it calls. */
export const ROUTES: ReadonlyMap<string, Route> = new Map([
  ['/v3/kv/range', kv('Range', 'RangeRequest', 'RangeResponse')],
  ['/v3/kv/put', kv('Put', 'PutRequest', 'PutResponse')],
  ['/v3/kv/deleterange', kv('DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse')],
  ['/v3/kv/txn', kv('Txn', 'TxnRequest', 'TxnResponse')],
  ['/v3/kv/compaction', kv('Compact', 'CompactionRequest', 'CompactionResponse')],
  ['/v3/watch', route('etcdserverpb.Watch', 'Watch', 'etcdserverpb.WatchRequest', 'etcdserverpb.WatchResponse', 'bidi')],
  ['/v3/lease/grant', lease('LeaseGrant')],
  ['/v3/lease/revoke', lease('LeaseRevoke')],
  ['/v3/kv/lease/revoke', lease('LeaseRevoke')],
  ['/v3/lease/keepalive', lease('LeaseKeepAlive', 'bidi')],
  ['/v3/lease/timetolive', lease('LeaseTimeToLive')],
  ['/v3/kv/lease/timetolive', lease('LeaseTimeToLive')],
  ['/v3/lease/leases', lease('LeaseLeases')],
  ['/v3/kv/lease/leases', lease('LeaseLeases')],
  ['/v3/cluster/member/add', cluster('MemberAdd')],
  ['/v3/cluster/member/remove', cluster('MemberRemove')],
  ['/v3/cluster/member/update', cluster('MemberUpdate')],
  ['/v3/cluster/member/list', cluster('MemberList')],
  ['/v3/cluster/member/promote', cluster('MemberPromote')],
  ['/v3/maintenance/alarm', maintenance('Alarm')],
  ['/v3/maintenance/status', maintenance('Status')],
  ['/v3/maintenance/defragment', maintenance('Defragment')],
  ['/v3/maintenance/hash', maintenance('Hash')],
  ['/v3/maintenance/snapshot', maintenance('Snapshot', 'server-stream')],
  ['/v3/maintenance/transfer-leadership', maintenance('MoveLeader')],
  ['/v3/auth/enable', auth('AuthEnable', 'AuthEnable')],
  ['/v3/auth/disable', auth('AuthDisable', 'AuthDisable')],
  ['/v3/auth/authenticate', route('etcdserverpb.Auth', 'Authenticate', 'etcdserverpb.AuthenticateRequest', 'etcdserverpb.AuthenticateResponse')],
  ['/v3/auth/user/add', auth('UserAdd', 'AuthUserAdd')],
  ['/v3/auth/user/get', auth('UserGet', 'AuthUserGet')],
  ['/v3/auth/user/list', auth('UserList', 'AuthUserList')],
  ['/v3/auth/user/delete', auth('UserDelete', 'AuthUserDelete')],
  ['/v3/auth/user/changepw', auth('UserChangePassword', 'AuthUserChangePassword')],
  ['/v3/auth/user/grant', auth('UserGrantRole', 'AuthUserGrantRole')],
  ['/v3/auth/user/revoke', auth('UserRevokeRole', 'AuthUserRevokeRole')],
  ['/v3/auth/role/add', auth('RoleAdd', 'AuthRoleAdd')],
  ['/v3/auth/role/get', auth('RoleGet', 'AuthRoleGet')],
  ['/v3/auth/role/list', auth('RoleList', 'AuthRoleList')],
  ['/v3/auth/role/delete', auth('RoleDelete', 'AuthRoleDelete')],
  ['/v3/auth/role/grant', auth('RoleGrantPermission', 'AuthRoleGrantPermission')],
  ['/v3/auth/role/revoke', auth('RoleRevokePermission', 'AuthRoleRevokePermission')],
  ['/v3/lock/lock', route('v3lockpb.Lock', 'Lock', 'v3lockpb.LockRequest', 'v3lockpb.LockResponse')],
  ['/v3/lock/unlock', route('v3lockpb.Lock', 'Unlock', 'v3lockpb.UnlockRequest', 'v3lockpb.UnlockResponse')],
  ['/v3/election/campaign', route('v3electionpb.Election', 'Campaign', 'v3electionpb.CampaignRequest', 'v3electionpb.CampaignResponse')],
  ['/v3/election/proclaim', route('v3electionpb.Election', 'Proclaim', 'v3electionpb.ProclaimRequest', 'v3electionpb.ProclaimResponse')],
  ['/v3/election/leader', route('v3electionpb.Election', 'Leader', 'v3electionpb.LeaderRequest', 'v3electionpb.LeaderResponse')],
  ['/v3/election/observe', route('v3electionpb.Election', 'Observe', 'v3electionpb.LeaderRequest', 'v3electionpb.LeaderResponse', 'server-stream')],
  ['/v3/election/resign', route('v3electionpb.Election', 'Resign', 'v3electionpb.ResignRequest', 'v3electionpb.ResignResponse')],
]);
