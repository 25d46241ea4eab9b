import { describe, expect, it } from 'vitest';
import {
  LeaseError,
  LeaseExistError,
  LeaseNotFoundError,
  LeaseTTLTooLargeError,
  Lessor,
  MAX_LEASE_TTL_SECONDS,
  NotPrimaryError,
  TooManyLeasesError,
  minLeaseTtlSeconds,
} from './index.js';
import type { LessorOptions } from './index.js';
import { decodeLease } from './lease-codec.js';
import { FakeClock, MemoryLeaseStore, dec, enc } from './test-support/fakes.js';

function setup(options: Partial<LessorOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore();
  const lessor = new Lessor({ clock, store, minTtlSeconds: 2, ...options });
  return { clock, store, lessor };
}

function primary(options: Partial<LessorOptions> = {}) {
  const s = setup(options);
  s.lessor.promote(0);
  return s;
}

describe('minLeaseTtlSeconds', () => {
  it.each([
    [10, 100, 2], // etcd defaults: 15 * 100 ms = 1.5 s, rounded up
    [10, 1000, 15],
    [5, 100, 1], // (3*5)/2 = 7 ticks (integer division) * 100 ms = 0.7 s -> 1
    [1, 1, 1],
    [100, 500, 75],
  ])('electionTicks=%i heartbeat=%i ms -> %i s', (ticks, hb, want) => {
    expect(minLeaseTtlSeconds(ticks, hb)).toBe(want);
  });
  it('rejects non-positive inputs', () => {
    expect(() => minLeaseTtlSeconds(0, 100)).toThrow(RangeError);
    expect(() => minLeaseTtlSeconds(10, 0.5)).toThrow(RangeError);
  });
});

describe('grant', () => {
  it('grants the requested TTL and persists the lease', () => {
    const { lessor, store } = primary();
    expect(lessor.grant(7n, 10)).toEqual({ id: 7n, ttlSeconds: 10 });
    expect(lessor.size).toBe(1);
    expect(decodeLease(store.records.get(7n)!)).toEqual({ id: 7n, ttlSeconds: 10, remainingTtlSeconds: 0 });
    expect(lessor.lookup(7n)).toEqual({ id: 7n, ttlSeconds: 10, checkpointedRemainingTtlSeconds: 0, keyCount: 0 });
  });

  it.each([
    [1, 2],
    [0, 2],
    [-5, 2],
    [2, 2],
    [3, 3],
    [MAX_LEASE_TTL_SECONDS, MAX_LEASE_TTL_SECONDS],
  ])('a TTL of %i is granted as %i (raised to the minimum, like etcd)', (asked, granted) => {
    const { lessor } = primary();
    expect(lessor.grant(1n, asked).ttlSeconds).toBe(granted);
  });

  it('accepts the int64 extremes as IDs, rejects values outside int64', () => {
    const { lessor } = setup();
    lessor.grant((1n << 63n) - 1n, 5);
    lessor.grant(-(1n << 63n), 5);
    expect(lessor.size).toBe(2);
    expect(() => lessor.grant(1n << 63n, 5)).toThrow(RangeError);
    expect(() => lessor.grant(1n, 1.5)).toThrow(RangeError);
  });

  it('works on a secondary too (it is applied on every member), without expiring', () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 5);
    clock.advance(1e9);
    expect(lessor.lookup(1n)).toBeDefined();
    lessor.promote(0);
    expect(lessor.expired(10)).toEqual([]);
  });
});

describe('errors carry etcd meaning and a code to map', () => {
  const cases: Array<[string, (l: Lessor) => unknown, new (...args: never[]) => LeaseError, string, string]> = [
    ['grant of ID 0 (NoLease)', (l) => l.grant(0n, 5), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
    ['grant of a live ID', (l) => l.grant(1n, 5), LeaseExistError, 'LeaseExist', 'lease already exists'],
    [
      'grant above MaxLeaseTTL',
      (l) => l.grant(2n, MAX_LEASE_TTL_SECONDS + 1),
      LeaseTTLTooLargeError,
      'LeaseTTLTooLarge',
      'too large lease TTL',
    ],
    ['revoke of an unknown lease', (l) => l.revoke(9n), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
    ['renew of an unknown lease', (l) => l.renew(9n), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
    ['timeToLive of an unknown lease', (l) => l.timeToLive(9n), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
    ['attach to an unknown lease', (l) => l.attach(9n, enc('k')), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
    ['detach from an unknown lease', (l) => l.detach(9n, enc('k')), LeaseNotFoundError, 'LeaseNotFound', 'lease not found'],
  ];
  it.each(cases)('%s', (_name, call, type, code, message) => {
    const { lessor } = primary();
    lessor.grant(1n, 5);
    let thrown: unknown;
    try {
      call(lessor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(type);
    expect(thrown).toBeInstanceOf(LeaseError);
    expect((thrown as LeaseError).code).toBe(code);
    expect((thrown as LeaseError).message).toBe(message);
  });

  it('checks TTL before existence, as etcd does', () => {
    const { lessor } = primary();
    lessor.grant(1n, 5);
    expect(() => lessor.grant(1n, MAX_LEASE_TTL_SECONDS + 1)).toThrow(LeaseTTLTooLargeError);
  });

  it('NotPrimary for renew and timeToLive on a secondary, even for unknown leases', () => {
    const { lessor } = setup();
    lessor.grant(1n, 5);
    for (const id of [1n, 9n]) {
      expect(() => lessor.renew(id)).toThrow(NotPrimaryError);
      expect(() => lessor.timeToLive(id)).toThrow(NotPrimaryError);
    }
    lessor.promote(0);
    lessor.demote();
    expect(() => lessor.renew(1n)).toThrow(NotPrimaryError);
  });

  it('TooManyLeases at maxLeases, and room again after a revoke', () => {
    const { lessor } = primary({ maxLeases: 2 });
    lessor.grant(1n, 5);
    lessor.grant(2n, 5);
    expect(() => lessor.grant(3n, 5)).toThrow(TooManyLeasesError);
    lessor.revoke(1n);
    expect(lessor.grant(3n, 5).id).toBe(3n);
  });
});

describe('revoke', () => {
  it('returns the attached keys sorted by bytes, forgets the lease and deletes its record', () => {
    const { lessor, store } = primary();
    lessor.grant(1n, 5);
    lessor.grant(2n, 5);
    for (const k of ['zeta', 'alpha', 'b', '\u00ff', 'a\u0000']) lessor.attach(1n, enc(k));
    lessor.attach(2n, enc('other'));
    const keys = lessor.revoke(1n);
    expect(keys.map(dec)).toEqual(['a\u0000', 'alpha', 'b', 'zeta', '\u00ff']);
    expect(keys.every((k) => k.constructor === Uint8Array)).toBe(true);
    expect(lessor.lookup(1n)).toBeUndefined();
    expect(store.records.has(1n)).toBe(false);
    expect(() => lessor.revoke(1n)).toThrow(LeaseNotFoundError);
    expect(lessor.stats()).toMatchObject({ leases: 1, attachedKeys: 1, attachedKeyBytes: 5 });
  });

  it('byte order, not UTF-16 order, for non-ASCII keys', () => {
    const { lessor } = primary();
    lessor.grant(1n, 5);
    const keys = [[0xff], [0x00], [0x7f, 0x01], [0x80], [0x7f]].map((b) => Uint8Array.from(b));
    for (const k of keys) lessor.attach(1n, k);
    expect(lessor.revoke(1n).map((k) => [...k])).toEqual([[0x00], [0x7f], [0x7f, 0x01], [0x80], [0xff]]);
  });

  it('a revoked lease leaves the expiry queue: it is never offered', () => {
    const { lessor, clock } = primary();
    lessor.grant(1n, 5);
    lessor.revoke(1n);
    clock.advance(60_000);
    expect(lessor.expired(10)).toEqual([]);
  });

  it('an ID can be granted again after its revoke', () => {
    const { lessor } = primary();
    lessor.grant(1n, 5);
    lessor.attach(1n, enc('k'));
    lessor.revoke(1n);
    lessor.grant(1n, 7);
    expect(lessor.lookup(1n)).toEqual({ id: 1n, ttlSeconds: 7, checkpointedRemainingTtlSeconds: 0, keyCount: 0 });
  });
});

describe('renew and timeToLive', () => {
  it('timeToLive truncates like etcd: a 10 s lease reports 9 s once any time has passed', () => {
    const { lessor, clock } = primary();
    lessor.grant(1n, 10);
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(10);
    clock.advance(1);
    expect(lessor.timeToLive(1n)).toEqual({ id: 1n, grantedTtlSeconds: 10, remainingTtlSeconds: 9, keys: [] });
    clock.advance(8_999); // 1000 ms left
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(1);
    clock.advance(1); // 999 ms left
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(0);
    clock.advance(2_000); // expired 1001 ms ago, revoke not applied yet
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(-1);
  });

  it('timeToLive lists keys only when asked, sorted', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    lessor.attach(1n, enc('b'));
    lessor.attach(1n, enc('a'));
    expect(lessor.timeToLive(1n).keys).toEqual([]);
    expect(lessor.timeToLive(1n, { keys: true }).keys.map(dec)).toEqual(['a', 'b']);
  });

  it('renew restores the full TTL and returns it', () => {
    const { lessor, clock } = primary();
    lessor.grant(1n, 10);
    clock.advance(7_000);
    expect(lessor.renew(1n)).toBe(10);
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(10);
    clock.advance(9_999);
    expect(lessor.expired(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('renew of an expired lease is refused with LeaseNotFound (its revoke is pending)', () => {
    const { lessor, clock } = primary();
    lessor.grant(1n, 10);
    clock.advance(10_000);
    expect(() => lessor.renew(1n)).toThrow(LeaseNotFoundError);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('renew does not touch the store (keepalives are not replicated)', () => {
    const { lessor, store } = primary();
    lessor.grant(1n, 10);
    const puts = store.puts;
    lessor.renew(1n);
    expect(store.puts).toBe(puts);
  });
});

describe('leases()', () => {
  it('lists soonest expiry first on the primary, ties by ID', () => {
    const { lessor } = primary();
    lessor.grant(5n, 30);
    lessor.grant(3n, 10);
    lessor.grant(4n, 10);
    lessor.grant(1n, 20);
    expect(lessor.leases()).toEqual([3n, 4n, 1n, 5n]);
  });
  it('lists by ID on a secondary', () => {
    const { lessor } = setup();
    for (const id of [9n, -3n, 4n]) lessor.grant(id, 10);
    expect(lessor.leases()).toEqual([-3n, 4n, 9n]);
  });
});

describe('attach / detach', () => {
  it('leaseOfKey names the lease a key is attached to, 0n when none (after a move, a detach, a revoke)', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    lessor.grant(2n, 10);
    expect(lessor.leaseOfKey(enc('k'))).toBe(0n);
    lessor.attach(1n, enc('k'));
    lessor.attach(1n, enc('j'));
    expect(lessor.leaseOfKey(enc('k'))).toBe(1n);
    lessor.attach(2n, enc('k'));
    expect(lessor.leaseOfKey(enc('k'))).toBe(2n);
    lessor.detach(2n, enc('k'));
    expect(lessor.leaseOfKey(enc('k'))).toBe(0n);
    lessor.revoke(1n);
    expect(lessor.leaseOfKey(enc('j'))).toBe(0n);
  });

  it('detach removes only from the named lease; unknown key is a no-op', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    lessor.grant(2n, 10);
    lessor.attach(1n, enc('k'));
    lessor.detach(2n, enc('k'));
    expect(lessor.lookup(1n)!.keyCount).toBe(1);
    lessor.detach(1n, enc('nope'));
    lessor.detach(1n, enc('k'));
    expect(lessor.lookup(1n)!.keyCount).toBe(0);
    expect(lessor.revoke(1n)).toEqual([]);
  });

  it('attaching a key to another lease moves it', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    lessor.grant(2n, 10);
    lessor.attach(1n, enc('k'));
    lessor.attach(2n, enc('k'));
    expect(lessor.lookup(1n)!.keyCount).toBe(0);
    expect(lessor.revoke(2n).map(dec)).toEqual(['k']);
    expect(lessor.revoke(1n)).toEqual([]);
  });

  it('attaching twice counts once; a subarray view is read correctly', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    const big = enc('xxkeyxx');
    lessor.attach(1n, big.subarray(2, 5));
    lessor.attach(1n, enc('key'));
    expect(lessor.stats()).toMatchObject({ attachedKeys: 1, attachedKeyBytes: 3 });
    expect(lessor.revoke(1n).map(dec)).toEqual(['key']);
  });

  it('memory accounting follows attach, detach, move and revoke', () => {
    const { lessor } = primary();
    lessor.grant(1n, 10);
    lessor.grant(2n, 10);
    lessor.attach(1n, enc('aaaa'));
    lessor.attach(1n, enc('bb'));
    lessor.attach(2n, enc('c'));
    expect(lessor.stats()).toMatchObject({ leases: 2, attachedKeys: 3, attachedKeyBytes: 7 });
    lessor.attach(2n, enc('bb'));
    expect(lessor.stats()).toMatchObject({ attachedKeys: 3, attachedKeyBytes: 7 });
    lessor.detach(1n, enc('aaaa'));
    expect(lessor.stats()).toMatchObject({ attachedKeys: 2, attachedKeyBytes: 3 });
    lessor.revoke(2n);
    const s = lessor.stats();
    expect(s).toMatchObject({ leases: 1, attachedKeys: 0, attachedKeyBytes: 0 });
    expect(s.estimatedBytes).toBeGreaterThan(0);
  });
});

describe('options', () => {
  it.each<[string, Partial<LessorOptions>]>([
    ['minTtlSeconds 0', { minTtlSeconds: 0 }],
    ['minTtlSeconds above max', { minTtlSeconds: MAX_LEASE_TTL_SECONDS + 1 }],
    ['checkpointIntervalMs 0', { checkpointIntervalMs: 0 }],
    ['expiredRetryMs -1', { expiredRetryMs: -1 }],
    ['revokeRatePerSecond 1', { revokeRatePerSecond: 1 }],
    ['maxLeases 0', { maxLeases: 0 }],
  ])('rejects %s', (_name, bad) => {
    expect(() => setup(bad)).toThrow(RangeError);
  });
  it('rejects bad limits and extensions', () => {
    const { lessor } = primary();
    expect(() => lessor.expired(0)).toThrow(RangeError);
    expect(() => lessor.checkpoints(-1)).toThrow(RangeError);
    expect(() => lessor.promote(-1)).toThrow(RangeError);
  });
});

describe('counts for metrics', () => {
  it('counts grants, revokes and renewals, and reports each granted TTL after the minimum raise', () => {
    const { lessor } = primary();
    const ttls: number[] = [];
    lessor.onGrant = (ttl) => ttls.push(ttl);
    lessor.grant(1n, 1);
    lessor.grant(2n, 60);
    expect(() => lessor.grant(2n, 60)).toThrow(LeaseExistError);
    lessor.renew(2n);
    lessor.renew(2n);
    lessor.revoke(1n);
    expect(() => lessor.revoke(1n)).toThrow(LeaseNotFoundError);
    expect(ttls).toEqual([2, 60]);
    expect(lessor.stats()).toMatchObject({ granted: 2, revoked: 1, renewed: 2, leases: 1 });
  });
});
