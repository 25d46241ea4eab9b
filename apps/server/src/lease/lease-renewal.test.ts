// The leader's renewal of an expired lease waits for its revoke, as etcd's Lessor.Renew: a client
// told "not found" must not find the lease (or its keys) afterwards. Real Lessor, a clock the test moves.
import { EtcdErrors } from '@raftkv/api';
import { Lessor, LeaseNotFoundError, NotPrimaryError, type LeaseStore } from '@raftkv/lease';
import { eventually } from '@raftkv/testkit';
import { describe, expect, it } from 'vitest';
import { renewAtOnce, renewOnPrimary } from './lease-renewal.js';

function primaryLessor() {
  const clock = { ms: 1_000_000, nowMs() { return this.ms; } };
  const records = new Map<bigint, Uint8Array>();
  const store: LeaseStore = { put: (id, bytes) => { records.set(id, bytes); }, delete: (id) => { records.delete(id); }, loadAll: () => [] };
  const lessor = new Lessor({ clock, store, minTtlSeconds: 1 });
  lessor.promote(0);
  return { lessor, clock };
}

/** A primary lessor with lease 1 (key `k` attached) just past its 2 s TTL: expired, its revoke not applied. */
function expiredLease() {
  const { lessor, clock } = primaryLessor();
  lessor.grant(1n, 2);
  lessor.attach(1n, new TextEncoder().encode('k'));
  clock.ms += 2_001;
  return lessor;
}

/** What a renewal that waits (a promise) has done so far: settled with a value or an error, or still waiting. */
function watch<T>(renewal: T | Promise<T>) {
  expect(renewal).toBeInstanceOf(Promise);
  const p = renewal as Promise<T>;
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then((value) => Object.assign(state, { value, settled: true }), (error: unknown) => Object.assign(state, { error, settled: true }));
  return state;
}

/** Lets a waiting renewal look again a few times (it polls every 10 ms). */
const turns = () => new Promise((resolve) => setTimeout(resolve, 50));
const answered = (r: { settled: boolean }) => eventually('the renewal answers', () => Promise.resolve(r.settled ? true : undefined), 5_000);
const forever = { deadlineMs: Infinity, stopped: () => false };

describe('renewOnPrimary', () => {
  it('renews a live lease at once with its TTL, as a number: no promise (keepalive\'s hot path)', () => {
    const { lessor, clock } = primaryLessor();
    lessor.grant(1n, 10);
    clock.ms += 9_000;
    expect(renewOnPrimary(lessor, 1n, forever)).toBe(10);
    expect(lessor.timeToLive(1n, { keys: false }).remainingTtlSeconds).toBe(10);
  });

  it('answers an unknown lease "not found" at once', async () => {
    const { lessor } = primaryLessor();
    await expect(renewOnPrimary(lessor, 9n, forever)).rejects.toBeInstanceOf(LeaseNotFoundError);
  });

  it('answers an expired lease "not found" only once its revoke is applied', async () => {
    const lessor = expiredLease();
    const renewal = watch(renewOnPrimary(lessor, 1n, forever));
    await turns();
    expect(renewal.settled).toBe(false); // the lease and its key are still there: no answer yet
    expect(lessor.revoke(1n)).toHaveLength(1);
    await answered(renewal);
    expect(renewal.error).toBeInstanceOf(LeaseNotFoundError);
  });

  it('answers "not primary" when the leader steps down while it waits (the caller retries at the new leader)', async () => {
    const lessor = expiredLease();
    const renewal = watch(renewOnPrimary(lessor, 1n, forever));
    await turns();
    expect(renewal.settled).toBe(false);
    lessor.demote();
    await answered(renewal);
    expect(renewal.error).toBeInstanceOf(NotPrimaryError);
  });

  it('gives up waiting when the server stops or the request deadline passes', async () => {
    const lessor = expiredLease();
    let stopped = false;
    const renewal = watch(renewOnPrimary(lessor, 1n, { deadlineMs: Infinity, stopped: () => stopped }));
    await turns();
    expect(renewal.settled).toBe(false);
    stopped = true;
    await answered(renewal);
    expect(renewal.error).toBe(EtcdErrors.Stopped);
    await expect(renewOnPrimary(lessor, 1n, { deadlineMs: 0, stopped: () => false })).rejects.toBe(EtcdErrors.Timeout);
  });
});

describe('renewAtOnce', () => {
  it('renews a live lease on the primary and gives its TTL', () => {
    const { lessor } = primaryLessor();
    lessor.grant(1n, 10);
    expect(renewAtOnce(lessor, 1n)).toBe(10);
  });

  it.each([
    ['an unknown lease', () => primaryLessor().lessor, 9n],
    ['an expired lease whose revoke is not applied', expiredLease, 1n],
    ['a lessor that is not primary', () => { const l = expiredLease(); l.demote(); return l; }, 1n],
  ])('gives undefined, changing nothing, for %s', (_case, make, id) => {
    const lessor = make();
    const before = { lease: lessor.lookup(id), stats: lessor.stats() };
    expect(renewAtOnce(lessor, id)).toBeUndefined();
    expect({ lease: lessor.lookup(id), stats: lessor.stats() }).toEqual(before);
  });
});
