/**
 * @raftkv/api — the etcd v3 wire protocol: generated messages and gRPC service
 * definitions for etcd's proto packages, and etcd's gRPC errors.
 *
 * Messages live in one namespace per proto package (`etcdserverpb.PutRequest`,
 * `mvccpb.KeyValue`, ...). Every int64/uint64 field is a `bigint`; narrow counters with
 * {@link toSafeNumber}. Services are also exported flat:
 *
 * @example
 *   server.addService(KVService, impl satisfies KVServer);
 *   const kv = new KVClient('127.0.0.1:2379', credentials.createInsecure());
 */
export * as etcdserverpb from './gen/etcdserverpb/rpc.js';
export * as mvccpb from './gen/mvccpb/kv.js';
export * as authpb from './gen/authpb/auth.js';
export * as v3lockpb from './gen/v3lockpb/v3lock.js';
export * as v3electionpb from './gen/v3electionpb/v3election.js';

export {
  KVService,
  KVClient,
  type KVServer,
  WatchService,
  WatchClient,
  type WatchServer,
  LeaseService,
  LeaseClient,
  type LeaseServer,
  ClusterService,
  ClusterClient,
  type ClusterServer,
  MaintenanceService,
  MaintenanceClient,
  type MaintenanceServer,
  AuthService,
  AuthClient,
  type AuthServer,
} from './gen/etcdserverpb/rpc.js';
export { LockService, LockClient, type LockServer } from './gen/v3lockpb/v3lock.js';
export { ElectionService, ElectionClient, type ElectionServer } from './gen/v3electionpb/v3election.js';

export { EtcdError, EtcdErrors, etcdErrorFromMessage, type EtcdErrorName } from './errors.js';
export { toSafeNumber } from './int64.js';
export { decodeViewing } from './bytes-field.js';
/** The generated encoders' writer (`etcdserverpb.PutRequest.encode(msg, writer)`), for encoding into one kept buffer. */
export { BinaryWriter } from '@bufbuild/protobuf/wire';
