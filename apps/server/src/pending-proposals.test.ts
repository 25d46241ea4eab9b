import { EtcdErrors } from '@raftkv/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ApplyResult } from './apply/applier.js';
import { PendingProposals } from './pending-proposals.js';

const PUT: ApplyResult = { kind: 'put', response: { revision: 2 } } as unknown as ApplyResult;

function setUp() {
  const ended: boolean[] = [];
  const cancelled: bigint[] = [];
  let leaderless = false;
  const pending = new PendingProposals({
    ended: (failed) => ended.push(failed),
    cancel: (id) => cancelled.push(id),
    timedOut: () => leaderless ? EtcdErrors.TimeoutDueToLeaderFail : EtcdErrors.Timeout,
  }, 100);
  const outcome = (id: bigint, timeoutMs: number) => {
    let result: unknown = 'pending';
    const p = pending.add(id, timeoutMs, (r) => { result = r; }, (err) => { result = err; });
    return { p, result: () => result };
  };
  return { pending, ended, cancelled, outcome, setLeaderless: () => { leaderless = true; } };
}

describe('PendingProposals', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a proposal with its apply result once, and forgets it', () => {
    const { pending, ended, cancelled, outcome } = setUp();
    const { p, result } = outcome(1n, 5000);
    expect(pending.size).toBe(1);
    p.resolve(PUT);
    p.drop(EtcdErrors.Stopped);
    p.reject(EtcdErrors.Timeout);
    expect(result()).toBe(PUT);
    expect(ended).toEqual([false]);
    expect(cancelled).toEqual([]);
    expect(pending.size).toBe(0);
  });

  it('a refusal at apply is not a failed proposal; a drop is, and cancels the apply waiter', () => {
    const { ended, cancelled, outcome } = setUp();
    const refused = outcome(1n, 5000);
    refused.p.reject(EtcdErrors.LeaseNotFound);
    expect(refused.result()).toBe(EtcdErrors.LeaseNotFound);
    const dropped = outcome(2n, 5000);
    dropped.p.dropped(EtcdErrors.NotLeader);
    dropped.p.resolve(PUT);
    expect(dropped.result()).toBe(EtcdErrors.NotLeader);
    expect(ended).toEqual([false, true]);
    expect(cancelled).toEqual([2n]);
  });

  it('times out each proposal after its own deadline (within a sweep), with etcd\'s error, then stops its timer', () => {
    vi.useFakeTimers();
    const { pending, ended, cancelled, outcome, setLeaderless } = setUp();
    const early = outcome(1n, 1000);
    const late = outcome(2n, 3000);
    const answered = outcome(3n, 1000);
    answered.p.resolve(PUT);
    vi.advanceTimersByTime(999);
    expect(early.result()).toBe('pending');
    vi.advanceTimersByTime(101);
    expect(early.result()).toBe(EtcdErrors.Timeout);
    expect(late.result()).toBe('pending');
    setLeaderless();
    vi.advanceTimersByTime(2000);
    expect(late.result()).toBe(EtcdErrors.TimeoutDueToLeaderFail);
    expect(answered.result()).toBe(PUT);
    expect(cancelled).toEqual([1n, 2n]);
    expect(ended).toEqual([false, true, true]);
    expect(pending.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // A later proposal starts the sweep again.
    const again = outcome(4n, 500);
    vi.advanceTimersByTime(600);
    expect(again.result()).toBe(EtcdErrors.TimeoutDueToLeaderFail);
  });
});
