import { renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { ByteSlab } from './byte-slab.js';
import { WriteBatch } from './write-batch.js';
import { decodeKeyValue, decodeKeyValueShared, type KeyValue } from './key-value.js';
import { DEFRAG_REPLAY_ROUNDS, DEFRAG_TAIL_TXNS, DefragCopy, type DefragHooks, type DefragResult } from './defrag.js';
import { EMPTY_BYTES, openEnvironment, treesOf, txnBody, viewHandle, type Trees, type TxnBody } from './lmdb-env.js';
import { checkLmdbHeader, DATA_FILE, fsyncPath, LOCK_FILE } from './lmdb-file.js';
import { decodeRevision, decodeRevisionAt, decodeUint64, encodeRevision, encodeRevisionInto, encodeUint64, REV_BYTES_LEN, type Revision } from './revision.js';

/** The main part of a revision key: its first 8 bytes, big-endian. */
function revisionMain(key: Uint8Array): number {
  return (((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0) * 2 ** 32
    + (((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) >>> 0);
}
/** Below every key (LMDB has no empty keys): where a range over a whole tree starts. */
const FIRST_KEY = Buffer.from([0]);

export const META_CONSISTENT_INDEX = Buffer.from('consistent_index');
export const META_SCHEDULED_COMPACT = Buffer.from('scheduledCompactRev');
export const META_FINISHED_COMPACT = Buffer.from('finishedCompactRev');
/**
 * The newest revision of the last whole commit. A commit of a big batch writes it in several
 * LMDB transactions, this mark (with the consistent index) in the last: entries above it are
 * the part of a commit a crash interrupted, ignored and deleted on open. Absent in files
 * written before it existed (then every entry is whole).
 */
export const META_COMMITTED_REVISION = Buffer.from('raftkvCommittedRev');

/**
 * Entries per LMDB transaction of a commit: LMDB runs a transaction's writes on this thread, so
 * a commit of a huge write (a delete of a million keys) is split to keep each one short.
 */
const COMMIT_ENTRIES_PER_TXN = 8192;

export interface BackendOptions {
  /** LMDB map size in bytes; grows automatically, so this is only the initial size. */
  mapSizeBytes?: number;
  /** Entries per LMDB transaction of a commit (default 8192; tests make it small). */
  commitEntriesPerTxn?: number;
  /** See MvccStoreOptions.onBackendCommit. */
  onCommit?: (written: Promise<void>) => void;
  /** Commits without fsync (LMDB's MDB_NOSYNC): for a bulk import that syncs the file once at its end. */
  noSync?: boolean;
}

/**
 * LMDB backend: a "key" db from encoded revision to mvccpb.KeyValue bytes and a "meta"
 * db (etcd's bucket names). Writes go to an in-memory batch first; `commit` moves the
 * batch to LMDB in one asynchronous transaction while reads are still served from the
 * batch until LMDB is known to hold it. Invariant: every revision > durableRevision
 * lives in `pending` or `inflight`; every revision <= it is in LMDB (or compacted).
 */
export class Backend {
  private pending = new WriteBatch();
  private readonly inflight: WriteBatch[] = [];
  private pendingMeta = new Map<string, Uint8Array>();
  /** Bucket writes since the last commit: bucket/key (latin1) -> value, or null for a delete. */
  private pendingAux = new Map<string, Uint8Array | null>();
  private commitEntriesPerTxn = COMMIT_ENTRIES_PER_TXN;
  private onCommit: ((written: Promise<void>) => void) | undefined;
  /** Resolves when the last commit asked for has ended (written or failed). */
  private committing: Promise<void> = Promise.resolve();
  /** Reused key buffer for point reads (lmdb-js copies the key before returning). */
  private readonly lookupKey = Buffer.alloc(REV_BYTES_LEN);
  durableRevision: number;

  /** Set while a defragmentation copies: every write transaction's body, in commit order. */
  private journal: TxnBody[] | undefined;
  /** Set while a defragmentation swaps files: write transactions wait for it. */
  private swapGate: Promise<void> | undefined;
  /** Copies of the environment in flight ({@link backup}): the old env of a swap closes after them. */
  private readonly copies = new Set<Promise<void>>();
  private mapSizeBytes: number | undefined;

  private constructor(
    /** The LMDB data file. */
    private readonly dataFile: string,
    // Not readonly: a defragmentation replaces the environment under the same Backend.
    private env: RootDatabase,
    private keyDb: Database<Buffer, Buffer>,
    private metaDb: Database<Buffer, Buffer>,
    private auxDb: Database<Buffer, Buffer>,
  ) {
    this.durableRevision = 0;
  }

  /**
   * Opens (or creates) the environment in directory `dir` (`data.mdb` and `lock.mdb`), and
   * deletes what a crash left of an unfinished commit (entries above {@link META_COMMITTED_REVISION}).
   */
  static open(dir: string, opts: BackendOptions): Backend {
    const env = openEnvironment(dir, opts.mapSizeBytes, opts.noSync);
    const backend = Backend.withDbs(join(dir, DATA_FILE), env);
    backend.mapSizeBytes = opts.mapSizeBytes;
    if (opts.commitEntriesPerTxn !== undefined) {
      if (!Number.isSafeInteger(opts.commitEntriesPerTxn) || opts.commitEntriesPerTxn < 1) {
        void env.close();
        throw new RangeError('commitEntriesPerTxn must be a positive integer');
      }
      backend.commitEntriesPerTxn = opts.commitEntriesPerTxn;
    }
    backend.onCommit = opts.onCommit;
    backend.dropUnfinishedCommit();
    return backend;
  }

  /** The newest revision of the last whole commit; undefined when the file predates the mark. */
  committedRevisionMark(): number | undefined {
    const b = this.metaDb.getBinary(META_COMMITTED_REVISION);
    return b ? decodeUint64(b, 'committed revision') : undefined;
  }

  private dropUnfinishedCommit(): void {
    const mark = this.committedRevisionMark();
    if (mark === undefined) return;
    const start = Buffer.from(encodeRevision({ main: mark + 1, sub: 0 }));
    const doomed: Buffer[] = [];
    for (const key of this.keyDb.getKeys({ start })) doomed.push(Buffer.from(key));
    if (doomed.length === 0) return;
    this.env.transactionSync(() => {
      for (const k of doomed) this.keyDb.removeSync(k);
    });
  }

  /**
   * Opens the single LMDB file `path` (a snapshot made by {@link backup}) read-only, after
   * checking what can be checked without LMDB touching its pages: LMDB maps the file and
   * trusts it, so an empty, foreign or truncated file crashes the process (SIGSEGV/SIGBUS)
   * instead of throwing. Creates `<path>-lock`; the caller removes it after `close`.
   * @throws Error when the file is not a complete LMDB file.
   */
  static openSnapshot(path: string): Backend {
    checkLmdbHeader(path);
    const env = open({ path, noSubdir: true, readOnly: true, maxDbs: 8 });
    try {
      const { lastPageNumber, pageSize } = env.getStats() as { lastPageNumber: number; pageSize: number };
      const need = (lastPageNumber + 1) * pageSize;
      const size = statSync(path).size;
      if (size < need) throw new Error(`mvcc: snapshot ${path} is truncated: ${size} bytes, its pages need ${need}`);
      return Backend.withDbs(path, env);
    } catch (err) {
      void env.close();
      throw err;
    }
  }

  private static withDbs(dataFile: string, env: RootDatabase): Backend {
    const { keyDb, metaDb, auxDb } = treesOf(env);
    return new Backend(dataFile, env, keyDb, metaDb, auxDb);
  }

  /**
   * Runs `body` in a write transaction of the current environment (after a swap in progress),
   * and records it in the journal of a defragmentation running — inside the transaction, so the
   * journal's order is the commit order.
   */
  private async write(body: TxnBody): Promise<void> {
    while (this.swapGate) await this.swapGate;
    const trees: Trees = { keyDb: this.keyDb, metaDb: this.metaDb, auxDb: this.auxDb };
    await this.env.transaction(() => {
      body(trees);
      this.journal?.push(body);
    });
  }

  /** Stages a bucket write for the next commit; `value` null deletes. */
  setAux(key: Buffer, value: Uint8Array | null): void {
    this.pendingAux.set(key.toString('latin1'), value);
  }

  /** Durable bucket entries whose key starts with `prefix` (uncommitted writes not included). */
  *durableAux(prefix: Buffer): Iterable<{ key: Buffer; value: Buffer }> {
    // Exclusive end: the prefix with its last byte incremented (bucket prefixes end in
    // '/', never 0xff), so keys of any bytes after the prefix are included.
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    for (const { key, value } of this.auxDb.getRange({ start: prefix, end })) yield { key, value };
  }

  /** Stages a change for the next commit; `bytes` (its encoded KeyValue) must never be written again. */
  append(rev: Revision, tombstone: boolean, bytes: Uint8Array): void {
    this.pending.add(rev, tombstone, bytes);
  }

  setMeta(key: Buffer, value: Uint8Array): void {
    this.pendingMeta.set(key.toString('latin1'), value);
  }

  /** Meta value as LMDB holds it (not counting uncommitted meta writes). */
  getDurableMeta(key: Buffer): Uint8Array | undefined {
    return this.metaDb.getBinary(key) ?? undefined;
  }

  /** The encoded KeyValue of a change not yet in LMDB, if `rev` is one. */
  private memoryBytes(rev: Revision): Uint8Array | undefined {
    const p = this.pending.find(rev);
    if (p >= 0) return this.pending.bytes(p);
    for (let i = this.inflight.length - 1; i >= 0; i--) {
      const batch = this.inflight[i]!;
      const e = batch.find(rev);
      if (e >= 0) return batch.bytes(e);
    }
    return undefined;
  }

  /** The KeyValue stored at a (non-tombstone) revision; throws if missing (corruption). */
  readKeyValue(rev: Revision): KeyValue {
    if (rev.main > this.durableRevision) {
      const bytes = this.memoryBytes(rev);
      if (bytes) return decodeKeyValueShared(bytes);
    }
    return decodeKeyValue(this.getFast(rev));
  }

  /**
   * {@link readKeyValue} whose bytes are copied into `slab` (shared chunks) rather than into
   * an allocation of their own: a read of many KVs then makes a few large allocations, not
   * hundreds of thousands of small ones for the garbage collector to track.
   */
  readKeyValueInto(rev: Revision, slab: ByteSlab): KeyValue {
    if (rev.main > this.durableRevision) {
      const bytes = this.memoryBytes(rev);
      if (bytes) return decodeKeyValueShared(bytes);
    }
    return decodeKeyValueShared(slab.copy(this.getFast(rev)));
  }

  /**
   * The stored bytes of a non-tombstone revision, valid only until the next backend
   * call (may be LMDB's reused buffer); throws if missing (corruption).
   */
  readBytesTransient(rev: Revision): Uint8Array {
    if (rev.main > this.durableRevision) {
      const bytes = this.memoryBytes(rev);
      if (bytes) return bytes;
    }
    return this.getFast(rev);
  }

  private getFast(rev: Revision): Uint8Array {
    const bytes = this.keyDb.getBinaryFast(encodeRevisionInto(this.lookupKey, rev, false));
    if (!bytes) throw new Error(`mvcc: backend has no revision ${rev.main}_${rev.sub}`);
    // lmdb-js returns its reused buffer with `length` overridden to the value size; a
    // real view of that size keeps typed-array copies from taking the whole buffer.
    return bytes.subarray(0, bytes.length);
  }

  /**
   * Calls `f` for every stored change with fromMain <= main <= toMain in revision order;
   * `f` returns false to stop. Serves LMDB below durableRevision and memory above it.
   */
  scan(fromMain: number, toMain: number, f: (rev: Revision, tombstone: boolean, kv: KeyValue) => boolean): void {
    const lmdbTo = Math.min(toMain, this.durableRevision);
    if (fromMain <= lmdbTo) {
      const start = Buffer.from(encodeRevision({ main: fromMain, sub: 0 }));
      const end = Buffer.from(encodeRevision({ main: lmdbTo + 1, sub: 0 }));
      for (const { key, value } of this.keyDb.getRange({ start, end })) {
        const { rev, tombstone } = decodeRevision(key);
        if (!f(rev, tombstone, decodeKeyValue(value))) return;
      }
    }
    for (const batch of [...this.inflight, this.pending]) {
      for (let i = 0; i < batch.size; i++) {
        const rev = batch.revs[i]!;
        if (rev.main <= this.durableRevision || rev.main < fromMain) continue;
        if (rev.main > toMain) return;
        if (!f(rev, batch.tombstone(i), decodeKeyValueShared(batch.bytes(i)))) return;
      }
    }
  }

  /**
   * Up to `limit` LMDB entries with fromMain <= main <= toMain, after the key `after`
   * (exclusive; from fromMain when undefined), in revision order, each passed to `f` with
   * LMDB's buffers (valid only during the call). Returns a copy of the last key, to continue
   * from, or undefined once the range is exhausted.
   */
  durableSlice(after: Buffer | undefined, fromMain: number, toMain: number, limit: number,
    f: (key: Buffer, value: Buffer) => void): Buffer | undefined {
    const start = after ?? Buffer.from(encodeRevision({ main: fromMain, sub: 0 }));
    const end = Buffer.from(encodeRevision({ main: toMain + 1, sub: 0 }));
    let last: Buffer | undefined;
    let n = 0;
    for (const { key, value } of this.keyDb.getRange({ start, end, limit, exclusiveStart: after !== undefined })) {
      f(key, value);
      last = key;
      n++;
    }
    return n < limit ? undefined : Buffer.from(last!);
  }

  /**
   * Every stored change in LMDB in revision order, for rebuilding the index on open. One
   * object, changed at each step: read it before the iteration moves on (`bytes` is LMDB's
   * buffer for the entry); each step's `rev` is a new object, the caller's to keep.
   */
  *durableEntries(): Generator<{ rev: Revision; tombstone: boolean; bytes: Uint8Array }> {
    // Not what an interrupted commit left above its mark (a snapshot copied during one has it).
    const mark = this.committedRevisionMark();
    const end = mark === undefined ? undefined : Buffer.from(encodeRevision({ main: mark + 1, sub: 0 }));
    // Views of LMDB's bytes rather than a copy of each key and value (the default decoders'):
    // the copies made the index rebuild at open 2-3x slower, most of it allocation and GC.
    const { db, at } = viewHandle(this.env, 'key');
    const entry: { rev: Revision; tombstone: boolean; bytes: Uint8Array } = { rev: { main: 0, sub: 0 }, tombstone: false, bytes: EMPTY_BYTES };
    for (const _ of db.getRange(end ? { start: FIRST_KEY, end } : { start: FIRST_KEY })) {
      entry.rev = decodeRevisionAt(at.keyBytes, at.keyStart, at.keyEnd, entry);
      // A plain view: Buffer.from's argument checks (FastBuffer) were 3% of a restart's profile.
      entry.bytes = new Uint8Array(at.valueBytes.buffer, at.valueBytes.byteOffset, at.valueLength);
      yield entry;
    }
  }

  /**
   * Writes the pending batch and meta to LMDB, after the commits asked for before it: in one
   * transaction, or for a batch of more than `commitEntriesPerTxn` entries in several (the mark
   * of the last whole commit, {@link META_COMMITTED_REVISION}, moves in the last, with the meta;
   * open drops what an interrupted one left). Reads keep being served from the batch until it
   * is all in LMDB.
   */
  async commit(): Promise<void> {
    const batch = this.pending;
    const meta = this.pendingMeta;
    const aux = this.pendingAux;
    this.pending = new WriteBatch();
    this.pendingMeta = new Map();
    this.pendingAux = new Map();
    if (batch.size === 0 && meta.size === 0 && aux.size === 0) {
      await this.committing;
      await this.env.committed;
      return;
    }
    this.inflight.push(batch);
    // One commit at a time: a later commit's mark (and consistent index) must never reach LMDB
    // before the last part of an earlier commit written in several transactions.
    const previous = this.committing;
    let done!: () => void;
    this.committing = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await previous;
      const written = this.writeBatch(batch, meta, aux);
      this.onCommit?.(written);
      await written;
    } finally {
      done();
    }
  }

  /** The part of {@link commit} that writes a batch taken from pending, after the commits before it. */
  private async writeBatch(batch: WriteBatch, meta: Map<string, Uint8Array>, aux: Map<string, Uint8Array | null>): Promise<void> {
    // Puts inside a transaction callback are written at once, so one key buffer per shape
    // can be reused for the whole batch.
    const liveKey = Buffer.alloc(REV_BYTES_LEN);
    const tombKey = Buffer.alloc(REV_BYTES_LEN + 1);
    const count = batch.size;
    const last = count > 0 ? batch.revs[count - 1] : undefined;
    const putEntries = (keyDb: Database<Buffer, Buffer>, from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const tombstone = batch.tombstone(i);
        // lmdb-js writes any Uint8Array under the binary encoding (by address, as a Buffer's);
        // its typings say Buffer.
        keyDb.put(encodeRevisionInto(tombstone ? tombKey : liveKey, batch.revs[i]!, tombstone), batch.bytes(i) as Buffer);
      }
    };
    // Copies: a failed commit merges later writes into these maps, and a defragmentation may
    // replay the bodies below later.
    const metaWrites = [...meta].map(([k, v]) => [Buffer.from(k, 'latin1'), Buffer.from(v)] as const);
    const auxWrites = [...aux].map(([k, v]) => [Buffer.from(k, 'latin1'), v === null ? null : Buffer.from(v)] as const);
    try {
      // A big batch: all but its last part in transactions of their own, with the mark of the
      // last whole commit written first (a file from before the mark gets it here), so open
      // knows these entries for unfinished until the last transaction moves the mark.
      let from = 0;
      while (count - from > this.commitEntriesPerTxn) {
        const start = from;
        const to = from + this.commitEntriesPerTxn;
        const mark = start === 0 ? Buffer.from(encodeUint64(this.durableRevision)) : undefined;
        await this.write(txnBody(to - start, (t) => {
          if (mark) t.metaDb.put(META_COMMITTED_REVISION, mark);
          putEntries(t.keyDb, start, to);
        }));
        from = to;
      }
      const start = from;
      const mark = last ? Buffer.from(encodeUint64(last.main)) : undefined;
      await this.write(txnBody(count - start + metaWrites.length + auxWrites.length, (t) => {
        putEntries(t.keyDb, start, count);
        if (mark) t.metaDb.put(META_COMMITTED_REVISION, mark);
        for (const [k, v] of metaWrites) t.metaDb.put(k, v);
        for (const [k, v] of auxWrites) {
          if (v === null) t.auxDb.remove(k);
          else t.auxDb.put(k, v);
        }
      }));
    } catch (err) {
      // Keep serving the batch from memory and retry it with the next commit.
      this.inflight.splice(this.inflight.indexOf(batch), 1);
      batch.addAll(this.pending);
      for (const [k, v] of this.pendingMeta) meta.set(k, v);
      for (const [k, v] of this.pendingAux) aux.set(k, v);
      this.pending = batch;
      this.pendingMeta = meta;
      this.pendingAux = aux;
      throw err;
    }
    this.env.resetReadTxn();
    if (last && last.main > this.durableRevision) this.durableRevision = last.main;
    this.inflight.splice(this.inflight.indexOf(batch), 1);
  }

  /** Up to `limit` LMDB revision keys with main <= maxMain, from `after` (exclusive) on. */
  durableRevisionKeys(after: Uint8Array | undefined, maxMain: number, limit: number): Buffer[] {
    const start = after ? Buffer.concat([Buffer.from(after), Buffer.from([0])]) : Buffer.alloc(REV_BYTES_LEN);
    const end = Buffer.from(encodeRevision({ main: maxMain + 1, sub: 0 }));
    const out: Buffer[] = [];
    for (const key of this.keyDb.getKeys({ start, end, limit })) out.push(Buffer.from(key));
    return out;
  }

  /** Deletes revision keys and writes meta in one asynchronous transaction. */
  async deleteRevisions(keys: Buffer[], meta: Array<[Buffer, Uint8Array]>): Promise<void> {
    const metaWrites = meta.map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const);
    await this.write(txnBody(keys.length + meta.length, (t) => {
      for (const k of keys) t.keyDb.remove(k);
      for (const [k, v] of metaWrites) t.metaDb.put(k, v);
    }));
    this.env.resetReadTxn();
  }

  async flushed(): Promise<void> {
    await this.env.flushed;
  }

  /** Copies the environment into the single file `path` (atomically renamed into place). */
  async backup(path: string): Promise<void> {
    // The env is directory-based, so LMDB's copy writes `<dir>/data.mdb`.
    const tmpDir = `${path}.tmp-${process.pid}`;
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true });
    try {
      await this.tracked(this.env.backup(tmpDir, false));
      await rename(join(tmpDir, 'data.mdb'), path);
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
  }

  /** `copy` of the current environment, registered until it settles (a swap closes the env after). */
  private tracked(copy: Promise<void>): Promise<void> {
    const settled = copy.then(() => undefined, () => undefined);
    this.copies.add(settled);
    void settled.then(() => this.copies.delete(settled));
    return copy;
  }

  /**
   * Reclaims the free pages of the data file: LMDB never shrinks it. Reads and writes go on
   * throughout; commits are held only for the swap at the end.
   *
   * Order: (1) starts a journal of write transactions and waits for those already running
   * to commit; (2) LMDB's compacting copy of the environment into `<dir>/defrag.tmp/`, on a
   * thread of the pool; (3) replays the journal (the transactions committed during the copy —
   * their writes are idempotent, so one also in the copy does no harm) onto the copy, in rounds
   * while writes go on; (4) holds new write transactions, waits for those submitted, replays
   * the rest, flushes and closes the copy, fsyncs it, renames it over `data.mdb`, fsyncs the
   * directory, opens it and makes it the environment reads and writes use, then lets writes
   * go; (5) closes the old environment once copies of it ({@link backup}) end.
   *
   * A crash before the rename leaves the old file (the next open removes the copy), after it
   * the new one, complete and fsynced.
   * @throws Error when `hooks.abort()` turns true before step 4 or a step fails before the
   *   rename: the copy is removed and the backend goes on unchanged. After the rename, a failure
   *   to open the copy leaves the backend unusable (`broken` set): the data file is the copy.
   */
  async defragment(dir: string, hooks: DefragHooks): Promise<DefragResult> {
    if (this.journal) throw new Error('mvcc: a defragmentation is already running');
    const copy = new DefragCopy(dir, hooks.entriesPerStep);
    const check = () => {
      if (hooks.abort()) throw new Error('mvcc: defragmentation stopped: the store is closing or being restored');
    };
    const beforeBytes = this.fileSizeBytes();
    try {
      check();
      await copy.makeDir();
      this.journal = copy.journal;
      // A body that ran before the journal began may still be committing: the copy must see it.
      await this.env.transaction(() => undefined);
      await hooks.onStep?.('copying');
      await this.tracked(this.env.backup(copy.dir, true));
      await hooks.onStep?.('copied');
      check();
      copy.open();
      const pause = async () => {
        await hooks.pause();
        check();
      };
      for (let round = 0; round < DEFRAG_REPLAY_ROUNDS && copy.behind > DEFRAG_TAIL_TXNS; round++) await copy.replay(pause);
      check();
    } catch (err) {
      this.journal = undefined;
      await copy.discard();
      throw err;
    }

    let release!: () => void;
    this.swapGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const old = this.env;
    try {
      try {
        // Bodies submitted before the gate run (and are journaled) before this one commits.
        await old.transaction(() => undefined);
        await hooks.onStep?.('swapping');
        await copy.replay();
        this.journal = undefined;
        await copy.close();
      } catch (err) {
        this.journal = undefined;
        await copy.discard();
        throw err;
      }
      renameSync(copy.dataFile, this.dataFile);
      try {
        // A fresh lock file, as a restore makes one: the old env still has the old one open.
        rmSync(join(dir, LOCK_FILE), { force: true });
        await fsyncPath(dir);
        await hooks.onStep?.('renamed');
        const env = openEnvironment(dir, this.mapSizeBytes);
        const trees = treesOf(env);
        this.env = env;
        this.keyDb = trees.keyDb;
        this.metaDb = trees.metaDb;
        this.auxDb = trees.auxDb;
      } catch (err) {
        this.broken = true;
        throw err;
      }
    } finally {
      this.swapGate = undefined;
      release();
    }
    await hooks.onStep?.('swapped');
    await Promise.all([...this.copies]);
    await old.close();
    await copy.removeDir();
    return { beforeBytes, afterBytes: this.fileSizeBytes(), replayedTxns: copy.journal.length };
  }

  /** Set when a defragmentation failed after its rename: the data file is not this environment's. */
  broken = false;

  fileSizeBytes(): number {
    return statSync(this.dataFile).size;
  }

  /** Pages reachable from the trees (root, key, meta) plus LMDB's two meta pages. */
  inUseBytes(): number {
    let pages = 2;
    for (const db of [this.env, this.keyDb, this.metaDb]) {
      const s = db.getStats() as { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    }
    const { pageSize } = this.env.getStats() as { pageSize: number };
    return pages * pageSize;
  }

  /**
   * Every entry of one tree in key order, with LMDB's buffers (valid only until the iteration
   * moves on): for export. The key tree stops at the committed mark, as {@link durableEntries}.
   */
  *rawEntries(tree: 'key' | 'meta' | 'aux'): Generator<{ key: Buffer; value: Buffer }> {
    let entry: { key: Buffer; value: Buffer } | undefined;
    const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length);
    for (const _ of this.rawEach(tree, (key, value) => { entry = { key: asBuffer(key), value: asBuffer(value) }; return true; })) yield entry!;
  }

  /**
   * {@link rawEntries} without a step of the generator per entry: calls `fn` for each, in key
   * order, and yields when `fn` returns true (for the caller to wait on something).
   */
  *rawEach(tree: 'key' | 'meta' | 'aux', fn: (key: Uint8Array, value: Uint8Array) => boolean): Generator<void> {
    const mark = tree === 'key' ? this.committedRevisionMark() : undefined;
    // Views of LMDB's bytes, not copies (copying made lmdb-js's iteration about 3x slower on 1M keys).
    const { db, at } = viewHandle(this.env, tree);
    for (const _ of db.getRange({ start: FIRST_KEY })) {
      // Plain Uint8Array views: Buffer.from's checks took as long as the iteration itself.
      const key = new Uint8Array(at.keyBytes.buffer, at.keyBytes.byteOffset + at.keyStart, at.keyEnd - at.keyStart);
      // Past the mark: a revision key's main part (8 bytes, big-endian) above it.
      if (mark !== undefined && revisionMain(key) > mark) return;
      if (fn(key, new Uint8Array(at.valueBytes.buffer, at.valueBytes.byteOffset, at.valueLength))) yield;
    }
  }

  /** Writes entries as they are into one tree, in one asynchronous transaction: for import. */
  async putRaw(tree: 'key' | 'meta' | 'aux', entries: ReadonlyArray<readonly [Buffer, Buffer]>): Promise<void> {
    await this.write(txnBody(entries.length, (t) => {
      const db = tree === 'key' ? t.keyDb : tree === 'meta' ? t.metaDb : t.auxDb;
      for (const [k, v] of entries) db.put(k, v);
    }));
    this.env.resetReadTxn();
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
