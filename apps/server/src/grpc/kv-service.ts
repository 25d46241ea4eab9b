import type { EtcdError, etcdserverpb } from '@raftkv/api';
import { isReadOnlyTxn } from '@raftkv/mvcc';
import {
  deleteRangeResponseToWire, putResponseToWire, rangeFromWire, rangeResponseToWire, txnFromWire, txnResponseToWire,
} from '../apply/convert.js';
import type { ServerCore } from '../server-core.js';
import { unary } from './unary.js';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from './validate.js';

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
