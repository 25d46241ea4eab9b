import { open, type Database, type RootDatabase } from 'lmdb';

// The LMDB environment as the backend uses it: how it is opened, its trees, the bodies of its
// write transactions, and views of LMDB's bytes.

/**
 * Opens (or creates) the environment in directory `dir` (`data.mdb` and `lock.mdb`).
 * @param mapSizeBytes - the initial map size (LMDB grows it); LMDB's default when absent.
 * @param noSync - commits without fsync (LMDB's MDB_NOSYNC).
 */
export function openEnvironment(dir: string, mapSizeBytes?: number, noSync?: boolean): RootDatabase {
  // noSubdir explicit: lmdb-js would otherwise take a directory name with a dot for a file.
  return open({ path: dir, noSubdir: false, maxDbs: 8, ...(mapSizeBytes ? { mapSize: mapSizeBytes } : {}), ...(noSync ? { noSync: true } : {}) });
}

/** The trees a write transaction changes. */
export interface Trees {
  readonly keyDb: Database<Buffer, Buffer>;
  readonly metaDb: Database<Buffer, Buffer>;
  readonly auxDb: Database<Buffer, Buffer>;
}

/**
 * The writes of one LMDB transaction, as a function of the trees: run on the live environment,
 * and again on a defragmentation's copy when it ran after the copy began. Must not depend on
 * what the trees hold (a replay may find its writes there already) and must keep its data.
 */
export interface TxnBody {
  (t: Trees): void;
  /** Entries it writes, for sizing a replay's transactions. */
  size: number;
}

export function txnBody(size: number, f: (t: Trees) => void): TxnBody {
  return Object.assign(f, { size });
}

/** Handles on the trees of `env`: etcd's buckets `key` and `meta`, and `aux` for the store's buckets. */
export function treesOf(env: RootDatabase): Trees {
  return {
    keyDb: env.openDB<Buffer, Buffer>({ name: 'key', keyEncoding: 'binary', encoding: 'binary' }),
    metaDb: env.openDB<Buffer, Buffer>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' }),
    auxDb: env.openDB<Buffer, Buffer>({ name: 'aux', keyEncoding: 'binary', encoding: 'binary' }),
  };
}

/** A placeholder view, before the first entry. */
export const EMPTY_BYTES = new Uint8Array(0);

/** Where a view handle's decoders last pointed: LMDB's bytes of the current key and value. */
export interface EntryView { keyBytes: Uint8Array; keyStart: number; keyEnd: number; valueBytes: Uint8Array; valueLength: number }

/**
 * A handle on `tree` whose key and value decoders only note where LMDB's bytes are (`at`):
 * each iteration step leaves views of the current entry there, valid until the next step.
 */
export function viewHandle(env: RootDatabase, tree: 'key' | 'meta' | 'aux'): { db: Database<null, Buffer>; at: EntryView } {
  const at: EntryView = { keyBytes: EMPTY_BYTES, keyStart: 0, keyEnd: 0, valueBytes: EMPTY_BYTES, valueLength: 0 };
  const db = env.openDB<null, Buffer>({
    name: tree,
    keyEncoder: {
      readKey: (buf: Uint8Array, start: number, end: number) => { at.keyBytes = buf; at.keyStart = start; at.keyEnd = end; return null; },
      writeKey: (key: Uint8Array, target: Uint8Array, start: number) => { target.set(key, start); return start + key.length; },
    },
    encoder: {
      encode: (v: Buffer) => v,
      decode: (bytes: Uint8Array, size: number) => { at.valueBytes = bytes; at.valueLength = size; return null; },
    },
  } as unknown as { name: string });
  return { db, at };
}
