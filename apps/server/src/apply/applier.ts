import { EtcdError, EtcdErrors, etcdserverpb, type authpb } from '@raftkv/api';
import { LeaseError, type Lessor } from '@raftkv/lease';
import { MvccError, type Event, type MvccStore, type ReadPacing } from '@raftkv/mvcc';
import type * as mvcc from '@raftkv/mvcc';
import { AlarmStore } from '../alarm/alarm-store.js';
import { AuthStore, type AuthInfo } from '../auth/auth-store.js';
import { checkTxnPermission } from '../auth/txn-permission.js';
import { costTxn } from '../alarm/quota.js';
import type { Membership } from '../cluster/membership.js';
import type { CommittedEntry } from '@raftkv/raft-log';
import { deleteRangeFromWire, putFromWire, toNumber, txnFromWire } from './convert.js';
import { decodeInternalRequest, peekInternalRequest, type AuthRequest, type InternalRequest, type LogRequest } from './request-codec.js';

/** What applying one request produced, handed to the proposer waiting for it. */
export type ApplyResult =
  | { kind: 'put'; response: mvcc.PutResponse }
  | { kind: 'deleteRange'; response: mvcc.DeleteRangeResponse }
  | { kind: 'txn'; response: mvcc.TxnResponse }
  | { kind: 'compaction'; revision: number; physical: Promise<void> }
  /** `revision`: the store's as this entry applied (etcd's header); later entries of its batch apply before its answer is sent. */
  | { kind: 'leaseGrant'; id: bigint; ttlSeconds: number; revision: number }
  | { kind: 'leaseRevoke'; revision: number }
  | { kind: 'leaseCheckpoint' }
  | { kind: 'memberAttributes' }
  | { kind: 'alarm'; alarms: etcdserverpb.AlarmMember[] }
  | AuthApplyResult;

/**
 * What an applied auth request produced: the auth revision after it, and for authenticate the
 * user and (simple tokens) the token recorded at this index; for reads, what was read.
 */
export interface AuthApplyResult {
  kind: 'auth';
  op: AuthRequest['op'];
  authRevision: number;
  token?: string;
  username?: string;
  roles?: string[];
  users?: string[];
  perm?: authpb.Permission[];
}

/** An alarm type raised (its first alarm) or disarmed (its last one) by an applied entry. */
export interface AlarmChange { change: 'raised' | 'disarmed'; alarm: etcdserverpb.AlarmMember }

/** Who hears the outcome of one proposed request: its result, or the etcd error it was refused with. */
export interface ApplyWaiter { resolve(result: ApplyResult): void; reject(err: EtcdError): void }

/** When the backend commits: etcd's --backend-batch-interval and --backend-batch-limit. */
export interface BackendCommitPolicy {
  /** Commit at most this long after the first uncommitted apply (etcd: 100 ms). */
  intervalMs: number;
  /** Commit at once when this many entries are uncommitted (etcd: 10000). */
  limitEntries: number;
}

export const DEFAULT_COMMIT_POLICY: BackendCommitPolicy = { intervalMs: 100, limitEntries: 10_000 };

/**
 * How a big write (a ranged delete, a txn of many ops, a revoke of a lease with many keys, a
 * compaction's index pass: 8 keys per entry) shares the event loop: a turn (setImmediate: raft ticks and heartbeats, I/O, reads run) every this
 * many keys, about 5–10 ms of work. Writes smaller than a step are applied in one go, as before.
 */
export const WRITE_PACING: ReadPacing = {
  entriesPerStep: 2048,
  pause: () => new Promise<void>((resolve) => setImmediate(resolve)),
};

/** Txns with more ops than this (or any ranged delete) go through the stepped path; smaller ones stay on the plain one. */
const SMALL_TXN_OPS = 64;
/**
 * ...except that a txn of puts and single-key deletes only (no range, no ranged delete) stays on
 * the plain path up to this many ops: ~1–2 ms of apply, and in steps it never paused anyway (a
 * put weighs 4 of WRITE_PACING's 2048 entries), while the stepped path keeps every change for
 * the events a listener might come to want during a pause (loading keys in 100-put txns).
 */
const WRITE_ONLY_TXN_OPS = 256;

/**
 * Ops of a txn at every depth (both branches), how many are ranges, and whether one is a ranged
 * delete; stops counting past `max`.
 */
function txnSize(txn: mvcc.TxnRequest, max: number, acc = { ops: 0, reads: 0, ranged: false }): { ops: number; reads: number; ranged: boolean } {
  for (const branch of [txn.success, txn.failure]) {
    for (const op of branch) {
      if (acc.ops > max || acc.ranged) return acc;
      acc.ops++;
      if ('range' in op) {
        acc.reads++;
      } else if ('deleteRange' in op) {
        if (op.deleteRange.rangeEnd && op.deleteRange.rangeEnd.length > 0) acc.ranged = true;
      } else if ('txn' in op) {
        txnSize(op.txn, max, acc);
      }
    }
  }
  return acc;
}

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
  private readonly waiters = new Map<bigint, ApplyWaiter>();
  private commitChain: Promise<void> = Promise.resolve();
  private uncommittedEntries = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  /** Entries handed to `apply` and not applied yet: they wait for a write running in steps. */
  private queue: CommittedEntry[] = [];
  private queueHead = 0;
  /** Resolves when the write running in steps has ended (and the queue moved on). */
  private busy: Promise<void> | undefined;
  /** Whether the store's consistent index is held below a queued entry. */
  private holding = false;
  /** The cluster's alarms, in the backend's `alarm` bucket; NOSPACE and CORRUPT restrict what applies. */
  readonly alarms: AlarmStore;
  /** Users, roles and permissions, in the backend's auth buckets; checked for every client request at apply. */
  readonly auth: AuthStore;
  /**
   * Applying Authenticate on this member: records the token (simple tokens) and returns it.
   * The server points it at its token provider.
   */
  onAuthenticate: (username: string, tokenPrefix: string, index: number) => string = (_u, prefix, index) => `${prefix}.${index}`;
  /** Told when an applied entry raises or disarms an alarm type (for the log). */
  onAlarmChange: (change: AlarmChange) => void = () => {};
  /**
   * Told when a request's apply ends, with when it started (process.hrtime.bigint()): etcd's
   * slow-apply count (warnOfExpensiveRequest). Unset: nothing is timed.
   */
  onApplyFinished: ((started: bigint, kind: string) => void) | undefined;

  constructor(
    private readonly store: MvccStore,
    private readonly lessor: Lessor,
    private readonly membership: Membership,
    private readonly onFatal: (err: unknown) => void,
    private readonly onPoisonEntry: (entry: PoisonEntry) => void,
    private readonly policy: BackendCommitPolicy = DEFAULT_COMMIT_POLICY,
    private readonly writePacing: ReadPacing = WRITE_PACING,
  ) {
    this.alarms = new AlarmStore(store.bucket('alarm'));
    this.auth = new AuthStore(store);
    // Keys follow their lease through every kind of write (put, txn, delete, revoke).
    // The key's current lease comes from the lessor, not the event's prevKv: the store reads
    // previous values only for a listener that needs them (a prev_kv watcher). Without any
    // lease no key holds one and no write can attach one (a put's lease must exist), so
    // there is nothing to track and the store need not build events for it.
    store.onEvents((events) => this.trackLeases(events), { wantsPrevKv: () => false, wantsEvents: () => lessor.size > 0 });
  }

  /** Registers interest in the result of request `id` BEFORE it is proposed. */
  wait(id: bigint): Promise<ApplyResult> {
    return new Promise((resolve, reject) => this.waiters.set(id, { resolve, reject }));
  }

  /** As {@link wait}, told through `waiter` itself (no promise of its own: the proposer's object). */
  expect(id: bigint, waiter: ApplyWaiter): void {
    this.waiters.set(id, waiter);
  }

  /** Forgets a waiter whose request could not be proposed. */
  cancel(id: bigint): void {
    this.waiters.delete(id);
  }

  /**
   * Applies committed entries in index order. A big write is applied in steps across turns of
   * the event loop (see {@link WRITE_PACING}); entries given meanwhile (in this call or later
   * ones) wait in order until it ends, and the store's consistent index is held below the first
   * of them, so nothing else (a snapshot's setConsistentIndex) can make them no-ops. Commits wait
   * for the write too (mvcc), so half a write never reaches the backend.
   * Returns a promise while a write runs in steps: it resolves once every entry given so far is
   * applied (raft's applied index, and with it reads and snapshots, waits for it).
   */
  apply(entries: readonly CommittedEntry[]): Promise<void> | undefined {
    if (this.busy) {
      for (const e of entries) this.queue.push(e);
      this.holdQueued();
    } else {
      this.applyFrom(entries, 0);
    }
    return this.busy ? this.idle() : undefined;
  }

  /** Resolves once every entry handed to `apply` so far is applied (no write running in steps). */
  async idle(): Promise<void> {
    while (this.busy) await this.busy;
  }

  /** Applies `entries` from `start` on; stops at a write that goes on in steps, queueing the rest. */
  private applyFrom(entries: readonly CommittedEntry[], start: number): void {
    let i = start;
    while (i < entries.length) {
      const entry = entries[i++]!;
      const pending = this.applyEntry(entry);
      if (pending === 'stop') {
        this.uncommitted(i - start);
        return;
      }
      if (pending) {
        for (let j = i; j < entries.length; j++) this.queue.push(entries[j]!);
        this.uncommitted(i - start);
        this.holdQueued();
        this.busy = pending.then(() => this.resume());
        return;
      }
    }
    this.uncommitted(i - start);
    if (this.holding) this.holdQueued();
  }

  /** After a write in steps: applies what queued behind it. */
  private resume(): void {
    this.busy = undefined;
    const entries = this.queue;
    const head = this.queueHead;
    this.queue = [];
    this.queueHead = 0;
    // The hold stays on the first of these until they are applied (applyFrom moves or releases it).
    this.applyFrom(entries, head);
  }

  /** Keeps the store's consistent index below the first queued entry (released when none). */
  private holdQueued(): void {
    const first = this.queue.length > this.queueHead ? this.queue[this.queueHead]!.index : undefined;
    this.holding = first !== undefined;
    this.store.holdConsistentIndex(first);
  }

  /**
   * Applies one entry and answers its proposer; a promise when the entry goes on in steps
   * (it resolves once the entry is applied and answered); 'stop' when the store is closed.
   */
  private applyEntry(entry: CommittedEntry): Promise<void> | 'stop' | undefined {
    if (entry.index <= this.store.consistentIndex) {
      // Already in the backend (see below): skipped from the header, the body left undecoded.
      const head = peekInternalRequest(entry.data);
      if (head !== undefined && !head.memberAttributes) {
        const waiter = this.waiters.get(head.id);
        if (waiter) {
          this.waiters.delete(head.id);
          waiter.reject(EtcdErrors.Timeout);
        }
        return undefined;
      }
    }
    let req: LogRequest;
    try {
      req = decodeInternalRequest(entry.data);
    } catch (err) {
      // Not a request this version can read (a corrupted or future entry): the same bytes fail
      // the same way on every member, so skipping it keeps members identical and alive.
      this.poisoned(entry.index, undefined, err);
      return undefined;
    }
    const waiter = this.waiters.get(req.id);
    if (waiter) this.waiters.delete(req.id);
    if (entry.index <= this.store.consistentIndex && req.kind !== 'memberAttributes') {
      // Already in the backend (a replay after a restart, or an entry covered by a snapshot
      // installed here): its real outcome is unknown, so never answer with a no-op's result.
      // etcd lets such a request run into its timeout; we say the same at once.
      waiter?.reject(EtcdErrors.Timeout);
      return undefined;
    }
    let result: ApplyResult | Promise<ApplyResult>;
    const timed = this.onApplyFinished;
    const started = timed ? process.hrtime.bigint() : 0n;
    try {
      result = this.applyOne(req, entry.index);
    } catch (err) {
      timed?.(started, req.kind);
      return this.failed(entry.index, req.kind, waiter, err);
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => {
          timed?.(started, req.kind);
          waiter?.resolve(r);
        },
        (err: unknown) => {
          timed?.(started, req.kind);
          // The write failed half way (a bug): as for any entry that cannot be applied.
          this.failed(entry.index, req.kind, waiter, err);
        },
      );
    }
    timed?.(started, req.kind);
    waiter?.resolve(result);
    return undefined;
  }

  private failed(index: number, kind: string, waiter: ApplyWaiter | undefined, err: unknown): 'stop' | undefined {
    const refusal = toEtcdError(err);
    if (refusal) {
      // A refused entry still counts as applied.
      this.markApplied(index);
      waiter?.reject(refusal);
      return undefined;
    }
    if (err instanceof MvccError && err.code === 'closed') {
      this.onFatal(err);
      return 'stop';
    }
    this.poisoned(index, kind, err);
    waiter?.reject(EtcdErrors.Internal);
    return undefined;
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

  /**
   * Commits what is applied and resolves once every entry handed to `apply` so far is applied
   * and in the backend (a write running in steps ends first).
   */
  async flushed(): Promise<void> {
    await this.idle();
    return this.commitNow();
  }

  /**
   * Applies an entry above the consistent index (`apply` skips the others); a promise when it
   * goes on in steps.
   */
  private applyOne(req: LogRequest, index: number): ApplyResult | Promise<ApplyResult> {
    // etcd's authApplierV3: a client's request is checked against the auth store as it is at
    // this index, so a deleted user or revoked role stops requests already in the log.
    if (req.requester) this.checkPermission(req, req.requester);
    const refusal = alarmRefusal(this.alarms, req);
    if (refusal) throw refusal;
    switch (req.kind) {
      case 'put':
        this.checkLease(req.put.lease);
        return { kind: 'put', response: this.store.put(putFromWire(req.put), index) };
      case 'deleteRange': {
        const dr = deleteRangeFromWire(req.deleteRange);
        if (!dr.rangeEnd || dr.rangeEnd.length === 0) return { kind: 'deleteRange', response: this.store.deleteRange(dr, index) };
        const w = this.store.deleteRangeInSteps(dr, index, this.writePacing);
        return w.done ? { kind: 'deleteRange', response: w.response } : w.response.then((response) => ({ kind: 'deleteRange', response }));
      }
      case 'txn': {
        const txn = txnFromWire(req.txn);
        const size = txnSize(txn, WRITE_ONLY_TXN_OPS);
        const plain = !size.ranged && (size.ops <= SMALL_TXN_OPS || (size.reads === 0 && size.ops <= WRITE_ONLY_TXN_OPS));
        if (plain) return { kind: 'txn', response: this.store.txn(txn, index) };
        const w = this.store.txnInSteps(txn, index, this.writePacing);
        return w.done ? { kind: 'txn', response: w.response } : w.response.then((response) => ({ kind: 'txn', response }));
      }
      case 'compaction': {
        const revision = toNumber(req.compaction.revision);
        // The index pass in steps too (the backend deletion already runs in batches).
        const w = this.store.compactInSteps(revision, index, this.writePacing);
        if (w.done) return { kind: 'compaction', revision, physical: w.response.done };
        return w.response.then(({ done }) => ({ kind: 'compaction', revision, physical: done }));
      }
      case 'leaseGrant': {
        const granted = this.lessor.grant(req.leaseGrant.ID, toNumber(req.leaseGrant.TTL));
        this.store.setConsistentIndex(index);
        return { kind: 'leaseGrant', id: granted.id, ttlSeconds: granted.ttlSeconds, revision: this.store.currentRevision };
      }
      case 'leaseRevoke': {
        const keys = this.lessor.revoke(req.leaseRevoke.ID);
        // Every key of the lease goes in ONE revision: watchers see one batch of deletes.
        const txn: mvcc.TxnRequest = { compare: [], success: keys.map((key) => ({ deleteRange: { key } })), failure: [] };
        if (keys.length > SMALL_TXN_OPS) {
          const w = this.store.txnInSteps(txn, index, this.writePacing);
          if (!w.done) return w.response.then(() => ({ kind: 'leaseRevoke', revision: this.store.currentRevision }));
        } else if (keys.length > 0) {
          this.store.txn(txn, index);
        } else {
          this.store.setConsistentIndex(index);
        }
        return { kind: 'leaseRevoke', revision: this.store.currentRevision };
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
      case 'alarm':
        return this.applyAlarm(req.alarm, index);
      case 'auth':
        return this.applyAuth(req.auth, index);
    }
  }

  /** etcd's authApplierV3 checks, per request kind (3.4: none for compaction, lease grant, alarm). */
  private checkPermission(req: InternalRequest, ai: AuthInfo): void {
    const auth = this.auth;
    if (!auth.isEnabled) return;
    switch (req.kind) {
      case 'put':
        auth.checkPut(ai, req.put.key);
        this.checkLeasePuts(req.put.lease, ai);
        if (req.put.prevKv) auth.checkRange(ai, req.put.key);
        return;
      case 'deleteRange':
        auth.checkDeleteRange(ai, req.deleteRange.key, req.deleteRange.rangeEnd);
        if (req.deleteRange.prevKv) auth.checkRange(ai, req.deleteRange.key, req.deleteRange.rangeEnd);
        return;
      case 'txn':
        checkTxnPermission(auth, ai, req.txn);
        return;
      case 'leaseRevoke':
        this.checkLeasePuts(req.leaseRevoke.ID, ai);
        return;
      case 'auth':
        switch (req.auth.op) {
          case 'authenticate':
            return;
          case 'userGet':
            // A user may read itself; a role holder the role (etcd's UserGet/RoleGet checks).
            if (req.auth.req.name !== ai.username) auth.checkAdmin(ai);
            return;
          case 'roleGet':
            if (!auth.hasRole(ai.username, req.auth.req.role)) auth.checkAdmin(ai);
            return;
          default:
            auth.checkAdmin(ai);
        }
        return;
      default:
    }
  }

  /** etcd's checkLeasePuts: revoking (or putting with) a lease needs write permission on each of its keys. */
  private checkLeasePuts(lease: bigint, ai: AuthInfo): void {
    if (lease === 0n || this.lessor.lookup(lease) === undefined) return;
    for (const key of this.lessor.timeToLive(lease, { keys: true }).keys) this.auth.checkPut(ai, key);
  }

  private applyAuth(ar: AuthRequest, index: number): AuthApplyResult {
    const auth = this.auth;
    const result: AuthApplyResult = { kind: 'auth', op: ar.op, authRevision: 0 };
    switch (ar.op) {
      case 'authEnable': auth.enable(); break;
      case 'authDisable': auth.disable(); break;
      case 'authenticate': {
        // etcd's authStore.Authenticate: the password was checked before proposing.
        if (!auth.isEnabled) throw EtcdErrors.AuthNotEnabled;
        const user = auth.user(ar.req.name);
        if (!user || user.options?.noPassword) throw EtcdErrors.AuthFailed;
        result.username = ar.req.name;
        result.token = this.onAuthenticate(ar.req.name, ar.req.password, index);
        break;
      }
      case 'userAdd': auth.userAdd(ar.req.name, ar.req.hashedPassword, ar.req.options?.noPassword ?? false); break;
      case 'userDelete': auth.userDelete(ar.req.name); break;
      case 'userChangePassword': auth.userChangePassword(ar.req.name, ar.req.hashedPassword); break;
      case 'userGrantRole': auth.userGrantRole(ar.req.user, ar.req.role); break;
      case 'userRevokeRole': auth.userRevokeRole(ar.req.name, ar.req.role); break;
      case 'userGet': result.roles = auth.userGet(ar.req.name); break;
      case 'userList': result.users = auth.userList(); break;
      case 'roleAdd': auth.roleAdd(ar.req.name); break;
      case 'roleDelete': auth.roleDelete(ar.req.role); break;
      case 'roleGrantPermission':
        auth.roleGrantPermission(ar.req.name, ar.req.perm);
        break;
      case 'roleRevokePermission': auth.roleRevokePermission(ar.req.role, ar.req.key, ar.req.rangeEnd); break;
      case 'roleGet': result.perm = auth.roleGet(ar.req.role); break;
      case 'roleList': result.roles = auth.roleList(); break;
    }
    result.authRevision = auth.revision;
    this.markApplied(index);
    return result;
  }

  /** etcd's applierV3backend.Alarm: the response lists the alarm raised or cleared (none if nothing changed). */
  private applyAlarm(ar: etcdserverpb.AlarmRequest, index: number): ApplyResult {
    const { AlarmRequest_AlarmAction: Action } = etcdserverpb;
    let alarms: etcdserverpb.AlarmMember[] = [];
    switch (ar.action) {
      case Action.ACTIVATE: {
        const r = this.alarms.activate(ar.memberID, ar.alarm);
        alarms = [r.alarm];
        if (r.first) this.onAlarmChange({ change: 'raised', alarm: r.alarm });
        break;
      }
      case Action.DEACTIVATE: {
        const r = this.alarms.deactivate(ar.memberID, ar.alarm);
        if (r) alarms = [r.alarm];
        if (r?.last) this.onAlarmChange({ change: 'disarmed', alarm: r.alarm });
        break;
      }
      default:
        alarms = this.alarms.get(ar.alarm);
    }
    this.markApplied(index);
    return { kind: 'alarm', alarms };
  }

  /** etcd refuses a put whose lease does not exist, before any other check of the put. */
  private checkLease(lease: bigint): void {
    if (lease !== 0n && this.lessor.lookup(lease) === undefined) throw EtcdErrors.LeaseNotFound;
  }

  private trackLeases(events: Event[]): void {
    for (const ev of events) {
      const after = ev.type === 'put' ? ev.kv.lease : 0n;
      // A revoked lease released its keys before they were deleted: they hold none here.
      const before = this.lessor.leaseOfKey(ev.kv.key);
      if (before === after) continue;
      if (before !== 0n) this.lessor.detach(before, ev.kv.key);
      if (after !== 0n) this.lessor.attach(after, ev.kv.key);
    }
  }
}

/**
 * What an active alarm refuses, deterministically at apply (etcd's applierV3Corrupt and
 * applierV3Capped): CORRUPT refuses every write, compaction and lease change; NOSPACE refuses
 * puts, txns that put and lease grants, so deletes, compaction, revokes and alarm changes still
 * apply: that is how space is recovered.
 */
export function alarmRefusal(alarms: AlarmStore, req: InternalRequest): EtcdError | undefined {
  const { AlarmType } = etcdserverpb;
  if (alarms.has(AlarmType.CORRUPT)) {
    switch (req.kind) {
      case 'put': case 'deleteRange': case 'txn': case 'compaction': case 'leaseGrant': case 'leaseRevoke':
        return EtcdErrors.Corrupt;
      default:
    }
  }
  if (alarms.has(AlarmType.NOSPACE)) {
    if (req.kind === 'put' || req.kind === 'leaseGrant') return EtcdErrors.NoSpace;
    if (req.kind === 'txn' && costTxn(req.txn) > 0) return EtcdErrors.NoSpace;
  }
  return undefined;
}
