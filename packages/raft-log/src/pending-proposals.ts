import type { EtcdError } from '@raftkv/api';
import { NONE, ProposalDroppedError, StateType, type SoftState } from '@raftkv/raft';
import { RaftLogErrors } from './proposal-errors.js';

/** What {@link PendingProposals} uses of raft; a `RawNode` is one. */
export interface ProposalRaft {
  /** Appends the entries (a leader) or forwards them; throws `ProposalDroppedError` when raft refuses them. */
  proposeBatch(data: readonly Uint8Array[]): void;
  /** On the leader: its term and last index. Undefined otherwise. */
  leaderLastEntry(): { term: number; lastIndex: number } | undefined;
  status(): { softState: SoftState };
}

interface QueuedProposal {
  data: Uint8Array;
  onDropped: ((err: EtcdError) => void) | undefined;
}

interface TrackedProposal {
  term: number;
  onDropped(err: EtcdError): void;
}

/**
 * Proposals made on this member whose fate is not known yet: queued until the next Ready hands
 * them to raft as one batch (group commit), then, when this member leads, tracked by the index
 * of their entry until that index commits or a snapshot covers it. Only failures are reported
 * (`onDropped`): a proposal that commits reaches the state machine through `apply`.
 *
 * On every put's path: one queued object, one map set and one delete per proposal.
 */
export class PendingProposals {
  private queued: QueuedProposal[] = [];
  /** Proposals made here while leader, by index: their fate is known when that index commits. */
  private readonly tracked = new Map<number, TrackedProposal>();

  constructor(
    private readonly raft: ProposalRaft,
    /** Followers refuse proposals with `NotLeader` (see `dropReason`). */
    private readonly disableProposalForwarding: boolean,
  ) {}

  /** Proposals are waiting for {@link flush}. */
  get hasQueued(): boolean {
    return this.queued.length > 0;
  }

  /** Queues `data` for the next {@link flush}; `onDropped` hears if it is known lost. */
  queue(data: Uint8Array, onDropped: ((err: EtcdError) => void) | undefined): void {
    this.queued.push({ data, onDropped });
  }

  /**
   * Hands the queued proposals to raft as one batch. If raft refuses them, each `onDropped`
   * gets {@link dropReason}. `isLeader` (this member led as of the latest Ready): their entries'
   * indexes are known, so they are tracked until those commit.
   * @throws what raft throws other than `ProposalDroppedError`
   */
  flush(isLeader: boolean): void {
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    try {
      this.raft.proposeBatch(batch.map((p) => p.data));
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      const reason = this.dropReason();
      for (const p of batch) p.onDropped?.(reason);
      return;
    }
    if (!isLeader) return;
    // Not status(): it copies the progress of every peer and the configuration, per batch.
    const at = this.raft.leaderLastEntry();
    if (at === undefined) return;
    const first = at.lastIndex - batch.length + 1;
    for (let i = 0; i < batch.length; i++) {
      const onDropped = batch[i]!.onDropped;
      if (onDropped) this.tracked.set(first + i, { term: at.term, onDropped });
    }
  }

  /** Why raft refused a proposal just now, as etcd's error. */
  dropReason(): EtcdError {
    const ss = this.raft.status().softState;
    if (ss.lead === NONE) return RaftLogErrors.NoLeader;
    if (ss.raftState !== StateType.Leader && this.disableProposalForwarding) return RaftLogErrors.NotLeader;
    return RaftLogErrors.ProposalDropped;
  }

  /** The entry at `index` of `term` committed: a proposal tracked there with another term was overwritten. */
  committed(index: number, term: number): void {
    const tracked = this.tracked.get(index);
    if (tracked) {
      this.tracked.delete(index);
      // Same index and term is the same entry (log matching); another term means ours was overwritten.
      if (tracked.term !== term) tracked.onDropped(RaftLogErrors.LeaderChanged);
    }
  }

  /** A snapshot up to `index` was installed: whether the entries proposed here at or below it made it is unknown here. */
  snapshotInstalled(index: number): void {
    for (const [i, p] of this.tracked) {
      if (i > index) continue;
      this.tracked.delete(i);
      p.onDropped(RaftLogErrors.Timeout);
    }
  }

  /** Every queued and tracked proposal gets `err`; none is left. */
  failAll(err: EtcdError): void {
    const queued = this.queued;
    this.queued = [];
    for (const p of queued) p.onDropped?.(err);
    const tracked = [...this.tracked.values()];
    this.tracked.clear();
    for (const p of tracked) p.onDropped(err);
  }
}
