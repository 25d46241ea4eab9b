import { Progress, Inflights } from './progress.js';
import { jointCommitted, jointVoteResult, VoteResult } from './quorum.js';
import { compareIds, type ConfState } from './types.js';

/** The active membership: incoming voters, outgoing voters (joint), learners. */
export interface TrackerConfig {
  incoming: Set<bigint>;
  /** Non-empty only while in a joint config. */
  outgoing: Set<bigint>;
  learners: Set<bigint>;
  /** Outgoing voters that become learners when the joint config is left. */
  learnersNext: Set<bigint>;
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return { incoming: new Set(), outgoing: new Set(), learners: new Set(), learnersNext: new Set(), autoLeave: false };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    incoming: new Set(c.incoming),
    outgoing: new Set(c.outgoing),
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function isJoint(c: TrackerConfig): boolean {
  return c.outgoing.size > 0;
}

export function sortedIds(ids: Iterable<bigint>): bigint[] {
  return [...ids].sort(compareIds);
}

export type ProgressMap = Map<bigint, Progress>;

export function newProgress(next: number, maxInflight: number, isLearner: boolean): Progress {
  return new Progress(next, new Inflights(maxInflight), isLearner);
}

/** Membership plus the leader's per-member progress and the votes of the current election. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  votes = new Map<bigint, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return {
      voters: sortedIds(this.config.incoming),
      learners: sortedIds(this.config.learners),
      votersOutgoing: sortedIds(this.config.outgoing),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  isVoter(id: bigint): boolean {
    return this.config.incoming.has(id) || this.config.outgoing.has(id);
  }

  /** Exactly one voter and not joint: the leader commits and reads on its own. */
  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  /** The largest index acknowledged by a quorum of voters (both halves when joint). */
  committed(): number {
    return jointCommitted(this.config.incoming, this.config.outgoing, (id) => this.progress.get(id)?.match);
  }

  /** Visit progress in ID order so that message order is deterministic. */
  visit(f: (id: bigint, pr: Progress) => void): void {
    for (const id of sortedIds(this.progress.keys())) f(id, this.progress.get(id)!);
  }

  /** A quorum has been heard from since the last check. */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    });
    return this.voteResult(votes) === VoteResult.Won;
  }

  voterNodes(): bigint[] {
    return sortedIds(new Set([...this.config.incoming, ...this.config.outgoing]));
  }

  learnerNodes(): bigint[] {
    return sortedIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Record a vote; a second answer from the same node is ignored. */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    this.visit((id, pr) => {
      if (pr.isLearner) return;
      const v = this.votes.get(id);
      if (v === undefined) return;
      if (v) granted++;
      else rejected++;
    });
    return { granted, rejected, result: this.voteResult(this.votes) };
  }

  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    return jointVoteResult(this.config.incoming, this.config.outgoing, votes);
  }
}
