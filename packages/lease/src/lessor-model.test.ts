import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseError, Lessor, MAX_LEASE_TTL_SECONDS } from './index.js';
import { FakeClock, MemoryLeaseStore } from './test-support/fakes.js';

// A naive model of the lessor: plain maps and linear scans, written from etcd's semantics.
// A random schedule of operations runs against both; every answer and error must agree.

const MIN_TTL = 2;
const RETRY_MS = 3_000;
const MAX_LEASES = 5;
const CP_INTERVAL_MS = 4_000;

interface ModelLease {
  ttl: number;
  remaining: number;
  expiry: number;
  nextOffer: number;
}

class Model {
  now = 1_000_000;
  primary = false;
  leases = new Map<bigint, ModelLease>();
  owner = new Map<string, bigint>();
  /** Next checkpoint time per lease, and renewed leases owing a clear, in order. */
  nextCp = new Map<bigint, number>();
  clears: bigint[] = [];

  constructor(readonly cpEnabled: boolean) {}

  schedule(id: bigint): void {
    const l = this.leases.get(id)!;
    if (this.cpEnabled && l.ttl * 1000 > CP_INTERVAL_MS) this.nextCp.set(id, this.now + CP_INTERVAL_MS);
  }

  keysOf(id: bigint): string[] {
    return [...this.owner].filter(([, o]) => o === id).map(([k]) => k).sort();
  }
  refresh(l: ModelLease, extend: number): void {
    l.expiry = this.now + extend + (l.remaining > 0 ? l.remaining : l.ttl) * 1000;
    l.nextOffer = l.expiry;
  }
  grant(id: bigint, ttl: number): unknown {
    if (ttl > MAX_LEASE_TTL_SECONDS) return { err: 'LeaseTTLTooLarge' };
    if (this.leases.has(id)) return { err: 'LeaseExist' };
    if (this.leases.size >= MAX_LEASES) return { err: 'TooManyLeases' };
    const l: ModelLease = { ttl: Math.max(ttl, MIN_TTL), remaining: 0, expiry: Infinity, nextOffer: Infinity };
    this.leases.set(id, l);
    if (this.primary) {
      this.refresh(l, 0);
      this.schedule(id);
    }
    return { ok: { id, ttlSeconds: l.ttl } };
  }
  revoke(id: bigint): unknown {
    if (!this.leases.has(id)) return { err: 'LeaseNotFound' };
    const keys = this.keysOf(id);
    for (const k of keys) this.owner.delete(k);
    this.leases.delete(id);
    this.nextCp.delete(id);
    this.clears = this.clears.filter((x) => x !== id);
    return { ok: keys };
  }
  renew(id: bigint): unknown {
    if (!this.primary) return { err: 'NotPrimary' };
    const l = this.leases.get(id);
    if (!l || l.expiry <= this.now) return { err: 'LeaseNotFound' };
    if (this.cpEnabled && l.remaining > 0 && !this.clears.includes(id)) this.clears.push(id);
    l.expiry = l.nextOffer = this.now + l.ttl * 1000;
    return { ok: l.ttl };
  }
  timeToLive(id: bigint): unknown {
    if (!this.primary) return { err: 'NotPrimary' };
    const l = this.leases.get(id);
    if (!l) return { err: 'LeaseNotFound' };
    return {
      ok: { id, grantedTtlSeconds: l.ttl, remainingTtlSeconds: Math.trunc((l.expiry - this.now) / 1000), keys: this.keysOf(id) },
    };
  }
  attach(id: bigint, key: string): unknown {
    if (!this.leases.has(id)) return { err: 'LeaseNotFound' };
    this.owner.set(key, id);
    return { ok: undefined };
  }
  detach(id: bigint, key: string): unknown {
    if (!this.leases.has(id)) return { err: 'LeaseNotFound' };
    if (this.owner.get(key) === id) this.owner.delete(key);
    return { ok: undefined };
  }
  checkpoint(id: bigint, remaining: number): unknown {
    const l = this.leases.get(id);
    if (l) {
      l.remaining = remaining;
      if (this.primary) this.schedule(id);
    }
    return { ok: undefined };
  }
  checkpoints(limit: number): unknown {
    if (!this.primary || !this.cpEnabled) return { ok: [] };
    const out = this.clears.splice(0, limit).map((id) => ({ id, remainingTtlSeconds: 0 }));
    const due = [...this.nextCp]
      .filter(([, t]) => t <= this.now)
      .sort(([ia, a], [ib, b]) => a - b || (ia < ib ? -1 : 1));
    for (const [id] of due) {
      if (out.length >= limit) break;
      this.nextCp.set(id, this.now + CP_INTERVAL_MS);
      const l = this.leases.get(id)!;
      if (l.expiry <= this.now) continue;
      const remaining = Math.ceil((l.expiry - this.now) / 1000);
      if (remaining >= l.ttl) continue;
      out.push({ id, remainingTtlSeconds: remaining });
    }
    return { ok: out };
  }
  expired(limit: number): unknown {
    if (!this.primary) return { ok: [] };
    const due = [...this.leases]
      .filter(([, l]) => l.nextOffer <= this.now)
      .sort(([ia, a], [ib, b]) => a.nextOffer - b.nextOffer || (ia < ib ? -1 : 1))
      .slice(0, limit);
    for (const [, l] of due) l.nextOffer = this.now + RETRY_MS;
    return { ok: due.map(([id]) => id) };
  }
  promote(extend: number): unknown {
    this.primary = true;
    for (const [id, l] of this.leases) {
      this.refresh(l, extend);
      this.schedule(id);
    }
    return { ok: undefined };
  }
  demote(): unknown {
    this.primary = false;
    for (const l of this.leases.values()) l.expiry = l.nextOffer = Infinity;
    this.nextCp.clear();
    this.clears = [];
    return { ok: undefined };
  }
  list(): unknown {
    return {
      ok: [...this.leases]
        .sort(([ia, a], [ib, b]) => (a.expiry !== b.expiry ? (a.expiry < b.expiry ? -1 : 1) : ia < ib ? -1 : 1))
        .map(([id]) => id),
    };
  }
}

type Op =
  | { op: 'grant'; id: bigint; ttl: number }
  | { op: 'revoke'; id: bigint }
  | { op: 'renew'; id: bigint }
  | { op: 'ttl'; id: bigint }
  | { op: 'attach'; id: bigint; key: string }
  | { op: 'detach'; id: bigint; key: string }
  | { op: 'checkpoint'; id: bigint; remaining: number }
  | { op: 'expired'; limit: number; revokeAll: boolean }
  | { op: 'checkpoints'; limit: number; apply: boolean }
  | { op: 'advance'; ms: number }
  | { op: 'promote'; extend: number }
  | { op: 'demote' }
  | { op: 'list' };

const id = fc.integer({ min: 0, max: 7 }).map(BigInt); // includes 0 (NoLease)
const key = fc.constantFrom('a', 'b', 'c', 'd', 'k\u00ff', 'k\u0000');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('grant' as const), id, ttl: fc.oneof(fc.integer({ min: -2, max: 20 }), fc.constant(MAX_LEASE_TTL_SECONDS + 1)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('revoke' as const), id }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('renew' as const), id }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ttl' as const), id }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('attach' as const), id, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('detach' as const), id, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('checkpoint' as const), id, remaining: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('expired' as const), limit: fc.integer({ min: 1, max: 4 }), revokeAll: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 2_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15_000 }) }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('checkpoints' as const), limit: fc.integer({ min: 1, max: 4 }), apply: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('promote' as const), extend: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('demote' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('list' as const) }) },
);

function attempt(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    if (err instanceof LeaseError) return { err: err.code };
    throw err;
  }
}

const text = (keys: readonly Uint8Array[]) => keys.map((k) => Buffer.from(k).toString('latin1'));
const bytes = (k: string) => new Uint8Array(Buffer.from(k, 'latin1'));

describe('Lessor against a naive model', () => {
  it('agrees on every answer and error over random schedules, and recovers to the same state', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.array(opArb, { minLength: 40, maxLength: 160 }), (startPrimary, cpEnabled, ops) => {
        const model = new Model(cpEnabled);
        const clock = new FakeClock(model.now);
        const store = new MemoryLeaseStore();
        const opts = { clock, store, minTtlSeconds: MIN_TTL, expiredRetryMs: RETRY_MS, maxLeases: MAX_LEASES, enableCheckpoints: cpEnabled, checkpointIntervalMs: CP_INTERVAL_MS };
        const lessor = new Lessor(opts);
        if (startPrimary) {
          model.promote(0);
          lessor.promote(0);
        }
        for (const o of ops) {
          let got: unknown;
          let want: unknown;
          switch (o.op) {
            case 'grant':
              want = o.id === 0n ? { err: 'LeaseNotFound' } : model.grant(o.id, o.ttl);
              got = attempt(() => lessor.grant(o.id, o.ttl));
              break;
            case 'revoke':
              want = model.revoke(o.id);
              got = attempt(() => text(lessor.revoke(o.id)));
              break;
            case 'renew':
              want = model.renew(o.id);
              got = attempt(() => lessor.renew(o.id));
              break;
            case 'ttl':
              want = model.timeToLive(o.id);
              got = attempt(() => {
                const t = lessor.timeToLive(o.id, { keys: true });
                return { ...t, keys: text(t.keys) };
              });
              break;
            case 'attach':
              want = model.attach(o.id, o.key);
              got = attempt(() => lessor.attach(o.id, bytes(o.key)));
              break;
            case 'detach':
              want = model.detach(o.id, o.key);
              got = attempt(() => lessor.detach(o.id, bytes(o.key)));
              break;
            case 'checkpoint':
              want = model.checkpoint(o.id, o.remaining);
              got = attempt(() => lessor.applyCheckpoint([{ id: o.id, remainingTtlSeconds: o.remaining }]));
              break;
            case 'expired': {
              want = model.expired(o.limit);
              const ids = lessor.expired(o.limit);
              got = { ok: ids };
              if (o.revokeAll) {
                for (const x of ids) expect(text(lessor.revoke(x))).toEqual((model.revoke(x) as { ok: string[] }).ok);
              }
              break;
            }
            case 'checkpoints': {
              want = model.checkpoints(o.limit);
              const cps = lessor.checkpoints(o.limit);
              got = { ok: cps };
              if (o.apply) {
                lessor.applyCheckpoint(cps);
                for (const cp of cps) model.checkpoint(cp.id, cp.remainingTtlSeconds);
              }
              break;
            }
            case 'advance':
              model.now += o.ms;
              clock.advance(o.ms);
              continue;
            case 'promote':
              want = model.promote(o.extend);
              got = attempt(() => lessor.promote(o.extend));
              break;
            case 'demote':
              want = model.demote();
              got = attempt(() => lessor.demote());
              break;
            case 'list':
              want = model.list();
              got = attempt(() => lessor.leases());
              break;
          }
          // The op rides along so a failure shows which step disagreed.
          expect({ op: o, answer: got }).toEqual({ op: o, answer: want });
          const stats = lessor.stats();
          expect(stats.leases).toBe(model.leases.size);
          expect(stats.attachedKeys).toBe(model.owner.size);
          expect(stats.attachedKeyBytes).toBe([...model.owner.keys()].reduce((n, k) => n + k.length, 0));
        }

        // Recovery from the store plus a key scan gives back the replicated state.
        const recovered = new Lessor({ ...opts, store });
        const scan = [...model.owner].map(([k, lease]) => ({ key: bytes(k), lease }));
        expect(recovered.recover(scan)).toEqual({ leases: model.leases.size, attachedKeys: scan.length, orphanKeys: 0 });
        for (const [leaseId, l] of model.leases) {
          expect(recovered.lookup(leaseId)).toEqual({
            id: leaseId,
            ttlSeconds: l.ttl,
            checkpointedRemainingTtlSeconds: l.remaining,
            keyCount: model.keysOf(leaseId).length,
          });
        }
      }),
      { numRuns: 400 },
    );
  });
});
