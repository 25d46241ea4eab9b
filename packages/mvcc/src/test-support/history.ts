import type { MvccStore } from '../kvstore.js';
import type { RangeResponse } from '../kv.js';
import { enc } from './helpers.js';

const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

/** Applies `n` deterministic writes (puts, ranged deletes, txns) from raft index `firstIndex`; returns the next index. */
export function history(s: MvccStore, firstIndex: number, n: number): number {
  let i = firstIndex;
  for (let j = 0; j < n; j++) {
    const k = enc(`key/${j % 7}`);
    if (j % 5 === 4) s.deleteRange({ key: k, rangeEnd: enc(`key/${(j % 7) + 2}`) }, i++);
    else if (j % 6 === 5) s.txn({ compare: [{ key: k, target: 'version', result: 'greater', version: 0 }], success: [{ put: { key: k, value: enc(`t${j}`), lease: BigInt(j) } }], failure: [{ put: { key: enc('miss'), value: enc(`${j}`) } }] }, i++);
    else s.put({ key: k, value: enc(`v${j}`) }, i++);
  }
  return i;
}

/** Everything a reader can see of a store. */
export interface Observed {
  current: number;
  compacted: number;
  ci: number;
  hash: number;
  hashKV: ReturnType<MvccStore['hashKV']>;
  reads: RangeResponse[];
  events: ReturnType<MvccStore['eventsBetween']>;
}

/** Reads at every readable revision, hashes, history with prevKv, indexes. */
export function observe(s: MvccStore): Observed {
  const from = Math.max(1, s.compactedRevision);
  const reads: RangeResponse[] = [];
  for (let r = from; r <= s.currentRevision; r++) reads.push(s.range({ ...ALL, revision: r }));
  return {
    current: s.currentRevision,
    compacted: s.compactedRevision,
    ci: s.consistentIndex,
    hash: s.hash(),
    hashKV: s.hashKV(0),
    reads,
    events: s.eventsBetween(from + 1, s.currentRevision, 1_000_000, true),
  };
}

