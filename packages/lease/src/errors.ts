/**
 * Why a lessor call was refused. Each code has one gRPC mapping in the server:
 *
 * | code              | etcd gRPC error (status, message)                                  |
 * |-------------------|--------------------------------------------------------------------|
 * | `LeaseNotFound`   | NotFound, "etcdserver: requested lease not found"                  |
 * | `LeaseExist`      | FailedPrecondition, "etcdserver: lease already exists"             |
 * | `LeaseTTLTooLarge`| OutOfRange, "etcdserver: too large lease TTL"                      |
 * | `NotPrimary`      | not sent to clients: the server forwards the call to the leader    |
 * | `TooManyLeases`   | raftkv only (etcd has no limit): ResourceExhausted                 |
 */
export type LeaseErrorCode =
  | 'LeaseNotFound'
  | 'LeaseExist'
  | 'LeaseTTLTooLarge'
  | 'NotPrimary'
  | 'TooManyLeases';

/**
 * Base class of every error the lessor throws on purpose. Switch on {@link LeaseError.code}
 * rather than on `instanceof` of a subclass when mapping to the wire.
 */
export abstract class LeaseError extends Error {
  abstract readonly code: LeaseErrorCode;
}

/**
 * The lease does not exist: never granted, already revoked, or (for `renew`) already past its
 * expiry and waiting for the revoke to commit. Also thrown by `grant` for the reserved ID 0,
 * as etcd's lessor does.
 */
export class LeaseNotFoundError extends LeaseError {
  readonly code = 'LeaseNotFound' as const;
  constructor(readonly leaseId: bigint) {
    super('lease not found');
    this.name = 'LeaseNotFoundError';
  }
}

/** `grant` was given an ID that is already in use. */
export class LeaseExistError extends LeaseError {
  readonly code = 'LeaseExist' as const;
  constructor(readonly leaseId: bigint) {
    super('lease already exists');
    this.name = 'LeaseExistError';
  }
}

/** `grant` was asked for a TTL above {@link MAX_LEASE_TTL_SECONDS}. */
export class LeaseTTLTooLargeError extends LeaseError {
  readonly code = 'LeaseTTLTooLarge' as const;
  constructor(readonly ttlSeconds: number) {
    super('too large lease TTL');
    this.name = 'LeaseTTLTooLargeError';
  }
}

/**
 * The call needs the primary lessor (the one on the Raft leader) and this one is secondary.
 * The server forwards the request to the leader instead of returning this to the client.
 */
export class NotPrimaryError extends LeaseError {
  readonly code = 'NotPrimary' as const;
  constructor() {
    super('not a primary lessor');
    this.name = 'NotPrimaryError';
  }
}

/** `grant` would exceed the `maxLeases` limit. etcd has no such limit; raftkv does. */
export class TooManyLeasesError extends LeaseError {
  readonly code = 'TooManyLeases' as const;
  constructor(readonly maxLeases: number) {
    super(`too many leases (limit ${maxLeases})`);
    this.name = 'TooManyLeasesError';
  }
}
