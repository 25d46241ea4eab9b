import { EtcdError, EtcdErrors } from '@raftkv/api';
import { LeaseError, type Lessor } from '@raftkv/lease';
import { MvccError, type Event, type MvccStore } from '@raftkv/mvcc';
import type * as mvcc from '@raftkv/mvcc';
import type { Membership } from '../cluster/membership.js';
import type { CommittedEntry } from '@raftkv/raft-log';
import { deleteRangeFromWire, putFromWire, toNumber, txnFromWire } from './convert.js';
import { decodeInternalRequest, type InternalRequest } from './request-codec.js';

/** What applying one request produced, handed to the proposer waiting for it. */
export type ApplyResult =
  | { kind: 'put'; response: mvcc.PutResponse }
  | { kind: 'deleteRange'; response: mvcc.DeleteRangeResponse }
  | { kind: 'txn'; response: mvcc.TxnResponse }
  | { kind: 'compaction'; revision: number; physical: Promise<void> }
  | { kind: 'leaseGrant'; id: bigint; ttlSeconds: number }
  | { kind: 'leaseRevoke' }
  | { kind: 'leaseCheckpoint' }
  | { kind: 'memberAttributes' };

interface Waiter { resolve(result: ApplyResult): void; reject(err: EtcdError): void }

/** When the backend commits: etcd's --backend-batch-interval and --backend-batch-limit. */
export interface BackendCommitPolicy {
  /** Commit at most this long after the first uncommitted apply (etcd: 100 ms). */
  intervalMs: number;
  /** Commit at once when this many entries are uncommitted (etcd: 10000). */
  limitEntries: number;
}

export const DEFAULT_COMMIT_POLICY: BackendCommitPolicy = { intervalMs: 100, limitEntries: 10_000 };

function mvccErrorToEtcd(err: MvccError): EtcdError | undefined {
  switch (err.code) {
    case 'compacted': return EtcdErrors.Compacted;
    case 'future_revision': return EtcdErrors.FutureRev;
    case 'key_not_found': return EtcdErrors.KeyNotFound;
    case 'lease_not_found': return EtcdErrors.LeaseNotFound;
    default: return undefined; // 'closed': the store went away under the request
  }
}

function leaseErrorToEtcd(err: LeaseError): EtcdError | undefined {
  switch (err.code) {
    case 'LeaseNotFound': return EtcdErrors.LeaseNotFound;
    case 'LeaseExist': return EtcdErrors.LeaseExist;
    case 'LeaseTTLTooLarge': return EtcdErrors.LeaseTTLTooLarge;
    case 'TooManyLeases': return new EtcdError(8 /* RESOURCE_EXHAUSTED */, 'raftkv: too many leases');
    default: return undefined;
  }
}

/**
 * The etcd error a refusal from mvcc, the lessor or the server maps to; undefined for anything
 * else (a bug, or a closed store). Apply answers refused entries with it; the gRPC services
 * answer requests with it.
 */
export function toEtcdError(err: unknown): EtcdError | undefined {
  if (err instanceof EtcdError) return err;
  if (err instanceof MvccError) return mvccErrorToEtcd(err);
  if (err instanceof LeaseError) return leaseErrorToEtcd(err);
  return undefined;
}

/** What the server logs about an entry that could not be applied. */
export interface PoisonEntry {
  index: number;
  /** The request kind, when the entry could be decoded. */
  kind: string | undefined;
  error: string;
}

/**
 * The apply loop's state machine step: decodes committed entries and applies them, in index
 * order, to the store and the lessor, then wakes the request that proposed each one (if it was
 * proposed here and is still waiting). Refusals (compacted revision, missing key or lease) are
 * results of the entry, identical on every member. Apply never stops on what a client sent: an
 * entry that fails in any other way is logged and skipped (see `poisoned`); only a closed store
 * or a failed backend commit (local I/O) stops the server.
 */
export class Applier {
  private readonly waiters = new Map<bigint, Waiter>();
  private commitChain: Promise<void> = Promise.resolve();
  private uncommittedEntries = 0;
  private commitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: MvccStore,
    private readonly lessor: Lessor,
    private readonly membership: Membership,
    private readonly onFatal: (err: unknown) => void,
    private readonly onPoisonEntry: (entry: PoisonEntry) => void,
    private readonly policy: BackendCommitPolicy = DEFAULT_COMMIT_POLICY,
  ) {
    // Keys follow their lease through every kind of write (put, txn, delete, revoke).
    store.onEvents((events) => this.trackLeases(events));
  }

  /** Registers interest in the result of request `id` BEFORE it is proposed. */
  wait(id: bigint): Promise<ApplyResult> {
    return new Promise((resolve, reject) => this.waiters.set(id, { resolve, reject }));
  }

  /** Forgets a waiter whose request could not be proposed. */
  cancel(id: bigint): void {
    this.waiters.delete(id);
  }

  apply(entries: readonly CommittedEntry[]): void {
    for (const entry of entries) {
      let req: InternalRequest;
      try {
        req = decodeInternalRequest(entry.data);
      } catch (err) {
        // Not a request this version can read (a corrupted or future entry): the same bytes fail
        // the same way on every member, so skipping it keeps members identical and alive.
        this.poisoned(entry.index, undefined, err);
        continue;
      }
      const waiter = this.waiters.get(req.id);
      if (waiter) this.waiters.delete(req.id);
      if (entry.index <= this.store.consistentIndex && req.kind !== 'memberAttributes') {
        // Already in the backend (a replay after a restart, or an entry covered by a snapshot
        // installed here): its real outcome is unknown, so never answer with a no-op's result.
        // etcd lets such a request run into its timeout; we say the same at once.
        waiter?.reject(EtcdErrors.Timeout);
        continue;
      }
      let result: ApplyResult;
      try {
        result = this.applyOne(req, entry.index);
      } catch (err) {
        const refusal = toEtcdError(err);
        if (refusal) {
          // A refused entry still counts as applied.
          this.markApplied(entry.index);
          waiter?.reject(refusal);
          continue;
        }
        if (err instanceof MvccError && err.code === 'closed') {
          this.onFatal(err);
          return;
        }
        this.poisoned(entry.index, req.kind, err);
        waiter?.reject(EtcdErrors.Internal);
        continue;
      }
      waiter?.resolve(result);
    }
    this.uncommitted(entries.length);
  }

  /**
   * An entry that cannot be applied. Apply is deterministic, so every member fails on it in the
   * same way: recording it as applied with no effect keeps them identical, and keeps the member
   * (and its restarts, which replay the entry) alive. It is a bug to report, never a client's fault.
   */
  private poisoned(index: number, kind: string | undefined, err: unknown): void {
    this.markApplied(index);
    this.onPoisonEntry({ index, kind, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }

  private markApplied(index: number): void {
    if (index > this.store.consistentIndex) this.store.setConsistentIndex(index);
  }

  /** Something other than `apply` wrote to the backend (a membership change): commit it with the next batch. */
  noteBackendWrite(): void {
    this.uncommitted(1);
  }

  private uncommitted(entries: number): void {
    // Acknowledgements never wait for the backend: the WAL already holds the entries, and
    // replay above the consistent index redoes them after a crash. So the backend commits in
    // large batches, as etcd's does, and its syncs stay off the WAL's critical path.
    this.uncommittedEntries += entries;
    if (this.uncommittedEntries >= this.policy.limitEntries) void this.commitNow();
    else this.commitTimer ??= setTimeout(() => void this.commitNow(), this.policy.intervalMs);
  }

  private commitNow(): Promise<void> {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.uncommittedEntries > 0) {
      this.uncommittedEntries = 0;
      this.commitChain = this.commitChain.then(() => this.store.commit()).catch((err: unknown) => this.onFatal(err));
    }
    return this.commitChain;
  }

  /** Commits what is applied and resolves once every entry applied so far is in the backend. */
  flushed(): Promise<void> {
    return this.commitNow();
  }

  /** Applies an entry above the consistent index (`apply` skips the others). */
  private applyOne(req: InternalRequest, index: number): ApplyResult {
    switch (req.kind) {
      case 'put':
        this.checkLease(req.put.lease);
        return { kind: 'put', response: this.store.put(putFromWire(req.put), index) };
      case 'deleteRange':
        return { kind: 'deleteRange', response: this.store.deleteRange(deleteRangeFromWire(req.deleteRange), index) };
      case 'txn':
        return { kind: 'txn', response: this.store.txn(txnFromWire(req.txn), index) };
      case 'compaction': {
        const revision = toNumber(req.compaction.revision);
        const { done } = this.store.compact(revision, index);
        return { kind: 'compaction', revision, physical: done };
      }
      case 'leaseGrant': {
        const granted = this.lessor.grant(req.leaseGrant.ID, toNumber(req.leaseGrant.TTL));
        this.store.setConsistentIndex(index);
        return { kind: 'leaseGrant', id: granted.id, ttlSeconds: granted.ttlSeconds };
      }
      case 'leaseRevoke': {
        const keys = this.lessor.revoke(req.leaseRevoke.ID);
        // Every key of the lease goes in ONE revision: watchers see one batch of deletes.
        if (keys.length > 0) {
          this.store.txn({ compare: [], success: keys.map((key) => ({ deleteRange: { key } })), failure: [] }, index);
        } else {
          this.store.setConsistentIndex(index);
        }
        return { kind: 'leaseRevoke' };
      }
      case 'leaseCheckpoint': {
        this.lessor.applyCheckpoint(req.leaseCheckpoint.checkpoints.map((c) => ({ id: c.ID, remainingTtlSeconds: toNumber(c.remainingTTL) })));
        this.store.setConsistentIndex(index);
        return { kind: 'leaseCheckpoint' };
      }
      case 'memberAttributes': {
        // Idempotent: applied again after a restart, it writes the same attributes.
        this.membership.setAttributes(req.member.ID, req.member.name, req.member.clientURLs);
        this.markApplied(index);
        return { kind: 'memberAttributes' };
      }
    }
  }

  /** etcd refuses a put whose lease does not exist, before any other check of the put. */
  private checkLease(lease: bigint): void {
    if (lease !== 0n && this.lessor.lookup(lease) === undefined) throw EtcdErrors.LeaseNotFound;
  }

  private trackLeases(events: Event[]): void {
    for (const ev of events) {
      const before = ev.prevKv?.lease ?? 0n;
      const after = ev.type === 'put' ? ev.kv.lease : 0n;
      if (before === after) continue;
      // A revoked lease is gone before its keys are deleted: nothing to detach from.
      if (before !== 0n && this.lessor.lookup(before) !== undefined) this.lessor.detach(before, ev.kv.key);
      if (after !== 0n) this.lessor.attach(after, ev.kv.key);
    }
  }
}
