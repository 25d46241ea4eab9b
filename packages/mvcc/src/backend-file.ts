// The backend's trees as raw entries: out of a snapshot file (for export to other formats, such
// as etcd's bbolt snapshot) and into a new backend directory (for import from them).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Backend } from './backend.js';
import { DATA_FILE, fsyncPath } from './lmdb-file.js';
import { keyValueModRevision } from './key-value.js';
import { decodeRevision, REV_BYTES_LEN } from './revision.js';

/** One entry of a named bucket (see MvccStore.bucket). */
export interface BucketEntry {
  bucket: string;
  key: Buffer;
  value: Buffer;
}

/**
 * A snapshot file made by `MvccStore.snapshotTo`, opened read-only. Its entries are etcd's
 * backend layout: `revisions()` are the "key" bucket (17-byte revision keys, 18 with the 't'
 * of a tombstone, to mvccpb.KeyValue bytes), `meta()` the "meta" bucket (consistent_index,
 * finishedCompactRev, scheduledCompactRev, and raftkv's own keys), `buckets()` the others.
 * Buffers are LMDB's: valid only until the iteration moves on (copy what is kept).
 *
 * @example
 * const snap = BackendSnapshotFile.open(path);
 * try { for (const { key, value } of snap.revisions()) out.put(key, value); } finally { await snap.close(); }
 */
export class BackendSnapshotFile {
  private constructor(private readonly path: string, private readonly backend: Backend) {}

  /** @throws Error when `path` is not a complete LMDB file. */
  static open(path: string): BackendSnapshotFile {
    return new BackendSnapshotFile(path, Backend.openSnapshot(path));
  }

  revisions(): Generator<{ key: Buffer; value: Buffer }> {
    return this.backend.rawEntries('key');
  }

  /**
   * The key bucket without a step of a generator per entry: `fn` gets each entry (views of
   * LMDB's buffers, valid during the call) and the iteration yields when `fn` returns true.
   * @example for (const _ of snap.eachRevision((k, v) => { out.put(k, v); return out.full; })) await out.flush();
   */
  eachRevision(fn: (key: Uint8Array, value: Uint8Array) => boolean): Generator<void> {
    return this.backend.rawEach('key', fn);
  }

  meta(): Generator<{ key: Buffer; value: Buffer }> {
    return this.backend.rawEntries('meta');
  }

  /** Entries of every named bucket, by bucket name then key (byte order). */
  *buckets(): Generator<BucketEntry> {
    for (const { key, value } of this.backend.rawEntries('aux')) {
      const slash = key.indexOf(0x2f);
      if (slash <= 0) throw new Error(`mvcc: bucket entry without a bucket name in ${this.path}`);
      yield { bucket: key.toString('latin1', 0, slash), key: key.subarray(slash + 1), value };
    }
  }

  /** Closes the file and removes the lock file LMDB made beside it. */
  async close(): Promise<void> {
    await this.backend.close();
    await rm(`${this.path}-lock`, { force: true });
  }
}

/** Entries per LMDB transaction of {@link importBackend}: large, so its commits (each synced) are few. */
const IMPORT_BATCH = 100_000;

/**
 * What {@link importBackend} writes: each source in key order or not (LMDB sorts). The buffers
 * given are written as they are, not copied: they must stay unchanged until the import resolves
 * (a bbolt reader's do; LMDB's own, reused by its cursor, do not).
 */
export interface BackendImport {
  /** Revision key → mvccpb.KeyValue bytes; both checked. */
  revisions: Iterable<readonly [Uint8Array, Uint8Array]> | AsyncIterable<readonly [Uint8Array, Uint8Array]>;
  /** Meta keys (consistent_index, finishedCompactRev, scheduledCompactRev). */
  meta: Iterable<readonly [Uint8Array, Uint8Array]>;
  /** Named buckets' entries. */
  buckets: Iterable<BucketEntry> | AsyncIterable<BucketEntry>;
}

/**
 * Creates a backend in directory `dir` from raw entries (an etcd snapshot's buckets); open it
 * with `MvccStore.open`, which rebuilds the index from them. `dir` must hold no backend yet.
 * Writes in transactions of 100,000 entries, reading the next batch while one commits, and
 * calls `onProgress` with the entries written. Durable when it resolves.
 * @throws RangeError on a malformed revision key or KeyValue (nothing usable is left: remove `dir`).
 */
export async function importBackend(dir: string, source: BackendImport, onProgress?: (entries: number) => void): Promise<void> {
  if (existsSync(`${dir}/${DATA_FILE}`)) throw new Error(`mvcc: ${dir} already holds a backend`);
  // Unsynced commits, the file synced once at the end: one fsync, not one per transaction.
  const backend = Backend.open(dir, { noSync: true });
  let written = 0;
  // The batch committing while the next one is read (one at a time: memory stays bounded).
  let committing: Promise<void> = Promise.resolve();
  try {
    let batch: Array<readonly [Buffer, Buffer]> = [];
    const flush = async (tree: 'key' | 'meta' | 'aux'): Promise<void> => {
      if (batch.length === 0) return;
      const entries = batch;
      batch = [];
      await committing;
      committing = backend.putRaw(tree, entries).then(() => {
        written += entries.length;
        onProgress?.(written);
      });
      // Handled when awaited next; not an unhandled rejection meanwhile.
      committing.catch(() => undefined);
    };
    const revisions = source.revisions;
    if (Symbol.iterator in revisions) {
      // A plain loop for a synchronous source: for await would cost a promise per entry.
      for (const [k, v] of revisions) {
        checkRevision(k, v);
        batch.push([asBuffer(k), asBuffer(v)]);
        if (batch.length >= IMPORT_BATCH) await flush('key');
      }
    } else {
      for await (const [k, v] of revisions) {
        checkRevision(k, v);
        batch.push([asBuffer(k), asBuffer(v)]);
        if (batch.length >= IMPORT_BATCH) await flush('key');
      }
    }
    await flush('key');
    for (const [k, v] of source.meta) batch.push([asBuffer(k), asBuffer(v)]);
    await flush('meta');
    for await (const e of source.buckets) {
      if (!/^[\w-]+$/.test(e.bucket)) throw new RangeError(`mvcc: bad bucket name ${JSON.stringify(e.bucket)}`);
      batch.push([Buffer.concat([Buffer.from(`${e.bucket}/`, 'latin1'), e.key]), asBuffer(e.value)]);
      if (batch.length >= IMPORT_BATCH) await flush('aux');
    }
    await flush('aux');
    await committing;
    await backend.flushed();
  } finally {
    await committing.catch(() => undefined);
    await backend.close();
  }
  await fsyncPath(`${dir}/${DATA_FILE}`);
  await fsyncPath(dir);
}

/** A revision key and the KeyValue it holds agree (the key well formed, the value decodes). */
function checkRevision(k: Uint8Array, v: Uint8Array): void {
  const mod = keyValueModRevision(v);
  // decodeRevision's objects only for a key that is not a plain well-formed one or disagrees.
  // Plain: 17 bytes, '_' between, main and sub below 2^53 (as decodeRevision requires).
  const plain = k.length === REV_BYTES_LEN && k[8] === 0x5f && k[0] === 0 && (k[1]! & 0xe0) === 0 && k[9] === 0 && (k[10]! & 0xe0) === 0;
  if (plain && (mod === 0 || mod === revisionMain(k))) return;
  const { rev } = decodeRevision(k);
  if (mod !== 0 && mod !== rev.main) {
    throw new RangeError(`mvcc: revision ${rev.main}_${rev.sub} holds a KeyValue of mod_revision ${mod}`);
  }
}

/** The main part of a revision key: its first 8 bytes, big-endian. */
function revisionMain(k: Uint8Array): number {
  return (((k[0]! << 24) | (k[1]! << 16) | (k[2]! << 8) | k[3]!) >>> 0) * 2 ** 32 + (((k[4]! << 24) | (k[5]! << 16) | (k[6]! << 8) | k[7]!) >>> 0);
}

/** A Buffer view of the same bytes (no copy). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}
