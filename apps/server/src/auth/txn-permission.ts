import type { etcdserverpb } from '@raftkv/api';
import type { AuthInfo, AuthStore } from './auth-store.js';

/** etcd's checkTxnAuth: compares are reads; every op of both branches as its own request; nested txns too. */
export function checkTxnPermission(auth: AuthStore, ai: AuthInfo, txn: etcdserverpb.TxnRequest): void {
  for (const c of txn.compare) auth.checkRange(ai, c.key, c.rangeEnd);
  for (const op of [...txn.success, ...txn.failure]) {
    if (op.requestRange) auth.checkRange(ai, op.requestRange.key, op.requestRange.rangeEnd);
    else if (op.requestPut) auth.checkPut(ai, op.requestPut.key);
    else if (op.requestDeleteRange) {
      if (op.requestDeleteRange.prevKv) auth.checkRange(ai, op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
      auth.checkDeleteRange(ai, op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
    } else if (op.requestTxn) checkTxnPermission(auth, ai, op.requestTxn);
  }
}
