import type { ConfChange, ConfChangeV2, ConfState, Logger as RaftLogger, Message, Snapshot } from '@raftkv/raft';
import type { WalOptions } from '@raftkv/wal';
import type { ForceNewClusterOptions } from './force-new-cluster.js';
import type { CommittedEntry } from './replicated-log.js';
import type { Ticker } from './ticker.js';

/** ReadIndex requests waiting at once; more are refused with `TooManyRequests`. */
export const DEFAULT_MAX_PENDING_READS = 4096;

export interface RaftLogOptions {
  /** This member's raft node ID (never 0). */
  id: bigint;
  /** `member/wal`. */
  walDir: string;
  /** `member/snap`. */
  snapDir: string;
  /** WAL metadata written when the WAL is created (member and cluster ID); ignored on restart. */
  metadata: Uint8Array;
  /**
   * Bootstrap voters of a brand-new cluster member (its own ID included). Used only while the
   * log is empty (a new WAL, or one that crashed before its first Ready was persisted), so it
   * is safe to pass on every start; a restart learns membership from the snapshot and the log.
   * A member joining an existing cluster passes none.
   */
  voters?: readonly bigint[];
  /** Leader heartbeat period; one tick. */
  heartbeatIntervalMs: number;
  /** Election timeout; `electionTimeoutMs / heartbeatIntervalMs` ticks (at least 2). */
  electionTimeoutMs: number;
  /** Applied entries between snapshots (etcd's --snapshot-count). */
  snapshotCount: number;
  /** Entries kept in memory below a snapshot for slow followers. Default 5000, as etcd. */
  snapshotCatchUpEntries?: number;
  /** Data bytes of applied entries that also trigger a snapshot (not an etcd flag). Default 8 MiB. */
  snapshotBytes?: number;
  /** At most this many data bytes of entries are kept below a snapshot, besides the entry count bound. Default 2 MiB. */
  snapshotCatchUpBytes?: number;
  /** Snapshot files kept. Default 5. */
  maxSnapshots?: number;
  /** Run raft's pre-vote (etcd's --pre-vote). Default false. Check-quorum is always on, as in etcd. */
  preVote?: boolean;
  /** Followers refuse proposals with `NotLeader` instead of forwarding them. Default false. */
  disableProposalForwarding?: boolean;
  /** Ticks a ReadIndex request may wait for confirmation. Default (5 s + 2 election timeouts) in ticks, as etcd's request timeout. */
  requestTimeoutTicks?: number;
  /** ReadIndex requests waiting at once. Default 4096. */
  maxPendingReads?: number;
  /**
   * Hands raft messages to the transport. Called only when raft's contract allows: leader
   * appends of a durable term before the WAL write, everything else after it. Must not throw
   * and must not call back into the log synchronously. A `MsgSnap` must be answered with
   * {@link RaftLog.reportSnapshot}.
   */
  send(messages: Message[]): void;
  /**
   * Committed normal entries with data, in index order, each exactly once per run, after they are durable.
   * A promise says they are not all applied yet (a big write goes on in steps): it resolves once
   * everything passed to `apply` so far is, and until then the applied index stays below them
   * (no read is released and no snapshot taken as if they were in the state machine).
   */
  apply(entries: CommittedEntry[]): void | Promise<void>;
  /** A committed membership change was applied: the new ConfState (to store with the next snapshot). */
  onConfChange?(change: ConfChange | ConfChangeV2, confState: ConfState, index: number): void;
  /**
   * A snapshot from the leader was persisted and installed: restore the state machine from it.
   * Nothing more is applied until the returned promise resolves; a rejection is fatal.
   */
  onSnapshot?(snapshot: Snapshot): void | Promise<void>;
  /** A snapshot was saved at `index` and the WAL segments and log entries it covers released. */
  onSnapshotSaved?(index: number): void;
  /** Leader or role changed (`lead` is 0 when no leader is known). */
  onLeaderChange?(lead: bigint, isLeader: boolean): void;
  /**
   * Resolves once everything passed to `apply` so far is durable in the state machine (mvcc's
   * backend). Awaited before a snapshot lets the WAL drop the entries below it.
   */
  backendDurable?(): Promise<void>;
  /** Persisting or raft failed: the member cannot go on (restart it, which re-reads what is durable). */
  fatal(err: unknown): void;
  /** Source of ticks. Default: `setInterval` every `heartbeatIntervalMs`. */
  ticker?: Ticker;
  /** Randomness in [0, 1) for election timeouts. Default `Math.random`. */
  random?: () => number;
  /**
   * etcd's `--force-new-cluster`, on a restart (ignored when the WAL is new): entries above the
   * commit index are dropped and conf changes that leave this member the only voter are
   * appended as committed, before raft starts (see `forceStandalone`).
   */
  forceNewCluster?: ForceNewClusterOptions;
  /** WAL tuning (tests use small segments). */
  walOptions?: WalOptions;
  raftLogger?: RaftLogger;
}

/** @throws RangeError naming the first option out of range. */
export function validate(o: RaftLogOptions): void {
  if (o.id === 0n) throw new RangeError('raft-log: id must not be 0');
  const positive = (name: string, v: number | undefined, min = 1): void => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw new RangeError(`raft-log: ${name} must be an integer >= ${min}, got ${v}`);
  };
  positive('heartbeatIntervalMs', o.heartbeatIntervalMs);
  positive('electionTimeoutMs', o.electionTimeoutMs);
  if (o.electionTimeoutMs < 2 * o.heartbeatIntervalMs) {
    throw new RangeError('raft-log: electionTimeoutMs must be at least twice heartbeatIntervalMs');
  }
  positive('snapshotCount', o.snapshotCount);
  positive('snapshotCatchUpEntries', o.snapshotCatchUpEntries, 0);
  positive('snapshotBytes', o.snapshotBytes);
  positive('snapshotCatchUpBytes', o.snapshotCatchUpBytes, 0);
  positive('maxSnapshots', o.maxSnapshots);
  positive('requestTimeoutTicks', o.requestTimeoutTicks);
  positive('maxPendingReads', o.maxPendingReads);
}
