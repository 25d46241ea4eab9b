import { EtcdErrors, etcdserverpb } from '@raftkv/api';
import type { Logger } from '../logger.js';
import type { AlarmStore } from './alarm-store.js';

/** etcd's default backend quota (DefaultQuotaBytes): 2 GiB. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;
/** etcd's largest recommended quota (MaxQuotaBytes): 8 GiB; a larger one is warned about. */
export const MAX_QUOTA_BYTES = 8 * 1024 ** 3;
/**
 * How stale the size a request is admitted on may be. Measuring costs about 50 µs (LMDB stats
 * of three trees), too much for every put; etcd's backend size is refreshed at each commit
 * (100 ms) too. A refusal always measures afresh.
 */
export const SIZE_REFRESH_MS = 100;
/** etcd's estimates of what a lease and a key's metadata cost in the backend. */
const LEASE_OVERHEAD_BYTES = 64;
const KV_OVERHEAD_BYTES = 256;

/** The requests a quota charges (etcd's Cost): everything else costs nothing. */
export type QuotaRequest =
  | { kind: 'put'; put: etcdserverpb.PutRequest }
  | { kind: 'txn'; txn: etcdserverpb.TxnRequest }
  | { kind: 'leaseGrant' };

function costPut(put: etcdserverpb.PutRequest): number {
  return KV_OVERHEAD_BYTES + put.key.length + put.value.length;
}

/**
 * etcd 3.4's costTxn: the puts of the dearer branch, top level only (a nested txn's puts are
 * not counted, as in etcd). 0 for a txn without puts, which the capped cluster still accepts.
 */
export function costTxn(txn: etcdserverpb.TxnRequest): number {
  const branch = (ops: etcdserverpb.RequestOp[]) => ops.reduce((sum, op) => sum + (op.requestPut ? costPut(op.requestPut) : 0), 0);
  return Math.max(branch(txn.success), branch(txn.failure));
}

export function requestCost(req: QuotaRequest): number {
  switch (req.kind) {
    case 'put': return costPut(req.put);
    case 'txn': return costTxn(req.txn);
    case 'leaseGrant': return LEASE_OVERHEAD_BYTES;
  }
}

/** The effective quota of --quota-backend-bytes: 0 is etcd's default, a negative value disables it. */
export function effectiveQuotaBytes(flag: number): number {
  if (flag < 0) return Infinity;
  return flag === 0 ? DEFAULT_QUOTA_BYTES : flag;
}

/** etcd's Available: a request that costs nothing always fits; others if size + cost stays below the quota. */
export function fitsQuota(sizeBytes: number, cost: number, quotaBytes: number): boolean {
  return cost === 0 || sizeBytes + cost < quotaBytes;
}

/** go-humanize's Bytes (SI units), as etcd prints sizes in its logs: "2.1 GB", "17 MB". */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${units[e]}`;
}

export interface QuotaGuardParts {
  /** The --quota-backend-bytes flag as given. */
  quotaFlagBytes: number;
  /** The backend's size as the quota counts it (bytes of live LMDB pages: freed pages are reused). */
  sizeBytes(): number;
  /** Revisions compaction could drop: the current minus the compacted revision. */
  compactableRevisions(): number;
  alarms: AlarmStore;
  memberId: bigint;
  /** Proposes ACTIVATE NOSPACE for this member through the log. */
  raiseNoSpace(): Promise<unknown>;
  log: Logger;
  /** Milliseconds of a monotonic clock; default performance.now. */
  nowMs?: () => number;
}

/**
 * etcd's quotaAlarmer: checked before a put, a txn or a lease grant is proposed. A request
 * that does not fit raises this member's NOSPACE alarm through the log (which caps the whole
 * cluster: see the applier) and is refused with `etcdserver: mvcc: database space exceeded`.
 */
export class QuotaGuard {
  readonly quotaBytes: number;
  private readonly nowMs: () => number;
  private sizeAt = -Infinity;
  private size = 0;
  /** The ACTIVATE proposed and not applied yet: requests refused meanwhile wait for it rather than propose another. */
  private raising: Promise<void> | undefined;

  constructor(private readonly parts: QuotaGuardParts) {
    this.nowMs = parts.nowMs ?? (() => performance.now());
    this.quotaBytes = effectiveQuotaBytes(parts.quotaFlagBytes);
    const { log, quotaFlagBytes } = parts;
    if (quotaFlagBytes < 0) {
      log.info('disabled backend quota', { 'quota-name': 'kv', 'quota-size-bytes': quotaFlagBytes });
      return;
    }
    if (quotaFlagBytes > MAX_QUOTA_BYTES) {
      log.warn('quota exceeds the maximum value', {
        'quota-name': 'kv', 'quota-size-bytes': quotaFlagBytes, 'quota-size': humanizeBytes(quotaFlagBytes),
        'quota-maximum-size-bytes': MAX_QUOTA_BYTES, 'quota-maximum-size': humanizeBytes(MAX_QUOTA_BYTES),
      });
    }
    log.info(quotaFlagBytes === 0 ? 'enabled backend quota with default value' : 'enabled backend quota', {
      'quota-name': 'kv', 'quota-size-bytes': this.quotaBytes, 'quota-size': humanizeBytes(this.quotaBytes),
    });
  }

  /** etcd's Available, on a size at most {@link SIZE_REFRESH_MS} old when it fits, measured afresh when not. */
  available(req: QuotaRequest): boolean {
    if (this.quotaBytes === Infinity) return true;
    const cost = requestCost(req);
    if (fitsQuota(this.sizeBytes(false), cost, this.quotaBytes)) return true;
    return fitsQuota(this.sizeBytes(true), cost, this.quotaBytes);
  }

  private sizeBytes(fresh: boolean): number {
    const now = this.nowMs();
    if (fresh || now - this.sizeAt >= SIZE_REFRESH_MS) {
      this.size = this.parts.sizeBytes();
      this.sizeAt = now;
    }
    return this.size;
  }

  /**
   * Raises NOSPACE for this member (once: etcd proposes it again for every refused request)
   * and rejects with NoSpace. The log line says what recovery takes.
   */
  async refuse(): Promise<never> {
    const { alarms, memberId } = this.parts;
    const raised = alarms.get(etcdserverpb.AlarmType.NOSPACE).some((m) => m.memberID === memberId);
    if (!raised) {
      this.raising ??= this.raise().finally(() => { this.raising = undefined; });
      await this.raising;
    }
    throw EtcdErrors.NoSpace;
  }

  private async raise(): Promise<void> {
    const { log } = this.parts;
    const size = this.sizeBytes(true);
    log.warn('backend quota exceeded; raising the NOSPACE alarm (writes are refused until it is disarmed)', {
      'quota-size-bytes': this.quotaBytes, 'quota-size': humanizeBytes(this.quotaBytes),
      'backend-size-in-use-bytes': size, 'backend-size-in-use': humanizeBytes(size),
      'compactable-revisions': this.parts.compactableRevisions(),
      recovery: 'etcdctl compact <revision> --physical; etcdctl alarm disarm (raftkv reuses the pages compaction frees: defrag only shrinks the file)',
    });
    await this.parts.raiseNoSpace().catch((err: unknown) => log.warn('raising the NOSPACE alarm failed', { error: String(err) }));
  }
}
