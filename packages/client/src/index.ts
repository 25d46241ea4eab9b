/**
 * @raftkv/client — a typed client for etcd v3 clusters (raftkv or etcd): KV, txn, watch that
 * resumes without losing or repeating events, leases kept alive, cluster and maintenance calls,
 * failover over several endpoints, and etcd's concurrency recipes (Session, Mutex, Election, STM).
 */
export { Client, TxnBuilder, type ClientOptions, type GrantOptions, type Member } from './client.js';
export type { CallControl, RetryPolicy, TlsOptions } from './connection.js';
export {
  Cmp, Op, prefixEnd,
  type Bytes, type Compare, type CompareOperator, type CompareTarget, type DeleteOptions, type DeleteResult, type KeySelector,
  type KeyValue, type OpResult, type PutOptions, type PutResult, type RangeOptions, type RangeResult, type ResponseHeader,
  type SortOrder, type SortTarget, type TxnOp, type TxnResult,
} from './kv.js';
export { Watcher, type WatchBatch, type WatchEvent, type WatchOptions } from './watch.js';
export { Lease, type LeaseTimeToLive } from './lease.js';
export { Session, type SessionOptions } from './recipes/session.js';
export { Mutex, LockedError } from './recipes/mutex.js';
export { Election, type LeaderState } from './recipes/election.js';
export { runStm, type Isolation, type STM, type StmOptions } from './recipes/stm.js';
export {
  EtcdClientError, EtcdServerError, EmptyKeyError, KeyNotFoundError, ValueProvidedError, InvalidSortOptionError, LeaseProvidedError, TooManyOpsError, DuplicateKeyError, CompactedError, FutureRevError, NoSpaceError, LeaseNotFoundError, LeaseExistError, LeaseTTLTooLargeError, WatchCanceledError, MemberExistError, PeerURLExistError, MemberNotEnoughStartedError, MemberBadURLsError, MemberNotFoundError, MemberNotLearnerError, LearnerNotReadyError, TooManyLearnersError, RequestTooLargeError, TooManyRequestsError, RootUserNotExistError, RootRoleNotExistError, UserAlreadyExistError, UserEmptyError, UserNotFoundError, RoleAlreadyExistError, RoleNotFoundError, RoleEmptyError, AuthFailedError, PermissionDeniedError, RoleNotGrantedError, PermissionNotGrantedError, AuthNotEnabledError, InvalidAuthTokenError, InvalidAuthMgmtError, AuthOldRevisionError, NoLeaderError, NotLeaderError, LeaderChangedError, NotCapableError, StoppedError, TimeoutError, TimeoutDueToLeaderFailError, TimeoutDueToConnectionLostError, TimeoutWaitAppliedIndexError, UnhealthyError, CorruptError, NotSupportedForLearnerError, BadLeaderTransfereeError, TimeoutLeaderTransferError, InternalError, UnavailableError, DeadlineExceededError, CancelledError, WatchCompactedError, LeaseLostError, SessionExpiredError, ElectionNotLeaderError, ElectionNoLeaderError,
} from './errors.js';

// Beyond etcd's clients: a live view of a prefix, service registry and discovery, a grpc-js
// resolver over it, typed keyspaces and a configuration watcher.
export { LiveMap, type LiveChange } from './beyond/live-map.js';
export { Registration, ServiceRegistry, type ServiceInstance } from './beyond/registry.js';
export { installResolver } from './beyond/resolver.js';
export { ConfigWatcher, SchemaError, TypedKeyspace, typedKeyspace, watchConfig } from './beyond/typed.js';
