import { EtcdError, EtcdErrors, type etcdserverpb } from '@raftkv/api';
import { MvccError, type MvccStore } from '@raftkv/mvcc';
import type { CommittedEntry } from '../log/replicated-log.js';
import {
  deleteRangeFromWire, putFromWire, toNumber, txnFromWire,
} from './convert.js';
import { decodeInternalRequest } from './request-codec.js';
import type * as mvcc from '@raftkv/mvcc';

/** What applying one request produced, handed to the proposer waiting for it. */
export type ApplyResult =
  | { kind: 'put'; response: mvcc.PutResponse }
  | { kind: 'deleteRange'; response: mvcc.DeleteRangeResponse }
  | { kind: 'txn'; response: mvcc.TxnResponse }
  | { kind: 'compaction'; revision: number; physical: Promise<void> };

interface Waiter { resolve(result: ApplyResult): void; reject(err: EtcdError): void }

/** When the backend commits: etcd's --backend-batch-interval and --backend-batch-limit. */
export interface BackendCommitPolicy {
  /** Commit at most this long after the first uncommitted apply (etcd: 100 ms). */
  intervalMs: number;
  /** Commit at once when this many entries are uncommitted (etcd: 10000). */
  limitEntries: number;
}

export const DEFAULT_COMMIT_POLICY: BackendCommitPolicy = { intervalMs: 100, limitEntries: 10_000 };

export function mvccErrorToEtcd(err: MvccError): EtcdError {
  switch (err.code) {
    case 'compacted': return EtcdErrors.Compacted;
    case 'future_revision': return EtcdErrors.FutureRev;
    case 'key_not_found': return EtcdErrors.KeyNotFound;
    default: throw err;
  }
}

/**
 * The apply loop's state machine step: decodes committed entries and applies them to the store
 * in index order, then wakes the request that proposed each one (if it was proposed here and is
 * still waiting). Semantic refusals (compacted revision, missing key, unknown lease) are results
 * of the entry, identical on every member; anything else is a bug and stops the server.
 */
export class Applier {
  private readonly waiters = new Map<bigint, Waiter>();
  private commitChain: Promise<void> = Promise.resolve();
  private uncommittedEntries = 0;
  private commitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: MvccStore,
    private readonly onFatal: (err: unknown) => void,
    private readonly policy: BackendCommitPolicy = DEFAULT_COMMIT_POLICY,
  ) {}

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
      const req = decodeInternalRequest(entry.data);
      const waiter = this.waiters.get(req.id);
      if (waiter) this.waiters.delete(req.id);
      let result: ApplyResult;
      try {
        result = this.applyOne(req, entry.index);
      } catch (err) {
        if (err instanceof MvccError) {
          waiter?.reject(mvccErrorToEtcd(err));
          continue;
        }
        if (err instanceof EtcdError) {
          waiter?.reject(err);
          continue;
        }
        this.onFatal(err);
        return;
      }
      waiter?.resolve(result);
    }
    // Acknowledgements never wait for the backend: the WAL already holds the entries, and
    // replay above the consistent index redoes them after a crash. So the backend commits in
    // large batches, as etcd's does, and its syncs stay off the WAL's critical path.
    this.uncommittedEntries += entries.length;
    if (this.uncommittedEntries >= this.policy.limitEntries) this.commitNow();
    else this.commitTimer ??= setTimeout(() => this.commitNow(), this.policy.intervalMs);
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

  private applyOne(req: ReturnType<typeof decodeInternalRequest>, index: number): ApplyResult {
    switch (req.kind) {
      case 'put':
        checkLeaseOfPut(req.put);
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
    }
  }
}

// No lessor exists yet, so no lease can be found: etcd refuses such a put at apply time.
function checkLeaseOfPut(put: etcdserverpb.PutRequest): void {
  if (put.lease !== 0n && !put.ignoreLease) throw EtcdErrors.LeaseNotFound;
}
