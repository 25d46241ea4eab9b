import type { EtcdError, etcdserverpb } from '@raftkv/api';
import type { AuthInfo } from '../auth/auth-store.js';
import { checkTxnPermission } from '../auth/txn-permission.js';
import {
  deleteRangeResponseToWire, putResponseToWire, rangeFromWire, txnFromWire, txnResponseToWire,
} from '../apply/convert.js';
import type { PutResponse, TxnResponse } from '@raftkv/mvcc';
import type { ServerCore } from '../server-core.js';
import { encodeRangeResponse, encodeSmallRangeResponse } from './range-response.js';
import { READ_PACING } from './read-pacing.js';
import { unary, type UnaryCall } from './unary.js';
import { WriteResponses } from './write-responses.js';
import { checkDeleteRange, checkPut, checkRange, checkSortOptions, checkTxn } from './validate.js';

function reject(err: EtcdError | undefined): void {
  if (err) throw err;
}

/** etcd's isTxnSerializable: every op of both branches is a range that asked for a serializable read. */
function isSerializableTxn(req: etcdserverpb.TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.requestRange?.serializable === true);
}

/**
 * mvcc's isReadOnlyTxn on the wire form, so a write txn is not converted twice (here, then at
 * apply). An op is taken as convert.ts's requestOpFromWire takes it: a range if it has one.
 */
export function isReadOnlyWireTxn(req: etcdserverpb.TxnRequest): boolean {
  const readOnly = (op: etcdserverpb.RequestOp): boolean => op.requestRange !== undefined ||
    (!op.requestPut && !op.requestDeleteRange && op.requestTxn !== undefined && isReadOnlyWireTxn(op.requestTxn));
  return req.success.every(readOnly) && req.failure.every(readOnly);
}

/** The KV service: linearizable reads after a ReadIndex, serializable ones straight from mvcc, writes through the log. */
export function kvService(core: ServerCore): etcdserverpb.KVServer {
  const authn = core.authenticator;
  const responses = new WriteResponses(core.clusterId, core.self.id);
  const putAnswer = ({ response: res }: { response: PutResponse }): etcdserverpb.PutResponse => {
    // Without prev_kv (nearly every put) the answer is encoded by hand, framed (write-responses.ts).
    if (res.prevKv === undefined) return responses.put(res.revision, core.log.term) as unknown as etcdserverpb.PutResponse;
    return putResponseToWire(res, core.header(res.revision));
  };
  // A txn of puts without prev_kv (a bulk load) is encoded by hand, framed, as put's answer.
  const txnAnswer = ({ response: res }: { response: TxnResponse }): etcdserverpb.TxnResponse =>
    (responses.txnOfPuts(res.revision, core.log.term, res.succeeded, res.responses) as unknown as etcdserverpb.TxnResponse | undefined) ??
    txnResponseToWire(res, core.header(res.revision));
  const readTxn = async (req: etcdserverpb.TxnRequest, call: UnaryCall): Promise<etcdserverpb.TxnResponse> => {
    const txn = txnFromWire(req);
    if (!isSerializableTxn(req)) await core.linearizableRead();
    const res = await authn.serialized(call, (ai) => { if (core.auth.isEnabled) checkTxnPermission(core.auth, ai, req); },
      () => core.store.readTxn(txn));
    return txnResponseToWire(res, core.header(res.revision));
  };
  return {
    range: unary(async (req: etcdserverpb.RangeRequest, call) => {
      reject(checkRange(req) ?? checkSortOptions(req));
      if (!req.serializable) await core.linearizableRead();
      const check = (ai: AuthInfo) => core.auth.checkRange(ai, req.key, req.rangeEnd);
      if (req.rangeEnd.length === 0) {
        // One key: at most one KV, read and encoded at once (no steps, no pacing promises).
        const one = await authn.serialized(call, check, () => core.store.range(rangeFromWire(req)));
        return encodeSmallRangeResponse(one, responses.header(one.revision, core.log.term)) as unknown as etcdserverpb.RangeResponse;
      }
      // Big ranges are read and encoded in steps (see range-response.ts for the serializer).
      const res = await authn.serialized(call, check, () => core.store.rangePaced(rangeFromWire(req), READ_PACING));
      return await encodeRangeResponse(res, core.header(res.revision), READ_PACING) as unknown as etcdserverpb.RangeResponse;
    }),
    // The busiest write: promise chains rather than async frames (one promise per put here, one in unary).
    put: unary((req: etcdserverpb.PutRequest, call) => {
      core.refuseOnLearner();
      reject(checkPut(req));
      const requester = authn.requester(call);
      const applied = requester instanceof Promise ? requester.then((r) => core.put(req, r)) : core.put(req, requester);
      return applied.then(putAnswer);
    }),
    deleteRange: unary(async (req: etcdserverpb.DeleteRangeRequest, call) => {
      core.refuseOnLearner();
      reject(checkDeleteRange(req));
      const res = await core.deleteRange(req, await authn.requester(call));
      return deleteRangeResponseToWire(res, core.header(res.revision));
    }),
    // Writes as promise chains, as put: the request is not held once proposed.
    txn: unary((req: etcdserverpb.TxnRequest, call) => {
      core.refuseOnLearner();
      reject(checkTxn(req, core.config.maxTxnOps));
      // A txn that only reads is a read, as in etcd: no log entry, no revision.
      if (isReadOnlyWireTxn(req)) return readTxn(req, call);
      const requester = authn.requester(call);
      const applied = requester instanceof Promise ? requester.then((r) => core.txn(req, r)) : core.txn(req, requester);
      return applied.then(txnAnswer);
    }),
    compact: unary(async (req: etcdserverpb.CompactionRequest, call) => {
      core.refuseOnLearner();
      await core.compact(req, await authn.requester(call));
      return { header: core.header(core.store.currentRevision) };
    }),
  };
}
