import { Crc32c } from '@raftkv/checksum';
import { META_FINISHED_COMPACT, META_SCHEDULED_COMPACT } from './backend.js';
import type { KeyIndex } from './key-index.js';
import { encodeKeyValue, peekKeyValue, type KeyValueIndexFields } from './key-value.js';
import { compareRevisions, decodeRevision, encodeRevision, type Revision } from './revision.js';
import type { TreeIndex } from './tree-index.js';

// etcd's Hash and HashKV, computed over the store as bolt would hold it (see MvccStore.hash).

const EMPTY = new Uint8Array(0);
const KEY_BUCKET = Buffer.from('key');
const META_BUCKET = Buffer.from('meta');

/** One revision of the key index. */
export interface IndexedRevision {
  rev: Revision;
  tombstone: boolean;
  key: KeyIndex;
}

/** The index's revisions in revision order; with `upTo`, none above it (a write in steps appends above the current one). */
export function indexedRevisions(index: TreeIndex, upTo?: number): IndexedRevision[] {
  let all: IndexedRevision[] = [];
  index.forEach((_k, ki) => ki.allRevisions(all));
  if (upTo !== undefined) all = all.filter((e) => e.rev.main <= upTo);
  return all.sort((a, b) => compareRevisions(a.rev, b.rev));
}

/** Reads a revision's bytes as stored; valid until the next backend read (hashed at once). */
export type ReadStored = (rev: Revision) => Uint8Array;

function storedBytes(e: IndexedRevision, read: ReadStored): Uint8Array {
  // A tombstone is stored as a KeyValue holding only the key.
  if (e.tombstone) return encodeKeyValue({ key: e.key.key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n });
  return read(e.rev);
}

/** The meta bucket as etcd hashes it: its name, then the compaction revisions (no consistent index). */
function updateMeta(h: Crc32c, compactMainRev: number): void {
  h.update(META_BUCKET);
  if (compactMainRev >= 0) {
    const rev = encodeRevision({ main: compactMainRev, sub: 0 });
    h.update(META_FINISHED_COMPACT).update(rev).update(META_SCHEDULED_COMPACT).update(rev);
  }
}

/** etcd's Hash from the index's revisions. */
export function hashOfIndex(revisions: IndexedRevision[], read: ReadStored, compactMainRev: number): number {
  const h = new Crc32c().update(KEY_BUCKET);
  for (const e of revisions) h.update(encodeRevision(e.rev, e.tombstone)).update(storedBytes(e, read));
  updateMeta(h, compactMainRev);
  return h.sum();
}

/**
 * etcd's HashKV at `rev` from the index's revisions: those in (compactRev, rev], plus those
 * <= compactRev that a compaction at `rev` keeps (`keep`; when empty, etcd skips nothing).
 */
export function hashKVOfIndex(revisions: IndexedRevision[], read: ReadStored, compactRev: number, rev: number, keep: Set<Revision>): number {
  const h = new Crc32c().update(KEY_BUCKET);
  for (const e of revisions) {
    if (e.rev.main > rev) continue;
    if (e.rev.main <= compactRev && keep.size > 0 && !keep.has(e.rev)) continue;
    h.update(encodeRevision(e.rev, e.tombstone)).update(storedBytes(e, read));
  }
  return h.sum();
}

/** etcd's HashKV below revision 0: only the bucket name. */
export function hashKVOfNothing(): number {
  return new Crc32c().update(KEY_BUCKET).sum();
}

/** Calls `f` for each stored entry with fromMain <= main <= toMain, in revision order and in steps. */
export type BackendScan = (fromMain: number, toMain: number, f: (key: Buffer, value: Buffer) => void) => Promise<void>;

/** etcd's Hash of a backend holding revisions up to `rev` and compaction `compactRev` finished. */
export async function hashOfBackend(scan: BackendScan, rev: number, compactRev: number): Promise<number> {
  const h = new Crc32c().update(KEY_BUCKET);
  await scan(1, rev, (key, value) => {
    h.update(key).update(value);
  });
  updateMeta(h, compactRev);
  return h.sum();
}

/**
 * etcd's HashKV at `rev` of such a backend. What the index-based form takes from the index —
 * the revisions <= compactRev that a compaction at `rev` keeps — is found in the backend: once
 * compaction C is finished, each key has at most one entry <= C, never a tombstone, and it is
 * kept unless the key has an entry in (C, rev]; as etcd, nothing is skipped when no key is live
 * at `rev`. One extra pass over (C, rev] (and over <= C when every key there ends deleted)
 * finds that out.
 */
export async function hashKVOfBackend(scan: BackendScan, compactRev: number, rev: number): Promise<number> {
  const fields: KeyValueIndexFields = { keyStart: 0, keyEnd: 0, createRevision: 0, modRevision: 0, version: 0 };
  const keyOf = (value: Buffer) => {
    peekKeyValue(value, fields);
    return value.toString('latin1', fields.keyStart, fields.keyEnd);
  };
  // Keys written in (C, rev], each with whether its newest entry there is a tombstone.
  const newer = new Map<string, boolean>();
  let keepIsEmpty = false;
  if (compactRev >= 0) {
    await scan(compactRev + 1, rev, (key, value) => {
      newer.set(keyOf(value), decodeRevision(key).tombstone);
    });
    keepIsEmpty = true;
    for (const tombstone of newer.values()) {
      if (!tombstone) {
        keepIsEmpty = false;
        break;
      }
    }
    if (keepIsEmpty) {
      await scan(1, compactRev, (_key, value) => {
        if (!newer.has(keyOf(value))) keepIsEmpty = false;
      });
    }
  }
  const h = new Crc32c().update(KEY_BUCKET);
  await scan(1, rev, (key, value) => {
    if (!keepIsEmpty && compactRev >= 0 && decodeRevision(key).rev.main <= compactRev && newer.has(keyOf(value))) return;
    h.update(key).update(value);
  });
  return h.sum();
}
