// Keys, namespaces, the KV requests and results, and the txn builder.
import { etcdserverpb, type mvccpb } from '@raftkv/api';

/** A key or value: a string (UTF-8) or bytes. */
export type Bytes = string | Uint8Array;

export type KeyValue = mvccpb.KeyValue;
export type ResponseHeader = etcdserverpb.ResponseHeader;

export const toBuf = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b) : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const EMPTY = Buffer.alloc(0);
const ZERO = Buffer.from([0]);

/** The smallest key after every key that starts with `prefix` ('\0' = no end, for an empty or all-0xff prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return ZERO;
}

/** Which keys a call covers: one key (default), a prefix, a range [key, rangeEnd), or every key ≥ key. */
export interface KeySelector {
  /** Every key starting with the key (an empty key: every key). */
  prefix?: boolean;
  /** Every key in [key, rangeEnd). */
  rangeEnd?: Bytes;
  /** Every key ≥ key. */
  fromKey?: boolean;
}

/** Keys as the server sees them: the client's namespace in front (etcd's clientv3/namespace layout). */
export class Namespace {
  constructor(readonly prefix: Buffer) {}

  key(k: Bytes): Buffer {
    const b = toBuf(k);
    return this.prefix.length === 0 ? b : Buffer.concat([this.prefix, b]);
  }

  /** The server's [key, rangeEnd) for a user's key and selector. */
  range(k: Bytes, sel: KeySelector = {}): { key: Buffer; rangeEnd: Buffer } {
    const user = toBuf(k);
    let end: Buffer = EMPTY;
    if (sel.prefix) end = prefixEnd(user);
    else if (sel.fromKey) end = ZERO;
    else if (sel.rangeEnd !== undefined) end = toBuf(sel.rangeEnd);
    if (this.prefix.length === 0) {
      // clientv3: an empty key with a prefix or from-key means every key: ["\0", "\0").
      if (user.length === 0 && (sel.prefix || sel.fromKey)) return { key: ZERO, rangeEnd: ZERO };
      return { key: user, rangeEnd: end };
    }
    const key = this.key(user);
    // "\0" (to the end of the key space) stops at the end of the namespace.
    if (end.length === 1 && end[0] === 0) return { key, rangeEnd: prefixEnd(this.prefix) };
    return { key, rangeEnd: end.length === 0 ? EMPTY : this.key(end) };
  }

  strip(kv: KeyValue): KeyValue {
    if (this.prefix.length === 0) return kv;
    return { ...kv, key: kv.key.subarray(this.prefix.length) };
  }

  stripAll(kvs: KeyValue[]): KeyValue[] {
    return this.prefix.length === 0 ? kvs : kvs.map((kv) => this.strip(kv));
  }
}

export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';
export type SortOrder = 'none' | 'ascend' | 'descend';

export interface RangeOptions extends KeySelector {
  /** At most this many keys (0: no limit). */
  limit?: number | bigint;
  /** Read the key space as of this revision (0: the latest). */
  revision?: number | bigint;
  sort?: { target?: SortTarget; order?: SortOrder };
  /** Read the member's local state, without a round through the leader (may be stale). */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number | bigint;
  maxModRevision?: number | bigint;
  minCreateRevision?: number | bigint;
  maxCreateRevision?: number | bigint;
}

export interface PutOptions {
  /** Attach the key to this lease (its deletion deletes the key). */
  lease?: bigint;
  /** Return the previous key-value. */
  prevKv?: boolean;
  /** Keep the current value (etcd's --ignore-value); the key must exist. */
  ignoreValue?: boolean;
  /** Keep the current lease (etcd's --ignore-lease); the key must exist. */
  ignoreLease?: boolean;
}

export interface DeleteOptions extends KeySelector {
  prevKv?: boolean;
}

export interface RangeResult {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** More keys matched than `limit` returned. */
  more: boolean;
  /** How many keys matched. */
  count: bigint;
}
export interface PutResult { header: ResponseHeader; prevKv: KeyValue | undefined }
export interface DeleteResult { header: ResponseHeader; deleted: bigint; prevKvs: KeyValue[] }
export type OpResult =
  | ({ type: 'range' } & RangeResult)
  | ({ type: 'put' } & PutResult)
  | ({ type: 'delete' } & DeleteResult)
  | ({ type: 'txn' } & TxnResult);
export interface TxnResult { header: ResponseHeader; succeeded: boolean; responses: OpResult[] }

const big = (v: number | bigint | undefined): bigint => (v === undefined ? 0n : BigInt(v));
const sortTargets: Record<SortTarget, etcdserverpb.RangeRequest_SortTarget> = {
  key: etcdserverpb.RangeRequest_SortTarget.KEY, version: etcdserverpb.RangeRequest_SortTarget.VERSION,
  create: etcdserverpb.RangeRequest_SortTarget.CREATE, mod: etcdserverpb.RangeRequest_SortTarget.MOD,
  value: etcdserverpb.RangeRequest_SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, etcdserverpb.RangeRequest_SortOrder> = {
  none: etcdserverpb.RangeRequest_SortOrder.NONE, ascend: etcdserverpb.RangeRequest_SortOrder.ASCEND,
  descend: etcdserverpb.RangeRequest_SortOrder.DESCEND,
};

export function rangeRequest(ns: Namespace, key: Bytes, o: RangeOptions = {}): etcdserverpb.RangeRequest {
  const { key: k, rangeEnd } = ns.range(key, o);
  return etcdserverpb.RangeRequest.fromPartial({
    key: k, rangeEnd, limit: big(o.limit), revision: big(o.revision),
    sortTarget: sortTargets[o.sort?.target ?? 'key'],
    // etcd: a sort target without an order sorts ascending.
    sortOrder: sortOrders[o.sort?.order ?? (o.sort?.target !== undefined ? 'ascend' : 'none')],
    serializable: o.serializable ?? false, keysOnly: o.keysOnly ?? false, countOnly: o.countOnly ?? false,
    minModRevision: big(o.minModRevision), maxModRevision: big(o.maxModRevision),
    minCreateRevision: big(o.minCreateRevision), maxCreateRevision: big(o.maxCreateRevision),
  });
}

export function putRequest(ns: Namespace, key: Bytes, value: Bytes, o: PutOptions = {}): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({
    key: ns.key(key), value: toBuf(value), lease: o.lease ?? 0n, prevKv: o.prevKv ?? false,
    ignoreValue: o.ignoreValue ?? false, ignoreLease: o.ignoreLease ?? false,
  });
}

export function deleteRequest(ns: Namespace, key: Bytes, o: DeleteOptions = {}): etcdserverpb.DeleteRangeRequest {
  const { key: k, rangeEnd } = ns.range(key, o);
  return etcdserverpb.DeleteRangeRequest.fromPartial({ key: k, rangeEnd, prevKv: o.prevKv ?? false });
}

const header = (h: ResponseHeader | undefined): ResponseHeader => h ?? { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

export const rangeResult = (ns: Namespace, r: etcdserverpb.RangeResponse): RangeResult =>
  ({ header: header(r.header), kvs: ns.stripAll(r.kvs), more: r.more, count: r.count });
export const putResult = (ns: Namespace, r: etcdserverpb.PutResponse): PutResult =>
  ({ header: header(r.header), prevKv: r.prevKv === undefined ? undefined : ns.strip(r.prevKv) });
export const deleteResult = (ns: Namespace, r: etcdserverpb.DeleteRangeResponse): DeleteResult =>
  ({ header: header(r.header), deleted: r.deleted, prevKvs: ns.stripAll(r.prevKvs) });
export function txnResult(ns: Namespace, r: etcdserverpb.TxnResponse): TxnResult {
  return {
    header: header(r.header),
    succeeded: r.succeeded,
    responses: r.responses.map((op): OpResult => {
      if (op.responseRange) return { type: 'range', ...rangeResult(ns, op.responseRange) };
      if (op.responsePut) return { type: 'put', ...putResult(ns, op.responsePut) };
      if (op.responseDeleteRange) return { type: 'delete', ...deleteResult(ns, op.responseDeleteRange) };
      return { type: 'txn', ...txnResult(ns, op.responseTxn!) };
    }),
  };
}

// ---- txn ----

/** One operation of a txn; build with {@link Op}. */
export type TxnOp =
  | { readonly type: 'get'; readonly key: Bytes; readonly options: RangeOptions }
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes; readonly options: PutOptions }
  | { readonly type: 'delete'; readonly key: Bytes; readonly options: DeleteOptions }
  | { readonly type: 'txn'; readonly compare: Compare[]; readonly success: TxnOp[]; readonly failure: TxnOp[] };

/** Builders of txn operations. */
export const Op = {
  get: (key: Bytes, options: RangeOptions = {}): TxnOp => ({ type: 'get', key, options }),
  put: (key: Bytes, value: Bytes, options: PutOptions = {}): TxnOp => ({ type: 'put', key, value, options }),
  delete: (key: Bytes, options: DeleteOptions = {}): TxnOp => ({ type: 'delete', key, options }),
  /** A nested txn (etcd 3.3+). */
  txn: (compare: Compare[], success: TxnOp[], failure: TxnOp[] = []): TxnOp => ({ type: 'txn', compare, success, failure }),
};

export type CompareOperator = '=' | '!=' | '<' | '>';
export type CompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';

/** One condition of a txn; build with {@link Cmp}. */
export interface Compare {
  readonly key: Bytes;
  readonly target: CompareTarget;
  readonly operator: CompareOperator;
  readonly operand: Bytes | number | bigint;
  /** Compare every key of [key, rangeEnd) (etcd 3.3+). */
  readonly selector?: KeySelector | undefined;
}

/**
 * Builders of txn conditions, as etcd's `clientv3.Compare`. A missing key has version,
 * create and mod revision 0 and an empty value.
 *
 * @example Cmp.createRevision('lock/a', '=', 0)   // the key does not exist
 */
export const Cmp = {
  value: (key: Bytes, operator: CompareOperator, value: Bytes, selector?: KeySelector): Compare => ({ key, target: 'value', operator, operand: value, selector }),
  version: (key: Bytes, operator: CompareOperator, version: number | bigint, selector?: KeySelector): Compare => ({ key, target: 'version', operator, operand: version, selector }),
  createRevision: (key: Bytes, operator: CompareOperator, revision: number | bigint, selector?: KeySelector): Compare => ({ key, target: 'create', operator, operand: revision, selector }),
  modRevision: (key: Bytes, operator: CompareOperator, revision: number | bigint, selector?: KeySelector): Compare => ({ key, target: 'mod', operator, operand: revision, selector }),
  lease: (key: Bytes, operator: CompareOperator, lease: bigint, selector?: KeySelector): Compare => ({ key, target: 'lease', operator, operand: lease, selector }),
};

const compareResults: Record<CompareOperator, etcdserverpb.Compare_CompareResult> = {
  '=': etcdserverpb.Compare_CompareResult.EQUAL, '!=': etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  '<': etcdserverpb.Compare_CompareResult.LESS, '>': etcdserverpb.Compare_CompareResult.GREATER,
};

function compareRequest(ns: Namespace, c: Compare): etcdserverpb.Compare {
  const { key, rangeEnd } = ns.range(c.key, c.selector);
  const base = { key, rangeEnd, result: compareResults[c.operator] };
  const n = (): bigint => BigInt(c.operand as number | bigint);
  switch (c.target) {
    case 'value': return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VALUE, value: toBuf(c.operand as Bytes) });
    case 'version': return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VERSION, version: n() });
    case 'create': return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.CREATE, createRevision: n() });
    case 'mod': return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.MOD, modRevision: n() });
    case 'lease': return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.LEASE, lease: n() });
  }
}

function requestOp(ns: Namespace, op: TxnOp): etcdserverpb.RequestOp {
  switch (op.type) {
    case 'get': return { requestRange: rangeRequest(ns, op.key, op.options) };
    case 'put': return { requestPut: putRequest(ns, op.key, op.value, op.options) };
    case 'delete': return { requestDeleteRange: deleteRequest(ns, op.key, op.options) };
    case 'txn': return { requestTxn: txnRequest(ns, op.compare, op.success, op.failure) };
  }
}

export function txnRequest(ns: Namespace, compare: Compare[], success: TxnOp[], failure: TxnOp[]): etcdserverpb.TxnRequest {
  return etcdserverpb.TxnRequest.fromPartial({
    compare: compare.map((c) => compareRequest(ns, c)),
    success: success.map((o) => requestOp(ns, o)),
    failure: failure.map((o) => requestOp(ns, o)),
  });
}

/** True when no branch of the txn writes: it may be retried on another member. */
export function txnReadOnly(ops: TxnOp[]): boolean {
  return ops.every((o) => o.type === 'get' || (o.type === 'txn' && txnReadOnly(o.success) && txnReadOnly(o.failure)));
}
