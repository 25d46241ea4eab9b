import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { EtcdError, etcdserverpb } from '@raftkv/api';
import { isReadOnlyTxn, MvccError } from '@raftkv/mvcc';
import { mvccErrorToEtcd } from '../apply/applier.js';
import {
  deleteRangeResponseToWire, putResponseToWire, rangeFromWire, rangeResponseToWire, txnFromWire, txnResponseToWire,
} from '../apply/convert.js';
import type { ServerCore } from '../server-core.js';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from './validate.js';

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Runs a handler body and turns etcd errors (thrown or rejected) into gRPC statuses. */
export function unary<Req, Res>(body: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = body(call.request);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    if (result instanceof Promise) {
      result.then((res) => callback(null, res), (err: unknown) => callback(toServiceError(err)));
    } else {
      callback(null, result);
    }
  };
}

function toServiceError(err: unknown) {
  if (err instanceof EtcdError) return err.toServiceError();
  if (err instanceof MvccError) return mvccErrorToEtcd(err).toServiceError();
  const e = new EtcdError(13 /* INTERNAL */, err instanceof Error ? err.message : String(err));
  return e.toServiceError();
}

function reject(err: EtcdError | undefined): void {
  if (err) throw err;
}

/** The KV service: reads straight from mvcc, writes through the log. */
export function kvService(core: ServerCore): etcdserverpb.KVServer {
  return {
    range: unary((req: etcdserverpb.RangeRequest) => {
      reject(checkRange(req));
      // One member: everything acknowledged is applied, so a local read is linearizable.
      const res = core.store.range(rangeFromWire(req));
      return rangeResponseToWire(res, core.header(res.revision));
    }),
    put: unary(async (req: etcdserverpb.PutRequest) => {
      reject(checkPut(req));
      const res = await core.put(req);
      return putResponseToWire(res, core.header(res.revision));
    }),
    deleteRange: unary(async (req: etcdserverpb.DeleteRangeRequest) => {
      reject(checkDeleteRange(req));
      const res = await core.deleteRange(req);
      return deleteRangeResponseToWire(res, core.header(res.revision));
    }),
    txn: unary(async (req: etcdserverpb.TxnRequest) => {
      reject(checkTxn(req, core.config.maxTxnOps));
      const txn = txnFromWire(req);
      // A txn that only reads is a read, as in etcd: no log entry, no revision.
      const res = isReadOnlyTxn(txn) ? core.store.readTxn(txn) : await core.txn(req);
      return txnResponseToWire(res, core.header(res.revision));
    }),
    compact: unary(async (req: etcdserverpb.CompactionRequest) => {
      await core.compact(req);
      return { header: core.header(core.store.currentRevision) };
    }),
  };
}
