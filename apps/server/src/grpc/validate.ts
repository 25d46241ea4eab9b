// Checks made before a request is proposed, as etcd's gRPC layer makes them: the same rules, in
// the same order, failing with the same errors.
import { EtcdErrors, type EtcdError, etcdserverpb } from '@raftkv/api';
import { hasDuplicateWrites } from './txn-duplicates.js';

/** The values a proto enum defines (ts-proto's UNRECOGNIZED = -1 excluded). */
function knownValues(e: Record<string, string | number>): Set<number> {
  return new Set(Object.values(e).filter((v): v is number => typeof v === 'number' && v >= 0));
}

const SORT_ORDERS = knownValues(etcdserverpb.RangeRequest_SortOrder);
const SORT_TARGETS = knownValues(etcdserverpb.RangeRequest_SortTarget);

/** etcd 3.4's check of a Range: a key. Follow it with {@link checkSortOptions}. */
export function checkRange(r: etcdserverpb.RangeRequest): EtcdError | undefined {
  return r.key.length === 0 ? EtcdErrors.EmptyKey : undefined;
}

/**
 * etcd 3.4 sorts whenever the order is NONE (then ASCEND, for a non-key target), ASCEND or
 * DESCEND, and panics when it has no sorter for the target: refuse that as etcd 3.5 does. An
 * unknown order sorts nothing in 3.4, whatever the target: that stays served. Checked after all
 * of etcd 3.4's checks, so every request 3.4 refuses gets 3.4's error.
 */
export function checkSortOptions(r: etcdserverpb.RangeRequest): EtcdError | undefined {
  return !SORT_TARGETS.has(r.sortTarget) && SORT_ORDERS.has(r.sortOrder) ? EtcdErrors.InvalidSortOption : undefined;
}

function checkTxnSortOptions(t: etcdserverpb.TxnRequest): EtcdError | undefined {
  for (const op of [...t.success, ...t.failure]) {
    const err = op.requestRange ? checkSortOptions(op.requestRange) : op.requestTxn ? checkTxnSortOptions(op.requestTxn) : undefined;
    if (err) return err;
  }
  return undefined;
}

export function checkPut(r: etcdserverpb.PutRequest): EtcdError | undefined {
  if (r.key.length === 0) return EtcdErrors.EmptyKey;
  if (r.ignoreValue && r.value.length !== 0) return EtcdErrors.ValueProvided;
  if (r.ignoreLease && r.lease !== 0n) return EtcdErrors.LeaseProvided;
  return undefined;
}

export function checkDeleteRange(r: etcdserverpb.DeleteRangeRequest): EtcdError | undefined {
  return r.key.length === 0 ? EtcdErrors.EmptyKey : undefined;
}

function checkRequestOp(op: etcdserverpb.RequestOp, maxTxnOps: number): EtcdError | undefined {
  if (op.requestRange) return checkRange(op.requestRange);
  if (op.requestPut) return checkPut(op.requestPut);
  if (op.requestDeleteRange) return checkDeleteRange(op.requestDeleteRange);
  if (op.requestTxn) return checkTxnOps(op.requestTxn, maxTxnOps);
  return EtcdErrors.KeyNotFound; // an empty op: etcd answers so
}

function checkTxnOps(t: etcdserverpb.TxnRequest, maxTxnOps: number): EtcdError | undefined {
  const ops = Math.max(t.compare.length, t.success.length, t.failure.length);
  if (ops > maxTxnOps) return EtcdErrors.TooManyOps;
  for (const c of t.compare) if (c.key.length === 0) return EtcdErrors.EmptyKey;
  for (const op of t.success) {
    const err = checkRequestOp(op, maxTxnOps - ops);
    if (err) return err;
  }
  for (const op of t.failure) {
    const err = checkRequestOp(op, maxTxnOps - ops);
    if (err) return err;
  }
  return undefined;
}

/**
 * A txn's ops limit, then (after it, so the work stays linear in the limit) its duplicate keys,
 * then the sort options of its ranges (the one check etcd 3.4 lacks).
 */
export function checkTxn(t: etcdserverpb.TxnRequest, maxTxnOps: number): EtcdError | undefined {
  const err = checkTxnOps(t, maxTxnOps);
  if (err) return err;
  if (hasDuplicateWrites(t)) return EtcdErrors.DuplicateKey;
  return checkTxnSortOptions(t);
}
