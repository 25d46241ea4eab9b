import { describe, expect, it } from 'vitest';
import { Lessor } from './index.js';
import type { LeaseCheckpoint, LessorOptions } from './index.js';
import { decodeLease, encodeLease } from './lease-codec.js';
import { FakeClock, MemoryLeaseStore, dec, enc } from './test-support/fakes.js';

function setup(options: Partial<LessorOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore();
  const lessor = new Lessor({ clock, store, minTtlSeconds: 1, checkpointIntervalMs: 10_000, ...options });
  return { clock, store, lessor };
}

/** A tiny replicated group: every applied call goes to every member, in the same order. */
function cluster(n: number, options: Partial<LessorOptions> = {}) {
  const clock = new FakeClock();
  const members = Array.from({ length: n }, () => {
    const store = new MemoryLeaseStore();
    return { store, lessor: new Lessor({ clock, store, minTtlSeconds: 1, checkpointIntervalMs: 10_000, ...options }) };
  });
  return {
    clock,
    members,
    apply(fn: (l: Lessor) => void) {
      for (const m of members) fn(m.lessor);
    },
  };
}

describe('checkpoints()', () => {
  it('checkpoints only leases whose TTL exceeds the interval, once the interval has elapsed', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    lessor.grant(2n, 10); // 10 s = the interval: never checkpointed
    clock.advance(9_999);
    expect(lessor.checkpoints(10)).toEqual([]);
    clock.advance(501); // 10.5 s elapsed, 49.5 s left: rounded up
    expect(lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 50 }]);
    expect(lessor.checkpoints(10)).toEqual([]);
  });

  it('re-arms each lease one interval later, even if the proposal was lost', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    clock.advance(10_000);
    expect(lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 50 }]);
    clock.advance(10_000);
    expect(lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 40 }]);
  });

  it('applying a checkpoint on the primary pushes the next one a full interval away', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    clock.advance(10_000);
    const cps = lessor.checkpoints(10);
    clock.advance(4_000); // the proposal takes a while to commit
    lessor.applyCheckpoint(cps);
    clock.advance(9_999);
    expect(lessor.checkpoints(10)).toEqual([]);
    clock.advance(1);
    expect(lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 36 }]);
  });

  it('skips a lease renewed since (it is not short of its TTL) and an expired lease', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    lessor.grant(2n, 11);
    lessor.grant(3n, 20);
    clock.advance(10_000);
    lessor.renew(1n);
    lessor.renew(3n);
    expect(lessor.checkpoints(10)).toEqual([{ id: 2n, remainingTtlSeconds: 1 }]);
    // Next round, at 20 s: lease 2 expired at 11 s, lease 3 is 10 s short again.
    clock.advance(10_000);
    expect(lessor.checkpoints(10)).toEqual([
      { id: 1n, remainingTtlSeconds: 50 },
      { id: 3n, remainingTtlSeconds: 10 },
    ]);
  });

  it('honours the limit and returns the rest on the next call', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    for (let i = 1n; i <= 5n; i++) lessor.grant(i, 100);
    clock.advance(10_000);
    const first = lessor.checkpoints(2);
    const second = lessor.checkpoints(10);
    expect([...first, ...second].map((c) => c.id)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(first).toHaveLength(2);
  });

  it('a renew after an applied checkpoint queues a clear (remaining 0), served first', () => {
    const { lessor, clock, store } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    lessor.grant(2n, 60);
    clock.advance(10_000);
    lessor.applyCheckpoint(lessor.checkpoints(10));
    expect(lessor.lookup(1n)!.checkpointedRemainingTtlSeconds).toBe(50);
    lessor.renew(1n);
    lessor.renew(1n); // one clear, not two
    expect(lessor.checkpoints(1)).toEqual([{ id: 1n, remainingTtlSeconds: 0 }]);
    expect(lessor.checkpoints(10)).toEqual([]);
    lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: 0 }]);
    expect(decodeLease(store.records.get(1n)!).remainingTtlSeconds).toBe(0);
    lessor.renew(2n);
    clock.advance(10_000);
    // The clear of lease 2 comes before the due checkpoint of lease 1.
    expect(lessor.checkpoints(10)).toEqual([
      { id: 2n, remainingTtlSeconds: 0 },
      { id: 1n, remainingTtlSeconds: 50 },
      { id: 2n, remainingTtlSeconds: 50 },
    ]);
  });

  it('a renew without an applied checkpoint queues nothing', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    clock.advance(1_000);
    lessor.renew(1n);
    expect(lessor.checkpoints(10)).toEqual([]);
  });

  it('returns nothing when disabled or on a secondary', () => {
    const off = setup({ enableCheckpoints: false });
    off.lessor.promote(0);
    off.lessor.grant(1n, 60);
    off.clock.advance(60_000 - 1);
    expect(off.lessor.checkpoints(10)).toEqual([]);
    const sec = setup();
    sec.lessor.grant(1n, 60);
    sec.clock.advance(20_000);
    expect(sec.lessor.checkpoints(10)).toEqual([]);
  });
});

describe('applyCheckpoint', () => {
  it('records and persists the remaining TTL on any member, ignores unknown leases', () => {
    const { lessor, store } = setup();
    lessor.grant(1n, 60);
    lessor.applyCheckpoint([
      { id: 1n, remainingTtlSeconds: 17 },
      { id: 99n, remainingTtlSeconds: 5 },
    ]);
    expect(lessor.lookup(1n)!.checkpointedRemainingTtlSeconds).toBe(17);
    expect(decodeLease(store.records.get(1n)!)).toEqual({ id: 1n, ttlSeconds: 60, remainingTtlSeconds: 17 });
    expect(store.records.has(99n)).toBe(false);
  });

  it('does not change the current expiry on the primary', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 60);
    lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: 5 }]);
    clock.advance(30_000);
    expect(lessor.expired(10)).toEqual([]);
    expect(lessor.timeToLive(1n).remainingTtlSeconds).toBe(30);
  });

  it.each([-1, 1.5, 9_000_000_001, Number.NaN])('rejects remaining TTL %s', (bad) => {
    const { lessor } = setup();
    lessor.grant(1n, 60);
    expect(() => lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: bad }])).toThrow(RangeError);
  });
});

describe('a leader change does not make a lease immortal', () => {
  // Leader m0 keeps failing over to the next member every 40 s; nobody renews lease 1
  // (TTL 100 s). With checkpoints the lease dies about 100 s after grant plus one election
  // timeout per failover; without them each new leader gives it 100 s again, forever.
  function run(enableCheckpoints: boolean): number | undefined {
    const c = cluster(3, { enableCheckpoints });
    const electionMs = 1_000;
    const start = c.clock.ms;
    let leader = 0;
    c.members[leader]!.lessor.promote(electionMs);
    c.apply((l) => l.grant(1n, 100));
    for (let step = 0; step < 200; step++) {
      c.clock.advance(1_000);
      const lead = c.members[leader]!.lessor;
      const cps: LeaseCheckpoint[] = lead.checkpoints(1000);
      if (cps.length > 0) c.apply((l) => l.applyCheckpoint(cps));
      const expired = lead.expired(1000);
      if (expired.length > 0) {
        c.apply((l) => expired.forEach((id) => l.revoke(id)));
        return c.clock.ms - start;
      }
      if ((step + 1) % 40 === 0) {
        lead.demote();
        leader = (leader + 1) % c.members.length;
        c.members[leader]!.lessor.promote(electionMs);
      }
    }
    return undefined;
  }

  it('with checkpoints the lease is revoked after at most TTL + interval + elections', () => {
    const lived = run(true);
    expect(lived).toBeDefined();
    // 100 s TTL; each failover can add up to one checkpoint interval (10 s) plus the 1 s
    // extension; two failovers happen before it dies.
    expect(lived!).toBeGreaterThanOrEqual(100_000);
    expect(lived!).toBeLessThanOrEqual(100_000 + 2 * (10_000 + 1_000) + 1_000);
  });

  it('without checkpoints the same schedule never revokes it (why they are on by default)', () => {
    expect(run(false)).toBeUndefined();
  });
});

describe('recover', () => {
  it('rebuilds leases, checkpoints and key attachments from the store and a key scan', () => {
    const a = setup();
    a.lessor.promote(0);
    a.lessor.grant(1n, 60);
    a.lessor.grant(2n, 30);
    a.lessor.grant(3n, 5);
    a.lessor.revoke(3n);
    a.lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: 25 }]);

    const b = new Lessor({ clock: a.clock, store: a.store, minTtlSeconds: 1, checkpointIntervalMs: 10_000 });
    const summary = b.recover([
      { key: enc('x'), lease: 1n },
      { key: enc('a'), lease: 1n },
      { key: enc('free'), lease: 0n },
      { key: enc('y'), lease: 2n },
      { key: enc('ghost'), lease: 3n },
    ]);
    expect(summary).toEqual({ leases: 2, attachedKeys: 3, orphanKeys: 1 });
    expect(b.lookup(1n)).toEqual({ id: 1n, ttlSeconds: 60, checkpointedRemainingTtlSeconds: 25, keyCount: 2 });
    expect(b.lookup(2n)).toEqual({ id: 2n, ttlSeconds: 30, checkpointedRemainingTtlSeconds: 0, keyCount: 1 });
    expect(b.lookup(3n)).toBeUndefined();
    expect(b.isPrimary).toBe(false);

    // Nothing expires until promoted; then the checkpoint counts.
    a.clock.advance(1e6);
    expect(b.expired(10)).toEqual([]);
    b.promote(0);
    a.clock.advance(25_000);
    expect(b.expired(10)).toEqual([1n]);
    expect(b.revoke(1n).map(dec)).toEqual(['a', 'x']);
  });

  it('raises stored TTLs to the current minimum (as etcd does) without rewriting the store', () => {
    const a = setup();
    a.lessor.grant(1n, 3);
    const b = new Lessor({ clock: a.clock, store: a.store, minTtlSeconds: 10 });
    b.recover([]);
    expect(b.lookup(1n)!.ttlSeconds).toBe(10);
    expect(decodeLease(a.store.records.get(1n)!).ttlSeconds).toBe(3);
  });

  it('replaces earlier state entirely', () => {
    const { lessor, store } = setup();
    lessor.grant(1n, 60);
    lessor.attach(1n, enc('k'));
    store.records.clear();
    store.put(2n, encodeLease({ id: 2n, ttlSeconds: 9, remainingTtlSeconds: 0 }));
    lessor.recover([]);
    expect(lessor.leases()).toEqual([2n]);
    expect(lessor.stats()).toMatchObject({ leases: 1, attachedKeys: 0, attachedKeyBytes: 0 });
  });

  it('on a primary, leases expire again (promoted with no extension)', () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    lessor.recover([]);
    expect(lessor.isPrimary).toBe(true);
    clock.advance(5_000);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it.each<[string, (s: MemoryLeaseStore) => void]>([
    ['a corrupt record', (s) => s.records.set(1n, Uint8Array.from([1, 2, 3]))],
    ['a record under the wrong ID', (s) => s.records.set(2n, encodeLease({ id: 1n, ttlSeconds: 5, remainingTtlSeconds: 0 }))],
  ])('stops on %s', (_name, corrupt) => {
    const { lessor, store } = setup();
    corrupt(store);
    expect(() => lessor.recover([])).toThrow(RangeError);
  });

  it('stops on a lease stored twice', () => {
    const { lessor } = setup();
    const bytes = encodeLease({ id: 1n, ttlSeconds: 5, remainingTtlSeconds: 0 });
    const store = {
      put() {},
      delete() {},
      *loadAll() {
        yield { id: 1n, bytes };
        yield { id: 1n, bytes };
      },
    };
    const dup = new Lessor({ clock: new FakeClock(), store, minTtlSeconds: 1 });
    expect(() => dup.recover([])).toThrow(/stored twice/);
    expect(lessor.size).toBe(0);
  });
});

describe('replicated state is the same on every member', () => {
  it('primary and secondaries write byte-identical store records for the same applied log', () => {
    const c = cluster(3);
    c.members[0]!.lessor.promote(1_000);
    c.apply((l) => l.grant(1n, 60));
    c.apply((l) => l.grant(2n, 1)); // raised to the minimum everywhere
    c.apply((l) => l.attach(1n, enc('k')));
    c.clock.advance(10_000);
    const cps = c.members[0]!.lessor.checkpoints(100);
    expect(cps).toHaveLength(1);
    c.apply((l) => l.applyCheckpoint(cps));
    c.apply((l) => l.grant(3n, 30));
    c.apply((l) => l.revoke(2n));
    const dump = (s: MemoryLeaseStore) => [...s.records].map(([id, b]) => [id, [...b]]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    const first = dump(c.members[0]!.store);
    expect(first).toHaveLength(2);
    for (const m of c.members) expect(dump(m.store)).toEqual(first);
  });

  it('a store that throws leaves the lessor unchanged', () => {
    const clock = new FakeClock();
    let fail = false;
    const inner = new MemoryLeaseStore();
    const store = {
      put: (id: bigint, b: Uint8Array) => {
        if (fail) throw new Error('disk full');
        inner.put(id, b);
      },
      delete: (id: bigint) => {
        if (fail) throw new Error('disk full');
        inner.delete(id);
      },
      loadAll: () => inner.loadAll(),
    };
    const lessor = new Lessor({ clock, store, minTtlSeconds: 1 });
    lessor.grant(1n, 60);
    fail = true;
    expect(() => lessor.grant(2n, 60)).toThrow('disk full');
    expect(() => lessor.revoke(1n)).toThrow('disk full');
    expect(() => lessor.applyCheckpoint([{ id: 1n, remainingTtlSeconds: 5 }])).toThrow('disk full');
    expect(lessor.leases()).toEqual([1n]);
    expect(lessor.lookup(1n)!.checkpointedRemainingTtlSeconds).toBe(0);
  });
});
