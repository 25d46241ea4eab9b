import {
  LeaseExistError,
  LeaseNotFoundError,
  LeaseTTLTooLargeError,
  NotPrimaryError,
  TooManyLeasesError,
} from './errors.js';
import { assertLeaseId, decodeLease, encodeLease } from './lease-codec.js';
import { LeaseQueue } from './lease-queue.js';
import type { Clock, LeaseStore } from './lease-store.js';
import { MAX_LEASE_TTL_SECONDS } from './lease-ttl.js';

/** Options of {@link Lessor}. All durations are milliseconds, all TTLs seconds. */
export interface LessorOptions {
  /** Source of time; see {@link Clock}. */
  readonly clock: Clock;
  /** Durable home of lease records; see {@link LeaseStore}. */
  readonly store: LeaseStore;
  /**
   * Shorter grants are raised to this (etcd never refuses a short TTL). Use
   * `minLeaseTtlSeconds(electionTicks, heartbeatIntervalMs)`. Integer >= 1.
   */
  readonly minTtlSeconds: number;
  /**
   * Whether the primary produces remaining-TTL checkpoints (etcd's
   * `--experimental-enable-lease-checkpoint`, off by default there, ON by default here:
   * without it a lease whose holder died is given its full TTL again by every new leader).
   */
  readonly enableCheckpoints?: boolean;
  /** How often each long lease is checkpointed. etcd's default: 5 minutes. */
  readonly checkpointIntervalMs?: number;
  /**
   * How long `expired()` waits before offering the same expired lease again when its revoke
   * has not been applied (a lost proposal). etcd uses the server's request timeout; its
   * lessor default is 3 s.
   */
  readonly expiredRetryMs?: number;
  /**
   * The revoke rate the server aims for (etcd: 1000/s). `promote` spreads expiries so that
   * at most 3/4 of this many leases fall due in any one second. Integer >= 2.
   */
  readonly revokeRatePerSecond?: number;
  /**
   * Most leases that may exist at once; `grant` beyond it throws `TooManyLeasesError`.
   * Must be the same on every member: `grant` is applied on every member. Default 1,000,000.
   */
  readonly maxLeases?: number;
}

/** What `grant` gave: the TTL may exceed the request (raised to the minimum TTL). */
export interface LeaseGrant {
  readonly id: bigint;
  readonly ttlSeconds: number;
}

/** Answer of {@link Lessor.timeToLive} (etcd's LeaseTimeToLiveResponse fields). */
export interface LeaseTimeToLive {
  readonly id: bigint;
  /** The TTL granted (after the minimum TTL was applied). */
  readonly grantedTtlSeconds: number;
  /**
   * Seconds until expiry, truncated toward zero as etcd does (a fresh 10 s lease reports 9).
   * May be 0 or negative for a lease that expired and whose revoke is not yet applied.
   */
  readonly remainingTtlSeconds: number;
  /** Attached keys in byte order; empty unless `{ keys: true }` was asked. */
  readonly keys: readonly Uint8Array[];
}

/** The replicated facts about one lease, readable on every member. */
export interface LeaseInfo {
  readonly id: bigint;
  readonly ttlSeconds: number;
  /** Last applied checkpoint; 0 = none. */
  readonly checkpointedRemainingTtlSeconds: number;
  readonly keyCount: number;
}

/** One remaining-TTL checkpoint, as proposed in etcd's `LeaseCheckpointRequest`. */
export interface LeaseCheckpoint {
  readonly id: bigint;
  /** 0 clears an earlier checkpoint (sent after a renew). */
  readonly remainingTtlSeconds: number;
}

/** One key of the key space and the lease it carries (0n = none); input of `recover`. */
export interface LeasedKey {
  readonly key: Uint8Array;
  readonly lease: bigint;
}

/** What `recover` rebuilt. */
export interface LessorRecovery {
  readonly leases: number;
  readonly attachedKeys: number;
  /** Keys naming a lease the store does not have; skipped (etcd logs and skips them too). */
  readonly orphanKeys: number;
}

/** Counts and an estimate of the lessor's heap use, for `/metrics` and limits. */
export interface LessorStats {
  readonly leases: number;
  readonly attachedKeys: number;
  /** Sum of the byte lengths of attached keys. */
  readonly attachedKeyBytes: number;
  /** Estimated heap bytes held by the lessor (calibrated by the bench; see README). */
  readonly estimatedBytes: number;
  readonly primary: boolean;
  /** Since the lessor was made, monotonic (etcd's lease granted/revoked/renewed totals). */
  readonly granted: number;
  readonly revoked: number;
  /** Renewals by this lessor while primary (etcd: "renewed leases seen by the leader"). */
  readonly renewed: number;
}

// Per-object overheads measured by `pnpm bench` on Node 20 (README "Memory"); used only
// for the estimate in stats(), never for decisions.
const BYTES_PER_LEASE = 340;
const BYTES_PER_KEY = 100;
/** The key set a lease gets with its first key. */
const BYTES_PER_KEY_SET = 110;

const DEFAULTS = {
  enableCheckpoints: true,
  checkpointIntervalMs: 5 * 60 * 1000,
  expiredRetryMs: 3000,
  revokeRatePerSecond: 1000,
  maxLeases: 1_000_000,
} as const;

/** Mutable per-lease state. `expiryMs` is local (Infinity on a secondary); the rest is replicated. */
interface Lease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  remainingTtlSeconds: number;
  expiryMs: number;
  /** Keys as latin1 strings (one char per byte, so string order is byte order); lazy. */
  keys: Set<string> | undefined;
}

function keyToString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function keyFromString(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

function positiveInteger(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The lessor: etcd's lease state machine, pure and deterministic. It has no timers and never
 * reads the wall clock; the server drives it.
 *
 * Two kinds of calls:
 * - **Applied** on every member, in log order, from committed Raft entries: `grant`,
 *   `revoke`, `applyCheckpoint`, `attach`, `detach` (the latter two from mvcc puts/deletes).
 *   These change replicated state and write through the {@link LeaseStore}.
 * - **Primary only** (the Raft leader's lessor, after `promote`): `renew`, `timeToLive`,
 *   `expired`, `checkpoints`. A secondary throws `NotPrimaryError` (the server forwards the
 *   call to the leader) or returns nothing.
 *
 * Expiry is driven by the server: call `expired(limit)` every ~500 ms on the leader, propose
 * a `LeaseRevoke` for each ID, and apply it (one mvcc txn deleting the keys `revoke`
 * returns). Likewise propose `checkpoints(limit)` as one `LeaseCheckpoint` entry.
 *
 * @example
 * ```ts
 * const lessor = new Lessor({ clock, store, minTtlSeconds: minLeaseTtlSeconds(10, 100) });
 * lessor.recover(mvcc.leasedKeys());        // on start, before serving
 * // apply loop:       lessor.grant(id, ttl); lessor.attach(id, key); keys = lessor.revoke(id)
 * // leader's 1st entry of its term applied: lessor.promote(electionTimeoutMs)
 * // lost leadership:  lessor.demote()
 * // every 500 ms on the leader: for (const id of lessor.expired(500)) propose revoke(id)
 * ```
 */
export class Lessor {
  private readonly clock: Clock;
  private readonly store: LeaseStore;
  private readonly minTtlSeconds: number;
  private readonly checkpointsEnabled: boolean;
  private readonly checkpointIntervalMs: number;
  private readonly expiredRetryMs: number;
  private readonly revokeRatePerSecond: number;
  private readonly maxLeases: number;

  private readonly leaseMap = new Map<bigint, Lease>();
  /** Which lease each attached key belongs to: a key is attached to at most one lease. */
  private readonly keyOwner = new Map<string, bigint>();
  /** Primary only: when each lease is next due for an `expired()` offer. */
  private readonly expiryQueue = new LeaseQueue();
  /** Primary only: when each long lease is next due for a checkpoint. */
  private readonly checkpointQueue = new LeaseQueue();
  /** Primary only: renewed leases whose stale checkpoint must be cleared (remaining 0). */
  private readonly pendingClears = new Set<bigint>();
  private primary = false;
  private attachedKeyBytes = 0;
  private keySets = 0;
  private readonly counts = { granted: 0, revoked: 0, renewed: 0 };

  /** Called with the TTL (after the minimum-TTL raise) of every lease granted (etcd's lease ttl histogram). */
  onGrant: ((ttlSeconds: number) => void) | undefined;

  constructor(options: LessorOptions) {
    this.clock = options.clock;
    this.store = options.store;
    this.minTtlSeconds = positiveInteger('minTtlSeconds', options.minTtlSeconds);
    if (this.minTtlSeconds > MAX_LEASE_TTL_SECONDS) {
      throw new RangeError(`minTtlSeconds must be <= ${MAX_LEASE_TTL_SECONDS}`);
    }
    this.checkpointsEnabled = options.enableCheckpoints ?? DEFAULTS.enableCheckpoints;
    this.checkpointIntervalMs = positiveInteger(
      'checkpointIntervalMs',
      options.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs,
    );
    this.expiredRetryMs = positiveInteger('expiredRetryMs', options.expiredRetryMs ?? DEFAULTS.expiredRetryMs);
    this.revokeRatePerSecond = positiveInteger(
      'revokeRatePerSecond',
      options.revokeRatePerSecond ?? DEFAULTS.revokeRatePerSecond,
      2,
    );
    this.maxLeases = positiveInteger('maxLeases', options.maxLeases ?? DEFAULTS.maxLeases);
  }

  /** True between `promote` and `demote`: this lessor expires leases and accepts renewals. */
  get isPrimary(): boolean {
    return this.primary;
  }

  /** Number of leases. */
  get size(): number {
    return this.leaseMap.size;
  }

  /**
   * Applies a LeaseGrant. `ttlSeconds` below the minimum TTL (including 0 and negatives) is
   * raised to it. On the primary the lease expires `ttl` seconds from now; on a secondary it
   * does not expire until a `promote`. Persists the lease.
   *
   * The ID is chosen by the server BEFORE proposing (etcd: a random positive int63, retried
   * while 0), so every member grants the same ID.
   *
   * @throws LeaseNotFoundError for ID 0 (etcd's `NoLease`), LeaseTTLTooLargeError above
   *   {@link MAX_LEASE_TTL_SECONDS}, LeaseExistError for a live ID, TooManyLeasesError at
   *   `maxLeases` - checked in that order, as etcd does. RangeError for an ID outside int64
   *   or a non-integer TTL (the server validates requests, so this is a bug).
   */
  grant(id: bigint, ttlSeconds: number): LeaseGrant {
    if (id === 0n) throw new LeaseNotFoundError(id);
    assertLeaseId(id);
    if (!Number.isSafeInteger(ttlSeconds)) throw new RangeError(`ttlSeconds must be an integer, got ${ttlSeconds}`);
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new LeaseTTLTooLargeError(ttlSeconds);
    if (this.leaseMap.has(id)) throw new LeaseExistError(id);
    if (this.leaseMap.size >= this.maxLeases) throw new TooManyLeasesError(this.maxLeases);

    const lease: Lease = {
      id,
      ttlSeconds: Math.max(ttlSeconds, this.minTtlSeconds),
      remainingTtlSeconds: 0,
      expiryMs: Infinity,
      keys: undefined,
    };
    this.persist(lease); // store first: if it throws, memory is unchanged
    this.leaseMap.set(id, lease);
    this.counts.granted++;
    this.onGrant?.(lease.ttlSeconds);
    if (this.primary) {
      const now = this.now();
      this.refresh(lease, now, 0);
      this.scheduleCheckpoint(lease, now);
    }
    return { id, ttlSeconds: lease.ttlSeconds };
  }

  /**
   * Applies a LeaseRevoke: forgets the lease and its key attachments, deletes its record from
   * the store, and returns the keys that were attached, sorted by bytes. The server MUST
   * delete exactly these keys in ONE mvcc write (one revision), in this order, in the same
   * backend transaction as the store delete - the same order on every member keeps HashKV
   * equal. Those deletes must not call `detach` (the lease is already gone; it would throw).
   *
   * @throws LeaseNotFoundError when the lease does not exist.
   */
  revoke(id: bigint): Uint8Array[] {
    const lease = this.leaseMap.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    this.store.delete(id); // store first: if it throws, memory is unchanged
    const keys = lease.keys === undefined ? [] : [...lease.keys].sort(compareStrings);
    if (lease.keys !== undefined) this.keySets--;
    for (const key of keys) {
      this.keyOwner.delete(key);
      this.attachedKeyBytes -= key.length;
    }
    this.leaseMap.delete(id);
    this.expiryQueue.delete(id);
    this.checkpointQueue.delete(id);
    this.pendingClears.delete(id);
    this.counts.revoked++;
    return keys.map(keyFromString);
  }

  /**
   * Renews a lease (one keepalive): it now expires its full TTL from now. Returns the TTL.
   * Not replicated, like etcd: only the primary's clock matters. If a checkpoint was applied
   * for the lease, a clearing checkpoint (remaining 0) is queued for `checkpoints()`, so a
   * later leader does not cut the renewed lease short.
   *
   * A member that just won an election is not primary until it applies its term's first
   * entry and calls `promote`; until then this throws NotPrimaryError too, and the server
   * should wait for that apply and retry (etcd waits for the applied index first).
   *
   * @throws NotPrimaryError on a secondary (the server forwards to the leader), then
   *   LeaseNotFoundError when the lease does not exist OR has already expired. etcd blocks
   *   the renew of an expired lease until its revoke is applied and then answers "not found";
   *   a pure lessor cannot block, so it answers at once - the revoke is already on its way.
   */
  renew(id: bigint): number {
    if (!this.primary) throw new NotPrimaryError();
    const lease = this.leaseMap.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    const now = this.now();
    if (lease.expiryMs <= now) throw new LeaseNotFoundError(id);
    if (this.checkpointsEnabled && lease.remainingTtlSeconds > 0) this.pendingClears.add(id);
    lease.expiryMs = now + lease.ttlSeconds * 1000;
    this.expiryQueue.set(id, lease.expiryMs);
    this.counts.renewed++;
    return lease.ttlSeconds;
  }

  /**
   * etcd's LeaseTimeToLive, answered by the primary (followers forward it to the leader).
   *
   * @throws NotPrimaryError on a secondary (including a new leader before `promote`; see
   *   `renew`), LeaseNotFoundError when the lease does not
   *   exist (the gRPC layer turns that into a response with TTL -1, as etcd does).
   */
  timeToLive(id: bigint, options: { readonly keys?: boolean } = {}): LeaseTimeToLive {
    if (!this.primary) throw new NotPrimaryError();
    const lease = this.leaseMap.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    const remainingTtlSeconds = Math.trunc((lease.expiryMs - this.now()) / 1000);
    const keys =
      options.keys === true && lease.keys !== undefined
        ? [...lease.keys].sort(compareStrings).map(keyFromString)
        : [];
    return { id, grantedTtlSeconds: lease.ttlSeconds, remainingTtlSeconds, keys };
  }

  /**
   * The replicated facts about a lease, on any member (etcd's `Lookup`); `undefined` when it
   * does not exist. The apply loop uses it to refuse a put naming a missing lease.
   */
  lookup(id: bigint): LeaseInfo | undefined {
    const lease = this.leaseMap.get(id);
    if (lease === undefined) return undefined;
    return {
      id,
      ttlSeconds: lease.ttlSeconds,
      checkpointedRemainingTtlSeconds: lease.remainingTtlSeconds,
      keyCount: lease.keys?.size ?? 0,
    };
  }

  /**
   * All lease IDs (etcd's LeaseLeases), soonest expiry first like etcd's leader, ties (and
   * every lease on a secondary) by ascending ID so the answer is deterministic. O(n log n).
   */
  leases(): bigint[] {
    const all = [...this.leaseMap.values()];
    all.sort((a, b) => (a.expiryMs !== b.expiryMs ? (a.expiryMs < b.expiryMs ? -1 : 1) : a.id < b.id ? -1 : 1));
    return all.map((lease) => lease.id);
  }

  /**
   * Attaches `key` to lease `id`; applied when mvcc applies a put carrying a lease. A key is
   * attached to at most one lease: attaching it elsewhere moves it (etcd's mvcc detaches the
   * old lease first; doing it here keeps the invariant even if a caller forgets).
   *
   * @throws LeaseNotFoundError when the lease does not exist (the apply loop checks with
   *   `lookup` before writing the key, as etcd does).
   */
  attach(id: bigint, key: Uint8Array): void {
    const lease = this.leaseMap.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    const k = keyToString(key);
    const owner = this.keyOwner.get(k);
    if (owner === id) return;
    if (owner !== undefined) this.removeKey(owner, k);
    if (lease.keys === undefined) {
      lease.keys = new Set();
      this.keySets++;
    }
    lease.keys.add(k);
    this.keyOwner.set(k, id);
    this.attachedKeyBytes += k.length;
  }

  /** The lease `key` is attached to; 0n when none. */
  leaseOfKey(key: Uint8Array): bigint {
    if (this.keyOwner.size === 0) return 0n;
    return this.keyOwner.get(keyToString(key)) ?? 0n;
  }

  /**
   * Detaches `key` from lease `id`; applied when mvcc deletes the key or overwrites it
   * without that lease. Detaching a key the lease does not hold does nothing.
   *
   * @throws LeaseNotFoundError when the lease does not exist (etcd's mvcc logs and goes on).
   */
  detach(id: bigint, key: Uint8Array): void {
    if (!this.leaseMap.has(id)) throw new LeaseNotFoundError(id);
    const k = keyToString(key);
    if (this.keyOwner.get(k) === id) this.removeKey(id, k);
  }

  /**
   * Makes this lessor primary; call it when this member is leader and has applied every entry
   * of earlier terms (etcd: on applying the leader's first, empty entry of its term), with
   * `extendMs` = the election timeout. Every lease then expires after `extendMs` plus its
   * last checkpointed remaining TTL (or its full TTL when none): no lease loses time to the
   * election. When there are at least `revokeRatePerSecond` leases, expiries that would pile
   * into one second are pushed later (etcd's spread), so at most 3/4 of the revoke rate fall
   * due per second; a lease is only ever extended by this, never shortened.
   *
   * Calling it on a primary refreshes again (as etcd does).
   */
  promote(extendMs: number): void {
    if (!Number.isSafeInteger(extendMs) || extendMs < 0) {
      throw new RangeError(`extendMs must be a non-negative integer, got ${extendMs}`);
    }
    this.primary = true;
    const now = this.now();
    for (const lease of this.leaseMap.values()) {
      this.refresh(lease, now, extendMs);
      this.scheduleCheckpoint(lease, now);
    }
    if (this.leaseMap.size < this.revokeRatePerSecond) return;

    // Walk leases by expiry in windows of one second; once a window holds more than the
    // target, each further lease is delayed in proportion to how far over the target it is,
    // less how far it already sits after the window's start.
    const sorted = [...this.leaseMap.values()].sort((a, b) => a.expiryMs - b.expiryMs || (a.id < b.id ? -1 : 1));
    const target = Math.max(1, Math.floor((3 * this.revokeRatePerSecond) / 4));
    let baseWindowMs = (sorted[0] as Lease).expiryMs - now;
    let nextWindowMs = baseWindowMs + 1000;
    let expires = 0;
    for (const lease of sorted) {
      const remainingMs = lease.expiryMs - now;
      if (remainingMs > nextWindowMs) {
        baseWindowMs = remainingMs;
        nextWindowMs = baseWindowMs + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= target) continue;
      const delayMs = Math.trunc((1000 * expires) / target - (remainingMs - baseWindowMs));
      nextWindowMs = baseWindowMs + delayMs;
      this.refresh(lease, now, delayMs + extendMs);
    }
  }

  /**
   * Makes this lessor secondary (this member lost leadership): no lease expires here, and the
   * expiry and checkpoint queues are dropped. The next `promote` rebuilds them.
   */
  demote(): void {
    this.primary = false;
    for (const lease of this.leaseMap.values()) lease.expiryMs = Infinity;
    this.expiryQueue.clear();
    this.checkpointQueue.clear();
    this.pendingClears.clear();
  }

  /**
   * Up to `limit` IDs of leases past their expiry, soonest first, for the server to revoke
   * through Raft (etcd proposes at most 500 per 500 ms). A lease offered here is not offered
   * again for `expiredRetryMs`: normally its revoke is applied well before that; if the
   * revoke was lost (dropped proposal) it is offered once more, as etcd does. Expired leases
   * cannot be renewed, so an offered lease stays expired until revoked or until a `demote`.
   * Returns nothing on a secondary. O(k log n) for k results.
   */
  expired(limit: number): bigint[] {
    positiveInteger('limit', limit);
    if (!this.primary) return [];
    const now = this.now();
    const out: bigint[] = [];
    while (out.length < limit) {
      const top = this.expiryQueue.peek();
      if (top === undefined || top.timeMs > now) break;
      this.expiryQueue.set(top.id, now + this.expiredRetryMs);
      out.push(top.id);
    }
    return out;
  }

  /**
   * Up to `limit` remaining-TTL checkpoints to propose as one `LeaseCheckpoint` entry (etcd
   * batches 1000), from the primary: first the clears queued by `renew`, then every long lease
   * (TTL above the checkpoint interval) whose interval has elapsed, with its remaining TTL
   * rounded up to whole seconds. A lease not yet short of its TTL, or already expired, is
   * skipped. Each lease is due again one interval later even if the proposal is lost (etcd
   * drops it until the next apply; we re-arm, so a lost proposal is not permanent).
   * Returns nothing on a secondary or when checkpoints are disabled.
   */
  checkpoints(limit: number): LeaseCheckpoint[] {
    positiveInteger('limit', limit);
    if (!this.primary || !this.checkpointsEnabled) return [];
    const out: LeaseCheckpoint[] = [];
    for (const id of this.pendingClears) {
      if (out.length >= limit) return out;
      this.pendingClears.delete(id);
      out.push({ id, remainingTtlSeconds: 0 });
    }
    const now = this.now();
    while (out.length < limit) {
      const top = this.checkpointQueue.peek();
      if (top === undefined || top.timeMs > now) break;
      const lease = this.leaseMap.get(top.id) as Lease;
      this.checkpointQueue.set(lease.id, now + this.checkpointIntervalMs);
      if (lease.expiryMs <= now) continue;
      const remainingTtlSeconds = Math.ceil((lease.expiryMs - now) / 1000);
      if (remainingTtlSeconds >= lease.ttlSeconds) continue;
      out.push({ id: lease.id, remainingTtlSeconds });
    }
    return out;
  }

  /**
   * Applies a LeaseCheckpoint entry on every member: records each lease's remaining TTL and
   * persists it, so the next `promote` (on any member, even after a restart - etcd 3.6's
   * behaviour; 3.4 persisted only with a flag) grants that much instead of the full TTL.
   * The current expiry is not changed. Unknown IDs are ignored (revoked meanwhile), as etcd.
   *
   * @throws RangeError for a remaining TTL that is not an integer in [0, MAX_LEASE_TTL_SECONDS].
   */
  applyCheckpoint(checkpoints: Iterable<LeaseCheckpoint>): void {
    const now = this.primary ? this.now() : 0;
    for (const cp of checkpoints) {
      const r = cp.remainingTtlSeconds;
      if (!Number.isSafeInteger(r) || r < 0 || r > MAX_LEASE_TTL_SECONDS) {
        throw new RangeError(`remainingTtlSeconds out of range: ${r}`);
      }
      const lease = this.leaseMap.get(cp.id);
      if (lease === undefined) continue;
      this.persist(lease, r);
      lease.remainingTtlSeconds = r;
      if (this.primary) this.scheduleCheckpoint(lease, now);
    }
  }

  /**
   * Rebuilds all state from the store and from the key space (on start, and after a Raft
   * snapshot replaced the backend): every stored lease (TTL raised to the current minimum,
   * checkpoint kept), then every key in `keys` whose lease is non-zero is attached. Leases
   * do not expire until the next `promote`; if this lessor is already primary, it is
   * promoted again with no extension so nothing becomes immortal.
   *
   * @throws RangeError when a stored record is corrupt, stored under another ID, or
   *   duplicated: recovery must stop rather than serve a wrong lease table.
   */
  recover(keys: Iterable<LeasedKey>): LessorRecovery {
    this.leaseMap.clear();
    this.keyOwner.clear();
    this.expiryQueue.clear();
    this.checkpointQueue.clear();
    this.pendingClears.clear();
    this.attachedKeyBytes = 0;
    this.keySets = 0;

    for (const { id, bytes } of this.store.loadAll()) {
      const record = decodeLease(bytes);
      if (record.id !== id) throw new RangeError(`lease record for ${record.id} stored under ${id}`);
      if (this.leaseMap.has(id)) throw new RangeError(`lease ${id} stored twice`);
      this.leaseMap.set(id, {
        id,
        ttlSeconds: Math.max(record.ttlSeconds, this.minTtlSeconds),
        remainingTtlSeconds: record.remainingTtlSeconds,
        expiryMs: Infinity,
        keys: undefined,
      });
    }
    let attachedKeys = 0;
    let orphanKeys = 0;
    for (const { key, lease } of keys) {
      if (lease === 0n) continue;
      if (!this.leaseMap.has(lease)) {
        orphanKeys++;
        continue;
      }
      this.attach(lease, key);
      attachedKeys++;
    }
    if (this.primary) this.promote(0);
    return { leases: this.leaseMap.size, attachedKeys, orphanKeys };
  }

  /** Counts and an estimated heap footprint. O(1). */
  stats(): LessorStats {
    const leases = this.leaseMap.size;
    const attachedKeys = this.keyOwner.size;
    return {
      leases,
      attachedKeys,
      attachedKeyBytes: this.attachedKeyBytes,
      estimatedBytes:
        leases * BYTES_PER_LEASE +
        this.keySets * BYTES_PER_KEY_SET +
        attachedKeys * BYTES_PER_KEY +
        this.attachedKeyBytes,
      granted: this.counts.granted,
      revoked: this.counts.revoked,
      renewed: this.counts.renewed,
      primary: this.primary,
    };
  }

  private now(): number {
    const now = this.clock.nowMs();
    if (!Number.isFinite(now)) throw new RangeError(`clock returned ${now}`);
    return now;
  }

  /** Expiry = now + extend + (checkpointed remaining TTL, or the full TTL). */
  private refresh(lease: Lease, now: number, extendMs: number): void {
    const seconds = lease.remainingTtlSeconds > 0 ? lease.remainingTtlSeconds : lease.ttlSeconds;
    lease.expiryMs = now + extendMs + seconds * 1000;
    this.expiryQueue.set(lease.id, lease.expiryMs);
  }

  /**
   * Arms the lease's next checkpoint one interval from now. Only leases whose TTL exceeds the
   * interval are checkpointed: a shorter lease can gain at most its TTL on a leader change.
   * (etcd tests the last checkpointed remaining TTL instead, which stops checkpointing a long
   * lease once a checkpoint fell below the interval.)
   */
  private scheduleCheckpoint(lease: Lease, now: number): void {
    if (!this.checkpointsEnabled || lease.ttlSeconds * 1000 <= this.checkpointIntervalMs) return;
    this.checkpointQueue.set(lease.id, now + this.checkpointIntervalMs);
  }

  private removeKey(owner: bigint, key: string): void {
    this.leaseMap.get(owner)?.keys?.delete(key);
    this.keyOwner.delete(key);
    this.attachedKeyBytes -= key.length;
  }

  private persist(lease: Lease, remainingTtlSeconds = lease.remainingTtlSeconds): void {
    this.store.put(lease.id, encodeLease({ id: lease.id, ttlSeconds: lease.ttlSeconds, remainingTtlSeconds }));
  }
}
