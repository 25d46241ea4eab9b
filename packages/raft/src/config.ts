import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';
import { ReadOnlyOption } from './read-only.js';
import type { Storage } from './storage.js';

/** Everything a node needs; see each field for its default. */
export interface RaftConfig {
  /** This node's ID; never 0. */
  id: bigint;
  /**
   * Bootstrap membership, used only when `storage` is completely empty (a
   * brand-new cluster member): raft then writes one ConfChange entry per
   * member at term 1. Ignored once storage holds any entry or snapshot. A
   * node joining an existing cluster passes none and learns the membership
   * from the leader.
   */
  voters?: readonly bigint[];
  learners?: readonly bigint[];
  /**
   * Ticks without hearing from a leader before a follower campaigns. The
   * actual timeout is drawn from [electionTicks, 2*electionTicks) each time.
   * Must be greater than heartbeatTicks (10x is usual).
   */
  electionTicks: number;
  /** Ticks between leader heartbeats. */
  heartbeatTicks: number;
  /** The durable log; see `Storage`. */
  storage: Storage;
  /**
   * The last index already applied to the state machine when restarting.
   * Committed entries up to here are not handed out again. Default 0.
   */
  applied?: number;
  /** Upper bound on the entry bytes in one append message (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsgBytes?: number;
  /** Upper bound on the bytes of committed entries in one Ready. Default 64 MiB. */
  maxCommittedSizePerReadyBytes?: number;
  /** Upper bound on the leader's uncommitted entry bytes; proposals beyond it are dropped. Default 64 MiB. */
  maxUncommittedEntriesSizeBytes?: number;
  /** ReadIndex requests a leader holds unanswered; more are dropped. Default 4096. */
  maxPendingReadIndexRequests?: number;
  /** Append messages in flight per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Run a pre-vote round before incrementing the term (avoids disruption by partitioned nodes). Default false. */
  preVote?: boolean;
  /** Leader steps down when it has not heard from a quorum for an election timeout. Default false. */
  checkQuorum?: boolean;
  /** How ReadIndex is served. `LeaseBased` requires `checkQuorum`. Default `Safe`. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /** Source of randomness in [0, 1) for election timeouts; inject a seeded one in tests. */
  random: () => number;
  logger?: Logger;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'logger' | 'voters' | 'learners'>> &
  Pick<RaftConfig, 'logger' | 'voters' | 'learners'>;

const MIB = 1024 * 1024;

/** Apply defaults and validate. @throws ConfigError */
export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    ...c,
    applied: c.applied ?? 0,
    maxSizePerMsgBytes: c.maxSizePerMsgBytes ?? MIB,
    maxCommittedSizePerReadyBytes: c.maxCommittedSizePerReadyBytes ?? 64 * MIB,
    maxUncommittedEntriesSizeBytes: c.maxUncommittedEntriesSizeBytes ?? 64 * MIB,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxPendingReadIndexRequests: c.maxPendingReadIndexRequests ?? 4096,
    preVote: c.preVote ?? false,
    checkQuorum: c.checkQuorum ?? false,
    readOnlyOption: c.readOnlyOption ?? ReadOnlyOption.Safe,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
  };
  if (r.id === 0n) throw new ConfigError('cannot use none as id');
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt('heartbeatTicks', r.heartbeatTicks);
  positiveInt('electionTicks', r.electionTicks);
  if (r.electionTicks <= r.heartbeatTicks) throw new ConfigError('electionTicks must be greater than heartbeatTicks');
  positiveInt('maxInflightMsgs', r.maxInflightMsgs);
  positiveInt('maxPendingReadIndexRequests', r.maxPendingReadIndexRequests);
  positiveInt('maxSizePerMsgBytes', r.maxSizePerMsgBytes);
  positiveInt('maxCommittedSizePerReadyBytes', r.maxCommittedSizePerReadyBytes);
  positiveInt('maxUncommittedEntriesSizeBytes', r.maxUncommittedEntriesSizeBytes);
  if (!Number.isSafeInteger(r.applied) || r.applied < 0) throw new ConfigError('applied must be a non-negative integer');
  if (r.readOnlyOption === ReadOnlyOption.LeaseBased && !r.checkQuorum) {
    throw new ConfigError('checkQuorum must be enabled when readOnlyOption is LeaseBased');
  }
  if (r.readOnlyOption !== ReadOnlyOption.Safe && r.readOnlyOption !== ReadOnlyOption.LeaseBased) {
    throw new ConfigError(`unknown readOnlyOption ${String(r.readOnlyOption)}`);
  }
  if (typeof r.random !== 'function') throw new ConfigError('random must be a function returning [0, 1)');
  return r;
}
