export { MvccError, type MvccErrorCode } from './errors.js';
export type { KeyValue } from './key-value.js';
export type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from './kv.js';
export { MvccStore } from './kvstore.js';
export type { Bucket } from './bucket.js';
export type { MvccStoreOptions } from './mvcc-store-options.js';
export type { EventListener, EventListenerOptions, MvccOpCounts } from './key-space.js';
export { isReadOnlyTxn } from './txn-check.js';
export type { ReadPacing } from './paced.js';
export type { DefragResult, DefragStep } from './defrag.js';
export type { SteppedWrite } from './stepped-write.js';
export { BackendSnapshotFile, importBackend, type BackendImport, type BucketEntry } from './backend-file.js';
