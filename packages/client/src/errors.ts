import { status, type ServiceError } from '@grpc/grpc-js';
import { EtcdErrors, type EtcdErrorName } from '@raftkv/api';

/**
 * Every error the client throws. `code` is the gRPC status, `details` the server's message
 * (etcd's exact text for etcd's errors).
 */
export class EtcdClientError extends Error {
  override name = 'EtcdClientError';
  constructor(message: string, readonly code: status = status.UNKNOWN, readonly details: string = message) {
    super(message);
  }
}

/** One of etcd's server errors (etcd's `ErrGRPC<Name>`); `etcdName` is that name. */
export class EtcdServerError extends EtcdClientError {
  override name = 'EtcdServerError';
  readonly etcdName: EtcdErrorName | undefined = undefined;
}

// One class per etcd error, named after etcd's ErrGRPC<Name> (`instanceof CompactedError`).
export class EmptyKeyError extends EtcdServerError {}
export class KeyNotFoundError extends EtcdServerError {}
export class ValueProvidedError extends EtcdServerError {}
export class InvalidSortOptionError extends EtcdServerError {}
export class LeaseProvidedError extends EtcdServerError {}
export class TooManyOpsError extends EtcdServerError {}
export class DuplicateKeyError extends EtcdServerError {}
export class CompactedError extends EtcdServerError {}
export class FutureRevError extends EtcdServerError {}
export class NoSpaceError extends EtcdServerError {}
export class LeaseNotFoundError extends EtcdServerError {}
export class LeaseExistError extends EtcdServerError {}
export class LeaseTTLTooLargeError extends EtcdServerError {}
export class WatchCanceledError extends EtcdServerError {}
export class MemberExistError extends EtcdServerError {}
export class PeerURLExistError extends EtcdServerError {}
export class MemberNotEnoughStartedError extends EtcdServerError {}
export class MemberBadURLsError extends EtcdServerError {}
export class MemberNotFoundError extends EtcdServerError {}
export class MemberNotLearnerError extends EtcdServerError {}
export class LearnerNotReadyError extends EtcdServerError {}
export class TooManyLearnersError extends EtcdServerError {}
export class RequestTooLargeError extends EtcdServerError {}
export class TooManyRequestsError extends EtcdServerError {}
export class RootUserNotExistError extends EtcdServerError {}
export class RootRoleNotExistError extends EtcdServerError {}
export class UserAlreadyExistError extends EtcdServerError {}
export class UserEmptyError extends EtcdServerError {}
export class UserNotFoundError extends EtcdServerError {}
export class RoleAlreadyExistError extends EtcdServerError {}
export class RoleNotFoundError extends EtcdServerError {}
export class RoleEmptyError extends EtcdServerError {}
export class AuthFailedError extends EtcdServerError {}
export class PermissionDeniedError extends EtcdServerError {}
export class RoleNotGrantedError extends EtcdServerError {}
export class PermissionNotGrantedError extends EtcdServerError {}
export class AuthNotEnabledError extends EtcdServerError {}
export class InvalidAuthTokenError extends EtcdServerError {}
export class InvalidAuthMgmtError extends EtcdServerError {}
export class AuthOldRevisionError extends EtcdServerError {}
export class NoLeaderError extends EtcdServerError {}
export class NotLeaderError extends EtcdServerError {}
export class LeaderChangedError extends EtcdServerError {}
export class NotCapableError extends EtcdServerError {}
export class StoppedError extends EtcdServerError {}
export class TimeoutError extends EtcdServerError {}
export class TimeoutDueToLeaderFailError extends EtcdServerError {}
export class TimeoutDueToConnectionLostError extends EtcdServerError {}
export class TimeoutWaitAppliedIndexError extends EtcdServerError {}
export class UnhealthyError extends EtcdServerError {}
export class CorruptError extends EtcdServerError {}
export class NotSupportedForLearnerError extends EtcdServerError {}
export class BadLeaderTransfereeError extends EtcdServerError {}
export class TimeoutLeaderTransferError extends EtcdServerError {}
export class InternalError extends EtcdServerError {}

const serverErrorClasses: { readonly [K in EtcdErrorName]: typeof EtcdServerError } = {
  EmptyKey: EmptyKeyError, KeyNotFound: KeyNotFoundError, ValueProvided: ValueProvidedError,
  InvalidSortOption: InvalidSortOptionError, LeaseProvided: LeaseProvidedError, TooManyOps: TooManyOpsError,
  DuplicateKey: DuplicateKeyError, Compacted: CompactedError, FutureRev: FutureRevError, NoSpace: NoSpaceError,
  LeaseNotFound: LeaseNotFoundError, LeaseExist: LeaseExistError, LeaseTTLTooLarge: LeaseTTLTooLargeError,
  WatchCanceled: WatchCanceledError, MemberExist: MemberExistError, PeerURLExist: PeerURLExistError,
  MemberNotEnoughStarted: MemberNotEnoughStartedError, MemberBadURLs: MemberBadURLsError,
  MemberNotFound: MemberNotFoundError, MemberNotLearner: MemberNotLearnerError, LearnerNotReady: LearnerNotReadyError,
  TooManyLearners: TooManyLearnersError, RequestTooLarge: RequestTooLargeError, TooManyRequests: TooManyRequestsError,
  RootUserNotExist: RootUserNotExistError, RootRoleNotExist: RootRoleNotExistError,
  UserAlreadyExist: UserAlreadyExistError, UserEmpty: UserEmptyError, UserNotFound: UserNotFoundError,
  RoleAlreadyExist: RoleAlreadyExistError, RoleNotFound: RoleNotFoundError, RoleEmpty: RoleEmptyError,
  AuthFailed: AuthFailedError, PermissionDenied: PermissionDeniedError, RoleNotGranted: RoleNotGrantedError,
  PermissionNotGranted: PermissionNotGrantedError, AuthNotEnabled: AuthNotEnabledError,
  InvalidAuthToken: InvalidAuthTokenError, InvalidAuthMgmt: InvalidAuthMgmtError, AuthOldRevision: AuthOldRevisionError,
  NoLeader: NoLeaderError, NotLeader: NotLeaderError, LeaderChanged: LeaderChangedError, NotCapable: NotCapableError,
  Stopped: StoppedError, Timeout: TimeoutError, TimeoutDueToLeaderFail: TimeoutDueToLeaderFailError,
  TimeoutDueToConnectionLost: TimeoutDueToConnectionLostError, TimeoutWaitAppliedIndex: TimeoutWaitAppliedIndexError,
  Unhealthy: UnhealthyError, Corrupt: CorruptError, NotSupportedForLearner: NotSupportedForLearnerError,
  BadLeaderTransferee: BadLeaderTransfereeError, TimeoutLeaderTransfer: TimeoutLeaderTransferError,
  Internal: InternalError,
};

// etcd's message -> its name. Clients recognise etcd errors by message (the code alone is shared).
const byMessage = new Map<string, EtcdErrorName>(
  (Object.keys(EtcdErrors) as EtcdErrorName[]).map((name) => [EtcdErrors[name].message, name]),
);

/** No endpoint could be reached (every endpoint refused or dropped the connection). */
export class UnavailableError extends EtcdClientError { override name = 'UnavailableError'; }
/** The call's deadline (`timeoutMs`) passed. The outcome of a write is unknown. */
export class DeadlineExceededError extends EtcdClientError { override name = 'DeadlineExceededError'; }
/** The caller's AbortSignal fired, or the client was closed. */
export class CancelledError extends EtcdClientError { override name = 'CancelledError'; }
/**
 * A watch's start revision was compacted: the events from it are gone. `compactRevision` is the
 * oldest revision still available; watch again from it (and re-read state) to carry on.
 */
export class WatchCompactedError extends EtcdClientError {
  override name = 'WatchCompactedError';
  constructor(readonly compactRevision: bigint) {
    super(`etcdserver: mvcc: required revision has been compacted (compact revision ${compactRevision})`, status.OUT_OF_RANGE,
      'etcdserver: mvcc: required revision has been compacted');
  }
}
/** A lease expired or was revoked before the client renewed it (keys attached to it are gone). */
export class LeaseLostError extends EtcdClientError { override name = 'LeaseLostError'; }
/**
 * A Mutex.lock or Election.campaign whose turn came after its session's lease was lost (its key
 * is gone): it does not hold the lock or lead (etcd 3.5's concurrency.ErrSessionExpired).
 */
export class SessionExpiredError extends EtcdClientError {
  override name = 'SessionExpiredError';
  constructor() { super('session expired'); }
}
/** Election.proclaim/resign on an election this side no longer leads (etcd's ErrElectionNotLeader). */
export class ElectionNotLeaderError extends EtcdClientError {
  override name = 'ElectionNotLeaderError';
  constructor() { super('election: not leader'); }
}
/** Election.leader when nobody campaigns (etcd's ErrElectionNoLeader). */
export class ElectionNoLeaderError extends EtcdClientError {
  override name = 'ElectionNoLeaderError';
  constructor() { super('election: no leader'); }
}

/** True for a grpc-js ServiceError (a status from the channel or the server). */
/** @internal */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/** The typed error for a gRPC status from a server or the channel. */
export function fromServiceError(err: ServiceError): EtcdClientError {
  const details = err.details ?? err.message;
  const name = byMessage.get(details);
  if (name !== undefined) {
    const Class = serverErrorClasses[name];
    const e = new Class(details, err.code, details);
    (e as { etcdName: EtcdErrorName | undefined }).etcdName = name;
    e.name = Class.name;
    return e;
  }
  switch (err.code) {
    case status.UNAVAILABLE: return new UnavailableError(details, err.code, details);
    case status.DEADLINE_EXCEEDED: return new DeadlineExceededError(details, err.code, details);
    case status.CANCELLED: return new CancelledError(details, err.code, details);
    default: return new EtcdClientError(details, err.code, details);
  }
}

/** Any thrown value as the client's error type. */
export function toClientError(err: unknown): EtcdClientError {
  if (err instanceof EtcdClientError) return err;
  if (isServiceError(err)) return fromServiceError(err);
  return new EtcdClientError(err instanceof Error ? err.message : String(err));
}
