// Mapping between the wire types (bigint int64s, enums) and @raftkv/mvcc's (numbers, strings).
import { etcdserverpb, mvccpb } from '@raftkv/api';
import type * as mvcc from '@raftkv/mvcc';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** int64 from the wire as a number; out-of-range values saturate (they are far past any revision). */
export function toNumber(v: bigint): number {
  if (v > MAX) return Number.MAX_SAFE_INTEGER;
  if (v < -MAX) return -Number.MAX_SAFE_INTEGER;
  return Number(v);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const SORT_ORDERS: Record<number, mvcc.RangeRequest['sortOrder']> = {
  [etcdserverpb.RangeRequest_SortOrder.NONE]: 'none',
  [etcdserverpb.RangeRequest_SortOrder.ASCEND]: 'ascend',
  [etcdserverpb.RangeRequest_SortOrder.DESCEND]: 'descend',
};
const SORT_TARGETS: Record<number, mvcc.RangeRequest['sortTarget']> = {
  [etcdserverpb.RangeRequest_SortTarget.KEY]: 'key',
  [etcdserverpb.RangeRequest_SortTarget.VERSION]: 'version',
  [etcdserverpb.RangeRequest_SortTarget.CREATE]: 'create',
  [etcdserverpb.RangeRequest_SortTarget.MOD]: 'mod',
  [etcdserverpb.RangeRequest_SortTarget.VALUE]: 'value',
};
const COMPARE_TARGETS: Record<number, mvcc.Compare['target']> = {
  [etcdserverpb.Compare_CompareTarget.VERSION]: 'version',
  [etcdserverpb.Compare_CompareTarget.CREATE]: 'create',
  [etcdserverpb.Compare_CompareTarget.MOD]: 'mod',
  [etcdserverpb.Compare_CompareTarget.VALUE]: 'value',
  [etcdserverpb.Compare_CompareTarget.LEASE]: 'lease',
};
const COMPARE_RESULTS: Record<number, mvcc.Compare['result']> = {
  [etcdserverpb.Compare_CompareResult.EQUAL]: 'equal',
  [etcdserverpb.Compare_CompareResult.GREATER]: 'greater',
  [etcdserverpb.Compare_CompareResult.LESS]: 'less',
  [etcdserverpb.Compare_CompareResult.NOT_EQUAL]: 'not_equal',
};

export function rangeFromWire(r: etcdserverpb.RangeRequest): mvcc.RangeRequest {
  const sortOrder = SORT_ORDERS[r.sortOrder];
  return {
    key: r.key,
    rangeEnd: r.rangeEnd.length > 0 ? r.rangeEnd : undefined,
    limit: toNumber(r.limit),
    revision: toNumber(r.revision),
    // etcd 3.4 does not sort at all for an order it does not know, whatever the target.
    sortOrder: sortOrder ?? 'none',
    sortTarget: sortOrder === undefined ? 'key' : (SORT_TARGETS[r.sortTarget] ?? 'key'),
    serializable: r.serializable,
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: toNumber(r.minModRevision),
    maxModRevision: toNumber(r.maxModRevision),
    minCreateRevision: toNumber(r.minCreateRevision),
    maxCreateRevision: toNumber(r.maxCreateRevision),
  };
}

export function putFromWire(r: etcdserverpb.PutRequest): mvcc.PutRequest {
  return { key: r.key, value: r.value, lease: r.lease, prevKv: r.prevKv, ignoreValue: r.ignoreValue, ignoreLease: r.ignoreLease };
}

export function deleteRangeFromWire(r: etcdserverpb.DeleteRangeRequest): mvcc.DeleteRangeRequest {
  return { key: r.key, rangeEnd: r.rangeEnd.length > 0 ? r.rangeEnd : undefined, prevKv: r.prevKv };
}

function compareFromWire(c: etcdserverpb.Compare): mvcc.Compare {
  return {
    key: c.key,
    rangeEnd: c.rangeEnd.length > 0 ? c.rangeEnd : undefined,
    // etcd compares an unknown target as equal (a zero result) and holds an unknown result true.
    target: COMPARE_TARGETS[c.target] ?? 'none',
    result: COMPARE_RESULTS[c.result] ?? 'always',
    version: c.version === undefined ? undefined : toNumber(c.version),
    createRevision: c.createRevision === undefined ? undefined : toNumber(c.createRevision),
    modRevision: c.modRevision === undefined ? undefined : toNumber(c.modRevision),
    value: c.value,
    lease: c.lease,
  };
}

function requestOpFromWire(op: etcdserverpb.RequestOp): mvcc.RequestOp {
  if (op.requestRange) return { range: rangeFromWire(op.requestRange) };
  // The wire put has mvcc's fields as they are (putFromWire's copy would be one more object per op).
  if (op.requestPut) return { put: op.requestPut };
  if (op.requestDeleteRange) return { deleteRange: deleteRangeFromWire(op.requestDeleteRange) };
  if (op.requestTxn) return { txn: txnFromWire(op.requestTxn) };
  throw new Error('empty request op'); // validation rejects these before they are proposed
}

export function txnFromWire(t: etcdserverpb.TxnRequest): mvcc.TxnRequest {
  return {
    compare: t.compare.map(compareFromWire),
    success: t.success.map(requestOpFromWire),
    failure: t.failure.map(requestOpFromWire),
  };
}

export function keyValueToWire(kv: mvcc.KeyValue): mvccpb.KeyValue {
  return {
    key: asBuffer(kv.key),
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: asBuffer(kv.value),
    lease: kv.lease,
  };
}

/** A header with only the revision set, as etcd gives the responses nested in a txn. */
function revisionHeader(revision: number): etcdserverpb.ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: BigInt(revision), raftTerm: 0n };
}

export function rangeResponseToWire(r: mvcc.RangeResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.RangeResponse {
  return { header, kvs: r.kvs.map(keyValueToWire), more: r.more, count: BigInt(r.count) };
}

export function putResponseToWire(r: mvcc.PutResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.PutResponse {
  return { header, prevKv: r.prevKv ? keyValueToWire(r.prevKv) : undefined };
}

export function deleteRangeResponseToWire(r: mvcc.DeleteRangeResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.DeleteRangeResponse {
  return { header, deleted: BigInt(r.deleted), prevKvs: r.prevKvs.map(keyValueToWire) };
}

function responseOpToWire(op: mvcc.ResponseOp): etcdserverpb.ResponseOp {
  if ('range' in op) return { responseRange: rangeResponseToWire(op.range, revisionHeader(op.range.revision)) };
  if ('put' in op) return { responsePut: putResponseToWire(op.put, revisionHeader(op.put.revision)) };
  if ('deleteRange' in op) return { responseDeleteRange: deleteRangeResponseToWire(op.deleteRange, revisionHeader(op.deleteRange.revision)) };
  return { responseTxn: txnResponseToWire(op.txn, revisionHeader(op.txn.revision)) };
}

export function txnResponseToWire(r: mvcc.TxnResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.TxnResponse {
  return { header, succeeded: r.succeeded, responses: r.responses.map(responseOpToWire) };
}
