import type { EtcdError } from '@raftkv/api';
import type { ApplyResult, ApplyWaiter } from './apply/applier.js';

/** How often request deadlines are checked: a request past its deadline is answered at most this much later. */
export const DEADLINE_SWEEP_MS = 100;

/** What the pending proposals tell their owner. */
export interface PendingProposalHooks {
  /** A proposal settled; `failed`: it was dropped or timed out (not: applied with an error result). */
  ended(failed: boolean): void;
  /** A proposal was dropped or timed out: nobody waits for its apply any more. */
  cancel(id: bigint): void;
  /** The error of a proposal past its deadline (etcd's Timeout, or TimeoutDueToLeaderFail). */
  timedOut(): EtcdError;
}

/**
 * One proposed request until it is applied, dropped by the log, or past its deadline, settled
 * once. It is the applier's waiter itself: no promise, timer or closures of its own per request.
 */
class PendingProposal implements ApplyWaiter {
  private settled = false;
  /** Neighbours in the owner's list of waiting proposals (oldest first). */
  prev: PendingProposal | undefined;
  next: PendingProposal | undefined;
  /** For the log: told when the proposal was lost (a leader change, a closed log). */
  readonly dropped = (err: unknown): void => this.drop(err);

  constructor(
    private readonly owner: PendingProposals,
    readonly id: bigint,
    readonly deadline: number,
    private readonly onResult: (result: ApplyResult) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  resolve(result: ApplyResult): void {
    if (this.settle(false)) this.onResult(result);
  }

  reject(err: EtcdError): void {
    if (this.settle(false)) this.onError(err);
  }

  drop(err: unknown): void {
    if (!this.settle(true)) return;
    this.owner.hooks.cancel(this.id);
    this.onError(err);
  }

  private settle(failed: boolean): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.owner.forget(this);
    this.owner.hooks.ended(failed);
    return true;
  }
}

/**
 * The proposals waiting for their apply, with one coarse timer for all their deadlines instead
 * of a setTimeout/clearTimeout pair per request (a timer per put showed in every write profile).
 * The timer runs while proposals wait and stops once a sweep finds none.
 */
export class PendingProposals {
  // A doubly linked list through the proposals (oldest first), not a Map: no table to grow,
  // shrink or rehash as requests come and go.
  private head: PendingProposal | undefined;
  private tail: PendingProposal | undefined;
  private count = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(readonly hooks: PendingProposalHooks, private readonly sweepMs = DEADLINE_SWEEP_MS) {}

  /** A proposal of request `id` that must settle within `timeoutMs`; register it with the applier and the log. */
  add(id: bigint, timeoutMs: number, onResult: (result: ApplyResult) => void, onError: (err: unknown) => void): PendingProposal {
    const p = new PendingProposal(this, id, Date.now() + timeoutMs, onResult, onError);
    p.prev = this.tail;
    if (this.tail) this.tail.next = p;
    else this.head = p;
    this.tail = p;
    this.count++;
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
      // Never what keeps a process alive: the log and the listeners do that while proposals wait.
      this.sweeper.unref();
    }
    return p;
  }

  /** Proposals waiting now. */
  get size(): number {
    return this.count;
  }

  /** @internal Called by a proposal as it settles (once). */
  forget(p: PendingProposal): void {
    if (p.prev) p.prev.next = p.next;
    else this.head = p.next;
    if (p.next) p.next.prev = p.prev;
    else this.tail = p.prev;
    // Its `next` stays: a sweep standing on it goes on from there.
    p.prev = undefined;
    this.count--;
  }

  /** Times out every proposal past its deadline; stops the timer once none waits. */
  private sweep(): void {
    const now = Date.now();
    // The whole list, not up to the first deadline ahead: a caller may give a shorter timeout.
    for (let p = this.head; p !== undefined;) {
      const next = p.next;
      if (p.deadline <= now) p.drop(this.hooks.timedOut());
      p = next;
    }
    if (this.count === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
