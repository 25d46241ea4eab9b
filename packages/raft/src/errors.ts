/** Base class of every error thrown by `@raftkv/raft`. */
export class RaftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Storage: the requested index is below the first available index (compacted away). */
export class CompactedError extends RaftError {
  constructor() {
    super('requested index is unavailable due to compaction');
  }
}

/** Storage: the requested index is above the last index. */
export class UnavailableError extends RaftError {
  constructor() {
    super('requested entry at index is unavailable');
  }
}

/** Storage: the snapshot is older than the one already held. */
export class SnapshotOutOfDateError extends RaftError {
  constructor() {
    super('requested index is older than the existing snapshot');
  }
}

/** Storage: a snapshot is being built; raft retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('snapshot is temporarily unavailable');
  }
}

/**
 * A proposal (or transfer / read) was dropped: no leader is known, this node
 * is not a member, a leadership transfer is in progress, or the uncommitted
 * log is over its size limit. Retry later; nothing was appended.
 */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super(`raft proposal dropped: ${reason}`);
  }
}

/** Invalid node configuration. */
export class ConfigError extends RaftError {}

/** A membership change that cannot be applied to the current config. */
export class ConfChangeError extends RaftError {}

/** Bytes that are not a valid encoding of the expected type. */
export class DecodeError extends RaftError {}

/**
 * An invariant of the raft log or state machine does not hold (corrupted or
 * lost storage, misuse of the Ready contract). Not recoverable: crash loudly.
 */
export class RaftInvariantError extends RaftError {}

export function invariant(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
