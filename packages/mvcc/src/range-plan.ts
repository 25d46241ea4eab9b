import type { RangeRequest, RangeResponse } from './kv.js';
import type { KeyValue } from './key-value.js';
import { compareBytes } from './compare.js';

const EMPTY = new Uint8Array(0);

const SORTERS: Record<string, (a: KeyValue, b: KeyValue) => number> = {
  key: (a, b) => compareBytes(a.key, b.key),
  version: (a, b) => a.version - b.version,
  create: (a, b) => a.createRevision - b.createRevision,
  mod: (a, b) => a.modRevision - b.modRevision,
  value: (a, b) => compareBytes(a.value, b.value),
};

export function checkOptionalRevision(n: number | undefined, what: string): number {
  if (n === undefined) return 0;
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} must be a safe integer, got ${n}`);
  return n;
}

/** A range request's options, checked, in the order etcd's apply uses them. */
export interface RangePlan {
  reqLimit: number;
  minMod: number;
  maxMod: number;
  minCreate: number;
  maxCreate: number;
  /** Keys to fetch from the index walk: 0 for all, else one past the limit (for `more`). */
  fetchLimit: number;
  revision: number;
  sortOrder: 'none' | 'ascend' | 'descend';
  /** The sort's comparator (descending already applied). @throws RangeError for an unknown target. */
  comparator(): (a: KeyValue, b: KeyValue) => number;
}

export function planRange(req: RangeRequest): RangePlan {
  const reqLimit = checkOptionalRevision(req.limit, 'limit');
  const minMod = checkOptionalRevision(req.minModRevision, 'minModRevision');
  const maxMod = checkOptionalRevision(req.maxModRevision, 'maxModRevision');
  const minCreate = checkOptionalRevision(req.minCreateRevision, 'minCreateRevision');
  const maxCreate = checkOptionalRevision(req.maxCreateRevision, 'maxCreateRevision');
  const sortOrderIn = req.sortOrder ?? 'none';
  const sortTarget = req.sortTarget ?? 'key';
  // As etcd's apply: sorting and filters need every key; otherwise one extra for `more`.
  let fetchLimit = reqLimit;
  if (sortOrderIn !== 'none' || minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0) fetchLimit = 0;
  if (fetchLimit > 0) fetchLimit++;
  const revision = checkOptionalRevision(req.revision, 'revision');
  let sortOrder = sortOrderIn;
  if (sortTarget !== 'key' && sortOrder === 'none') sortOrder = 'ascend';
  return {
    reqLimit, minMod, maxMod, minCreate, maxCreate, fetchLimit, revision, sortOrder,
    comparator() {
      const cmp = SORTERS[sortTarget];
      if (!cmp) throw new RangeError(`unknown sortTarget ${sortTarget}`);
      return sortOrder === 'descend' ? (a, b) => cmp(b, a) : cmp;
    },
  };
}

export function filterRange(kvs: KeyValue[], p: RangePlan): KeyValue[] {
  if (p.maxMod !== 0) kvs = kvs.filter((kv) => kv.modRevision <= p.maxMod);
  if (p.minMod !== 0) kvs = kvs.filter((kv) => kv.modRevision >= p.minMod);
  if (p.maxCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision <= p.maxCreate);
  if (p.minCreate !== 0) kvs = kvs.filter((kv) => kv.createRevision >= p.minCreate);
  return kvs;
}

export function finishRange(kvs: KeyValue[], p: RangePlan, req: RangeRequest, rr: { rev: number; count: number }): RangeResponse {
  let more = false;
  if (p.reqLimit > 0 && kvs.length > p.reqLimit) {
    kvs = kvs.slice(0, p.reqLimit);
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
  return { revision: rr.rev, kvs, more, count: rr.count };
}
