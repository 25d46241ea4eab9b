import { describe, expect, it } from 'vitest';
import { Lessor } from './index.js';
import type { LessorOptions } from './index.js';
import { FakeClock, MemoryLeaseStore } from './test-support/fakes.js';

/** What the server does: revoke every lease `expired` offers (as if the proposals applied). */
function revokeExpired(lessor: Lessor, limit = 10_000): bigint[] {
  const ids = lessor.expired(limit);
  for (const id of ids) lessor.revoke(id);
  return ids;
}

function setup(options: Partial<LessorOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore();
  const lessor = new Lessor({ clock, store, minTtlSeconds: 1, ...options });
  return { clock, store, lessor };
}

describe('expired(): the expiry heap', () => {
  it('offers nothing before expiry and the lease exactly at expiry', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    clock.advance(4_999);
    expect(lessor.expired(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('offers leases soonest expiry first, ties by ID, and honours the limit', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    const ttls: Array<[bigint, number]> = [
      [10n, 7],
      [11n, 3],
      [12n, 5],
      [13n, 3],
      [14n, 9],
      [15n, 1],
    ];
    for (const [id, ttl] of ttls) lessor.grant(id, ttl);
    lessor.renew(15n); // no-op in order: still the first
    clock.advance(100_000);
    expect(lessor.expired(2)).toEqual([15n, 11n]);
    expect(lessor.expired(3)).toEqual([13n, 12n, 10n]);
    expect(lessor.expired(10)).toEqual([14n]);
    expect(lessor.expired(10)).toEqual([]);
  });

  it('a renewal moves the lease back in the heap', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    lessor.grant(2n, 6);
    clock.advance(4_000);
    lessor.renew(1n); // now due at +9 s
    clock.advance(2_000);
    expect(revokeExpired(lessor)).toEqual([2n]);
    clock.advance(2_999);
    expect(revokeExpired(lessor)).toEqual([]);
    clock.advance(1);
    expect(revokeExpired(lessor)).toEqual([1n]);
  });

  it('does not offer a lease again until expiredRetryMs passed; then again if the revoke never came', () => {
    const { lessor, clock } = setup({ expiredRetryMs: 3_000 });
    lessor.promote(0);
    lessor.grant(1n, 5);
    clock.advance(5_000);
    expect(lessor.expired(10)).toEqual([1n]);
    clock.advance(2_999);
    expect(lessor.expired(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expired(10)).toEqual([1n]);
    lessor.revoke(1n);
    clock.advance(10_000);
    expect(lessor.expired(10)).toEqual([]);
  });

  it('a lease left over by the limit is offered on the next call, before later ones', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    for (let i = 1n; i <= 5n; i++) lessor.grant(i, 1);
    clock.advance(1_000);
    expect(lessor.expired(3)).toEqual([1n, 2n, 3n]);
    lessor.grant(6n, 1);
    clock.advance(1_000);
    expect(lessor.expired(3)).toEqual([4n, 5n, 6n]);
  });

  it('a secondary never offers, whatever the time', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 1);
    clock.advance(1e9);
    expect(lessor.expired(10)).toEqual([]);
  });
});

describe('promote', () => {
  it('gives every lease its full TTL plus the extension, counted from the promotion', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10);
    lessor.grant(2n, 20);
    clock.advance(50_000); // time spent as a follower does not count
    lessor.promote(1_000);
    expect(lessor.isPrimary).toBe(true);
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(11);
    clock.advance(10_999);
    expect(revokeExpired(lessor)).toEqual([]);
    clock.advance(1);
    expect(revokeExpired(lessor)).toEqual([1n]);
    clock.advance(10_000);
    expect(revokeExpired(lessor)).toEqual([2n]);
  });

  it('a new leader gives an old leader\'s expired lease a fresh TTL (etcd does the same)', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    clock.advance(6_000);
    lessor.demote();
    lessor.promote(500);
    expect(lessor.expired(10)).toEqual([]);
    expect(lessor.renew(1n)).toBe(5);
  });

  it('uses the checkpointed remaining TTL instead of the full TTL', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 600);
    lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: 42 }]);
    lessor.promote(2_000);
    expect(lessor.timeToLive(1n)).toMatchObject({ grantedTtlSeconds: 600, remainingTtlSeconds: 44 });
    clock.advance(44_000);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('below revokeRatePerSecond leases, no spreading: all expire together', () => {
    const { lessor, clock } = setup({ revokeRatePerSecond: 100 });
    for (let i = 1n; i <= 99n; i++) lessor.grant(i, 10);
    lessor.promote(0);
    clock.advance(10_000);
    expect(lessor.expired(1000)).toHaveLength(99);
  });

  it('spreads a pile-up: at most 3/4 of the revoke rate fall due in any second, nobody loses time', () => {
    const rate = 100;
    const target = 75;
    const { lessor, clock } = setup({ revokeRatePerSecond: rate });
    const start = clock.ms;
    // 300 leases on 10 s, 100 on 11 s, 50 on 30 s: the first two groups pile up.
    let id = 1n;
    for (let i = 0; i < 300; i++) lessor.grant(id++, 10);
    for (let i = 0; i < 100; i++) lessor.grant(id++, 11);
    for (let i = 0; i < 50; i++) lessor.grant(id++, 30);
    lessor.promote(1_000);

    const expiries: number[] = [];
    for (const leaseId of lessor.leases()) {
      const info = lessor.lookup(leaseId)!;
      const remainingMs = lessor.timeToLive(leaseId).remainingTtlSeconds * 1000;
      expect(remainingMs).toBeGreaterThanOrEqual(info.ttlSeconds * 1000 + 1_000);
      expiries.push(remainingMs);
    }
    // Drive the clock in 1 s steps and count how many fall due per step.
    const perSecond: number[] = [];
    let total = 0;
    clock.ms = start + 11_000 - 1;
    expect(lessor.expired(10_000)).toEqual([]);
    for (let s = 0; s < 60; s++) {
      clock.advance(1_000);
      const due = revokeExpired(lessor).length;
      perSecond.push(due);
      total += due;
    }
    expect(total).toBe(450);
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(target + 1);
    // Without spreading, 300 would fall due in the first second.
    expect(perSecond[0]).toBeGreaterThan(0);
  });

  it('promote re-arms leases granted while secondary and keeps renew working', () => {
    const { lessor } = setup();
    lessor.grant(1n, 5);
    lessor.promote(0);
    expect(lessor.renew(1n)).toBe(5);
  });
});

describe('demote', () => {
  it('stops expiry and renewals; promote starts them afresh', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    clock.advance(4_000);
    lessor.demote();
    expect(lessor.isPrimary).toBe(false);
    clock.advance(100_000);
    expect(lessor.expired(10)).toEqual([]);
    expect(lessor.leases()).toEqual([1n]);
    lessor.promote(0);
    clock.advance(4_999);
    expect(lessor.expired(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('drops pending checkpoints', () => {
    const { lessor, clock } = setup({ checkpointIntervalMs: 1_000 });
    lessor.promote(0);
    lessor.grant(1n, 60);
    clock.advance(5_000);
    lessor.demote();
    expect(lessor.checkpoints(10)).toEqual([]);
  });
});
