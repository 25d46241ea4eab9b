import type { Backend } from './backend.js';
import { META_CONSISTENT_INDEX, META_FINISHED_COMPACT, META_SCHEDULED_COMPACT } from './backend.js';
import { KeyIndex } from './key-index.js';
import { peekKeyValue, type KeyValueIndexFields } from './key-value.js';
import type { Pacer } from './paced.js';
import { decodeRevision, decodeUint64, type Revision } from './revision.js';
import { keyStringAt, TreeIndex } from './tree-index.js';

/** State rebuilt from a backend: what open and restore install. */
export interface LoadedState {
  index: TreeIndex;
  currentRev: number;
  compactMainRev: number;
  ci: number;
  /** A compaction the backend had scheduled and not finished (0: none). */
  scheduled: number;
}

/**
 * Rebuilds the key index, revisions, compaction state and consistent index from what
 * `backend` holds in LMDB (etcd's kvstore.restore).
 */
export function loadState(backend: Backend): LoadedState {
  const steps = loadStateSteps(backend);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** {@link loadState} sharing the thread: a pause every `pacer.step` entries. */
export async function loadStatePaced(backend: Backend, pacer: Pacer): Promise<LoadedState> {
  const steps = loadStateSteps(backend);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (pacer.tick()) await pacer.pause();
  }
}

/** Rebuilds the key index from LMDB, yielding after every stored change. */
export function* loadStateSteps(backend: Backend): Generator<void, LoadedState> {
  const index = new TreeIndex();
  const ciBytes = backend.getDurableMeta(META_CONSISTENT_INDEX);
  const ci = ciBytes ? decodeUint64(ciBytes, 'consistent index') : 0;
  const finished = backend.getDurableMeta(META_FINISHED_COMPACT);
  const compactMainRev = finished ? decodeRevision(finished).rev.main : -1;
  const scheduledBytes = backend.getDurableMeta(META_SCHEDULED_COMPACT);
  const scheduled = scheduledBytes ? decodeRevision(scheduledBytes).rev.main : 0;

  let current = 1;
  const fields: KeyValueIndexFields = { keyStart: 0, keyEnd: 0, createRevision: 0, modRevision: 0, version: 0 };
  // Keys created by one write share its create revision: one object for them all (revisions
  // are never changed in place), not one per key.
  let created: Revision = { main: 0, sub: 0 };
  for (const { rev, tombstone, bytes } of backend.durableEntries()) {
    current = rev.main;
    peekKeyValue(bytes, fields);
    const ks = keyStringAt(bytes, fields.keyStart, fields.keyEnd);
    const ki = index.getKeyIndex(ks);
    if (ki) {
      if (tombstone) ki.tombstone(rev);
      else ki.put(rev);
    } else if (!tombstone) {
      // Older revisions of the key were compacted: start from the stored one.
      if (created.main !== fields.createRevision) created = { main: fields.createRevision, sub: 0 };
      index.insert(ks, KeyIndex.restored(ks, created, rev, fields.version));
    }
    // A tombstone without a live key is left over from an interrupted compaction.
    yield;
  }
  // A compaction scheduled and not finished may already have deleted the newest stored revision
  // (a tombstone at the compaction's revision): the revision must not go below it (etcd 3.4's
  // restore takes only the finished compaction's). Found by model.test.ts (seed -1226211956).
  return { index, currentRev: Math.max(current, compactMainRev, scheduled, 1), compactMainRev, ci, scheduled };
}
