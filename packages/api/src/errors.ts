import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';

/**
 * One of etcd's gRPC errors: a gRPC status code plus an exact message.
 *
 * etcd clients (clientv3, etcdctl, the `etcd3` npm package) recognise these errors by
 * their message string, not by the code alone, so `message` must stay byte-for-byte
 * what etcd 3.4/3.5 sends. Instances are immutable and shared; compare with `===` or
 * {@link EtcdError.is}.
 */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';

  /**
   * @param code - gRPC status code etcd uses for this error.
   * @param message - exact etcd message, e.g. `etcdserver: key is not provided`.
   */
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }

  /**
   * The value a grpc-js handler passes to its callback (unary) or emits on a server
   * stream with `call.emit('error', err)`. The client sees `code` as the status and
   * `message` as the status details, as with etcd.
   *
   * Gotcha: on a stream, `call.destroy(err)` does NOT send the status (grpc-js 1.14 only
   * sends it from the stream's final step, which destroy skips); the client then waits
   * until its deadline.
   */
  toServiceError(): ServerErrorResponse {
    const err: ServerErrorResponse = new Error(this.message);
    err.code = this.code;
    err.details = this.message;
    err.metadata = new Metadata();
    return err;
  }

  /** True when `err` carries the same code and message as this error (e.g. a client-side ServiceError). */
  is(err: unknown): boolean {
    if (typeof err !== 'object' || err === null) return false;
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    return e.code === this.code && (e.details === this.message || e.message === this.message);
  }
}

// Codes and messages as in etcd's v3rpc/rpctypes (3.4, unchanged in 3.5). Clients
// match on the message, so never reword one.
const table = {
  EmptyKey: [status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KeyNotFound: [status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  ValueProvided: [status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  // etcd 3.5's answer to a sort target it does not know (etcd 3.4 panics on such a range).
  InvalidSortOption: [status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  LeaseProvided: [status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TooManyOps: [status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DuplicateKey: [status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  Compacted: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FutureRev: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  NoSpace: [status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],

  LeaseNotFound: [status.NOT_FOUND, 'etcdserver: requested lease not found'],
  LeaseExist: [status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  LeaseTTLTooLarge: [status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],

  WatchCanceled: [status.CANCELLED, 'etcdserver: watch canceled'],

  MemberExist: [status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  PeerURLExist: [status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  MemberNotEnoughStarted: [
    status.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ],
  MemberBadURLs: [status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  MemberNotFound: [status.NOT_FOUND, 'etcdserver: member not found'],
  MemberNotLearner: [status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  LearnerNotReady: [
    status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ],
  TooManyLearners: [status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],

  RequestTooLarge: [status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  TooManyRequests: [status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],

  RootUserNotExist: [status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  RootRoleNotExist: [status.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  UserAlreadyExist: [status.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  UserEmpty: [status.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  UserNotFound: [status.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  RoleAlreadyExist: [status.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  RoleNotFound: [status.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  RoleEmpty: [status.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  AuthFailed: [status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  PermissionDenied: [status.PERMISSION_DENIED, 'etcdserver: permission denied'],
  RoleNotGranted: [status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  PermissionNotGranted: [status.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  AuthNotEnabled: [status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  InvalidAuthToken: [status.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  InvalidAuthMgmt: [status.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  AuthOldRevision: [status.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],

  NoLeader: [status.UNAVAILABLE, 'etcdserver: no leader'],
  NotLeader: [status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  LeaderChanged: [status.UNAVAILABLE, 'etcdserver: leader changed'],
  NotCapable: [status.UNAVAILABLE, 'etcdserver: not capable'],
  Stopped: [status.UNAVAILABLE, 'etcdserver: server stopped'],
  Timeout: [status.UNAVAILABLE, 'etcdserver: request timed out'],
  TimeoutDueToLeaderFail: [
    status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ],
  TimeoutDueToConnectionLost: [
    status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
  ],
  TimeoutWaitAppliedIndex: [
    status.UNAVAILABLE,
    'etcdserver: request timed out, waiting for the applied index took too long',
  ],
  Unhealthy: [status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  Corrupt: [status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  NotSupportedForLearner: [status.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  BadLeaderTransferee: [status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  // Not in etcd's gRPC error map: clients see Unknown with the server's message.
  TimeoutLeaderTransfer: [status.UNKNOWN, 'etcdserver: request timed out, leader transfer took too long'],
  // Ours: a failure the server did not expect (a bug). Clients get etcd's INTERNAL code and this
  // generic text; the details go to the server's log, never to the client.
  Internal: [status.INTERNAL, 'etcdserver: internal error'],
} as const satisfies Record<string, readonly [status, string]>;

/** Name of one of etcd's gRPC errors, e.g. `'EmptyKey'`. */
export type EtcdErrorName = keyof typeof table;

/**
 * Every gRPC error etcd's server can return, by etcd's name without the `ErrGRPC`
 * prefix: `EtcdErrors.EmptyKey`, `EtcdErrors.Compacted`, `EtcdErrors.LeaseNotFound`, ...
 *
 * @example
 *   callback(EtcdErrors.EmptyKey.toServiceError());
 */
export const EtcdErrors: { readonly [K in EtcdErrorName]: EtcdError } = Object.freeze(
  Object.fromEntries(
    Object.entries(table).map(([name, [code, message]]) => [name, new EtcdError(code, message)]),
  ) as { [K in EtcdErrorName]: EtcdError },
);

const byMessage = new Map<string, EtcdError>(Object.values(EtcdErrors).map((e) => [e.message, e]));

/**
 * The known etcd error whose message is `message` (a client's `ServiceError.details`),
 * or `undefined` if etcd has no such error. This is how etcd's own client maps a status
 * back to a typed error.
 */
export function etcdErrorFromMessage(message: string): EtcdError | undefined {
  return byMessage.get(message);
}
