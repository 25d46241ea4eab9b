import type { KeyValue } from './key-value.js';

/**
 * One change of a revision. For a deletion `kv` is `{ key, modRevision: deleting
 * revision }` with every other field zero/empty, as etcd sends it.
 * `prevKv` is the key's value before the revision, when still available.
 */
export interface Event {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv?: KeyValue;
}

/**
 * etcd's RangeRequest. `rangeEnd` absent or empty: the single `key`; `[0]` ("\0"):
 * every key >= `key`; otherwise [key, rangeEnd). `revision` <= 0 reads the newest.
 * `limit` 0 means none. Sort target other than `key` with order `none` sorts ascending.
 * `count` is the number of keys in the range at the revision, before limit and the
 * min/max filters (etcd 3.4 behaviour).
 */
export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  revision?: number;
  sortOrder?: 'none' | 'ascend' | 'descend';
  sortTarget?: 'key' | 'version' | 'create' | 'mod' | 'value';
  /** Accepted for completeness; consistency is the server's business. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

/** `revision` is the header revision: the store's revision when the range was served. */
export interface RangeResponse {
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

/**
 * etcd's PutRequest. `ignoreValue`/`ignoreLease` keep the key's current value/lease and
 * fail with `key_not_found` when the key does not exist.
 */
export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv?: KeyValue;
}

/** Same range rules as {@link RangeRequest}. */
export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

/** `prevKvs` is filled only when the request asked for `prevKv`. */
export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

/**
 * One txn guard, etcd's semantics: every key in the range must satisfy it; when no key
 * exists a zero KeyValue is compared, except that a `value` compare then always fails.
 * The operand for the target is the matching optional field (missing = 0 / empty).
 */
export interface Compare {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** `none`: a target etcd does not know; it compares as equal (etcd's zero result). */
  target: 'version' | 'create' | 'mod' | 'value' | 'lease' | 'none';
  /** `always`: a result etcd does not know; the compare holds (unless it is a value compare of a missing key). */
  result: 'equal' | 'greater' | 'less' | 'not_equal' | 'always';
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: bigint;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest };

export type ResponseOp =
  | { range: RangeResponse }
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  | { txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

/**
 * `revision` of the outer txn is the store revision after it (etcd's header); nested
 * txn responses carry revision 0, as etcd leaves their headers empty.
 */
export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}
