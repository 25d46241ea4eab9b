import { compareKV } from './compare.js';
import { MvccError } from './errors.js';
import type { Compare, RequestOp, TxnRequest } from './kv.js';
import type { KeyValue } from './key-value.js';
import { checkOptionalRevision } from './range-plan.js';
import { rangeEndOf } from './stepped-write.js';
import { keyString, type RangeEnd, type TreeIndex } from './tree-index.js';

const EMPTY = new Uint8Array(0);

/** What a txn's compares and checks read of the store, at its current revision. */
export interface TxnCheckView {
  readonly index: TreeIndex;
  readonly currentRev: number;
  readonly compactMainRev: number;
  readonly leaseExists: ((lease: bigint) => boolean) | undefined;
  /** The keys of [key, rangeEnd) at the current revision, with their values. */
  keysNow(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyValue[];
}

/**
 * A txn's puts and deletes so far, newest last: whether a key exists at a point of the txn. Only
 * a put with ignoreValue/ignoreLease asks, so the ops wait in `pending` (no key string, no object
 * per op: a bulk load's 100-put txn asks nothing) and are turned into `keys` when one does.
 */
interface Overlay {
  keys: Array<{ put?: string; del?: [string, RangeEnd] }>;
  pending: RequestOp[];
}

/**
 * Evaluates the compares of `req` and of every nested txn on the chosen branches, against
 * the state before the txn, appending each outcome to `path` in the order the txn runs them.
 */
export function compareToPath(view: TxnCheckView, req: TxnRequest, path: boolean[]): void {
  const ok = req.compare.every((c) => compareHolds(view, c));
  path.push(ok);
  for (const op of ok ? req.success : req.failure) {
    if ('txn' in op) compareToPath(view, op.txn, path);
  }
}

function compareHolds(view: TxnCheckView, c: Compare): boolean {
  const kvs = view.keysNow(c.key, c.rangeEnd);
  if (kvs.length === 0) {
    // No key: a value compare always fails (a missing value cannot be expressed).
    if (c.target === 'value') return false;
    return compareKV(c, { key: c.key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n });
  }
  return kvs.every((kv) => compareKV(c, kv));
}

/**
 * etcd's checkRequests over the branches `path` chose, one pass at a time ('put' before
 * 'range', as etcd: a missing key wins over a compacted revision). One addition: a put with
 * ignoreValue/ignoreLease must find its key both before the txn (etcd's check) and at its own
 * point in the txn (where etcd would panic mid-apply).
 * @throws MvccError `key_not_found`, `lease_not_found`, `future_revision`, `compacted`.
 */
export function checkTxn(view: TxnCheckView, req: TxnRequest, path: boolean[], pass: 'put' | 'range'): void {
  checkBranch(view, req, path, { i: 0 }, { keys: [], pending: [] }, pass);
}

function checkBranch(view: TxnCheckView, req: TxnRequest, path: boolean[], pos: { i: number }, overlay: Overlay, pass: 'put' | 'range'): void {
  const ok = path[pos.i++]!;
  for (const op of ok ? req.success : req.failure) {
    if ('txn' in op) {
      checkBranch(view, op.txn, path, pos, overlay, pass);
    } else if ('put' in op) {
      if (pass !== 'put') continue;
      if (op.put.ignoreValue || op.put.ignoreLease) {
        const ks = keyString(op.put.key);
        if (!view.index.get(ks, view.currentRev) || !existsAfter(view, ks, overlay)) throw new MvccError('key_not_found');
      }
      const lease = op.put.lease ?? 0n;
      if (lease !== 0n && view.leaseExists && !view.leaseExists(lease)) throw new MvccError('lease_not_found');
      overlay.pending.push(op);
    } else if ('deleteRange' in op) {
      overlay.pending.push(op);
    } else if ('range' in op && pass === 'range') {
      const rev = checkOptionalRevision(op.range.revision, 'revision');
      if (rev > view.currentRev) throw new MvccError('future_revision');
      if (rev !== 0 && rev < view.compactMainRev) throw new MvccError('compacted', view.compactMainRev);
    }
  }
}

function existsAfter(view: TxnCheckView, ks: string, overlay: Overlay): boolean {
  const keys = overlay.keys;
  for (const op of overlay.pending) {
    if ('put' in op) keys.push({ put: keyString(op.put.key) });
    else if ('deleteRange' in op) keys.push({ del: [keyString(op.deleteRange.key), rangeEndOf(op.deleteRange.rangeEnd)] });
  }
  overlay.pending.length = 0;
  for (let i = keys.length - 1; i >= 0; i--) {
    const o = keys[i]!;
    if (o.put === ks) return true;
    if (o.del && inRange(ks, o.del[0], o.del[1])) return false;
  }
  return view.index.get(ks, view.currentRev) !== undefined;
}

function inRange(k: string, key: string, end: RangeEnd): boolean {
  if (end === undefined) return k === key;
  return k >= key && (end === null || k < end);
}

/** Whether a txn only reads, in every branch at every depth. */
export function isReadOnlyTxn(req: TxnRequest): boolean {
  const readOnly = (ops: RequestOp[]): boolean => ops.every((op) => 'range' in op || ('txn' in op && isReadOnlyTxn(op.txn)));
  return readOnly(req.success) && readOnly(req.failure);
}
