// Promise wrappers over the generated grpc-js clients, for tests and benchmarks.
import { credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { ClusterClient, KVClient, LeaseClient, MaintenanceClient, type etcdserverpb } from '@raftkv/api';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

function call<Req, Res>(fn: (req: Req, cb: Callback<Res>) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export interface EtcdClient {
  range(req: Partial<etcdserverpb.RangeRequest>): Promise<etcdserverpb.RangeResponse>;
  put(req: Partial<etcdserverpb.PutRequest>): Promise<etcdserverpb.PutResponse>;
  deleteRange(req: Partial<etcdserverpb.DeleteRangeRequest>): Promise<etcdserverpb.DeleteRangeResponse>;
  txn(req: Partial<etcdserverpb.TxnRequest>): Promise<etcdserverpb.TxnResponse>;
  compact(req: Partial<etcdserverpb.CompactionRequest>): Promise<etcdserverpb.CompactionResponse>;
  status(): Promise<etcdserverpb.StatusResponse>;
  hashKV(revision: bigint): Promise<etcdserverpb.HashKVResponse>;
  memberList(): Promise<etcdserverpb.MemberListResponse>;
  leaseGrant(id: bigint, ttlSeconds: bigint): Promise<etcdserverpb.LeaseGrantResponse>;
  leaseRevoke(id: bigint): Promise<etcdserverpb.LeaseRevokeResponse>;
  leaseTimeToLive(id: bigint, keys: boolean): Promise<etcdserverpb.LeaseTimeToLiveResponse>;
  leaseLeases(): Promise<etcdserverpb.LeaseLeasesResponse>;
  /** One keepalive on a fresh stream: the response, or the stream's error. */
  leaseKeepAliveOnce(id: bigint): Promise<etcdserverpb.LeaseKeepAliveResponse>;
  readonly lease: LeaseClient;
  close(): void;
}

const EMPTY = Buffer.alloc(0);

export const rangeRequest = (r: Partial<etcdserverpb.RangeRequest>): etcdserverpb.RangeRequest => ({
  key: EMPTY, rangeEnd: EMPTY, limit: 0n, revision: 0n, sortOrder: 0, sortTarget: 0, serializable: false,
  keysOnly: false, countOnly: false, minModRevision: 0n, maxModRevision: 0n, minCreateRevision: 0n,
  maxCreateRevision: 0n, ...r,
});
export const putRequest = (r: Partial<etcdserverpb.PutRequest>): etcdserverpb.PutRequest => ({
  key: EMPTY, value: EMPTY, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false, ...r,
});
export const deleteRangeRequest = (r: Partial<etcdserverpb.DeleteRangeRequest>): etcdserverpb.DeleteRangeRequest => ({
  key: EMPTY, rangeEnd: EMPTY, prevKv: false, ...r,
});
export const txnRequest = (r: Partial<etcdserverpb.TxnRequest>): etcdserverpb.TxnRequest => ({
  compare: [], success: [], failure: [], ...r,
});

/**
 * A client of one endpoint (host:port); requests are completed with the proto defaults.
 * `channelOptions` go to grpc-js (which shares one connection among clients of the same target,
 * credentials and options: give each client a distinct option to have a connection of its own).
 */
export function connect(endpoint: string, creds: ChannelCredentials = credentials.createInsecure(),
  channelOptions: Record<string, string | number> = {}): EtcdClient {
  const opts = { 'grpc.max_receive_message_length': -1, ...channelOptions };
  const kv = new KVClient(endpoint, creds, opts);
  const maintenance = new MaintenanceClient(endpoint, creds, opts);
  const cluster = new ClusterClient(endpoint, creds, opts);
  const lease = new LeaseClient(endpoint, creds, opts);
  return {
    range: (r) => call(kv.range.bind(kv), rangeRequest(r)),
    put: (r) => call(kv.put.bind(kv), putRequest(r)),
    deleteRange: (r) => call(kv.deleteRange.bind(kv), deleteRangeRequest(r)),
    txn: (r) => call(kv.txn.bind(kv), txnRequest(r)),
    compact: (r) => call(kv.compact.bind(kv), { revision: 0n, physical: false, ...r }),
    status: () => call(maintenance.status.bind(maintenance), {}),
    hashKV: (revision) => call(maintenance.hashKv.bind(maintenance), { revision }),
    memberList: () => call(cluster.memberList.bind(cluster), { linearizable: false }),
    leaseGrant: (ID, TTL) => call(lease.leaseGrant.bind(lease), { ID, TTL }),
    leaseRevoke: (ID) => call(lease.leaseRevoke.bind(lease), { ID }),
    leaseTimeToLive: (ID, keys) => call(lease.leaseTimeToLive.bind(lease), { ID, keys }),
    leaseLeases: () => call(lease.leaseLeases.bind(lease), {}),
    leaseKeepAliveOnce: (ID) => new Promise((resolve, reject) => {
      const stream = lease.leaseKeepAlive();
      stream.once('data', (res: etcdserverpb.LeaseKeepAliveResponse) => { resolve(res); stream.end(); });
      stream.once('error', reject);
      stream.write({ ID });
    }),
    lease,
    close: () => { kv.close(); maintenance.close(); cluster.close(); lease.close(); },
  };
}
