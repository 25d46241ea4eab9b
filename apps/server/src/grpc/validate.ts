// Checks made before a request is proposed, as etcd's gRPC layer makes them: the same rules, in
// the same order, failing with the same errors.
import { EtcdErrors, type EtcdError, etcdserverpb } from '@raftkv/api';

export function checkRange(r: etcdserverpb.RangeRequest): EtcdError | undefined {
  return r.key.length === 0 ? EtcdErrors.EmptyKey : undefined;
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

/** A txn's ops limit, then (after it, so the work stays linear in the limit) its duplicate keys. */
export function checkTxn(t: etcdserverpb.TxnRequest, maxTxnOps: number): EtcdError | undefined {
  const err = checkTxnOps(t, maxTxnOps);
  if (err) return err;
  try {
    collectWrites(t.success);
    collectWrites(t.failure);
  } catch (e) {
    if (e === DUPLICATE) return EtcdErrors.DuplicateKey;
    throw e;
  }
  return undefined;
}

/** [begin, end) over bytes; an empty end stands for "after every key", as in etcd's check. */
interface DeleteInterval { begin: Buffer; end: Buffer }

const DUPLICATE = Symbol('duplicate key');

/**
 * Whether a put of `key` falls in a deleted interval, with etcd's comparison: an empty end is
 * infinite, and a range end of "\0" (that means "to the end" elsewhere) compares as the string
 * "\0" here, so it never overlaps — we keep that quirk so the same txns are refused.
 */
function deleted(dels: DeleteInterval[], key: Buffer): boolean {
  for (const d of dels) {
    if (Buffer.compare(key, d.begin) < 0) continue;
    if (d.end.length === 0 || Buffer.compare(key, d.end) < 0) return true;
  }
  return false;
}

function collectWrites(ops: etcdserverpb.RequestOp[]): { puts: Set<string>; dels: DeleteInterval[] } {
  const dels: DeleteInterval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (!d) continue;
    dels.push(d.rangeEnd.length > 0
      ? { begin: d.key, end: d.rangeEnd }
      : { begin: d.key, end: Buffer.concat([d.key, Buffer.from([0])]) });
  }
  const puts = new Set<string>();
  const keyOf = (k: string) => Buffer.from(k, 'latin1');
  for (const op of ops) {
    if (!op.requestTxn) continue;
    const then = collectWrites(op.requestTxn.success);
    const otherwise = collectWrites(op.requestTxn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(dels, keyOf(k))) throw DUPLICATE;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // then and else exclude each other, so the same key in both is fine
      if (puts.has(k) && !then.puts.has(k)) throw DUPLICATE;
      if (deleted(dels, keyOf(k))) throw DUPLICATE;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!op.requestPut) continue;
    const k = op.requestPut.key.toString('latin1');
    if (puts.has(k) || deleted(dels, op.requestPut.key)) throw DUPLICATE;
    puts.add(k);
  }
  return { puts, dels };
}
