import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Backend, META_CONSISTENT_INDEX, type BackendOptions } from './backend.js';
import { openBucket, type Bucket } from './bucket.js';
import { DEFRAG_DIR, type DefragResult, type DefragStep } from './defrag.js';
import { MvccError } from './errors.js';
import { historyEvents } from './event-history.js';
import { Compactor } from './compactor.js';
import { HashStorage } from './hash-storage.js';
import { KeySpace, type EventListener, type EventListenerOptions, type MvccOpCounts } from './key-space.js';
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from './kv.js';
import { fsyncPath } from './lmdb-file.js';
import { loadState, type LoadedState } from './load-state.js';
import { backendOptionsOf, type MvccStoreOptions } from './mvcc-store-options.js';
import { Pacer, sortPaced, type ReadPacing } from './paced.js';
import { PacedReads } from './paced-reads.js';
import { filterRange, finishRange, planRange } from './range-plan.js';
import { assertRevisionNumber, encodeUint64 } from './revision.js';
import { openStagedSnapshot, replaceBackendFile, stageSnapshot } from './snapshot-file.js';
import { deleteRangeSteps, runWrite, txnSteps, type SteppedWrite } from './stepped-write.js';
import type { TreeIndex } from './tree-index.js';
import { isReadOnlyTxn } from './txn-check.js';
import { WriteTxn } from './write-txn.js';

/** Ops of the branch a txn's compares chose (`path[0]`, see checkedPath): about the changes it will make. */
function branchOps(req: TxnRequest, path: readonly boolean[]): number {
  return (path[0] ? req.success : req.failure).length;
}

/**
 * The revisioned key space (etcd's mvcc store): an in-memory index from key to its
 * generations of revisions, and an LMDB backend from revision to KeyValue.
 *
 * Writes are applied synchronously and are visible to reads at once; they reach LMDB
 * only when {@link commit} is called, in one transaction together with the consistent
 * index, so after a crash the store reopens exactly at its last commit and the caller
 * replays its log above {@link consistentIndex}. Every write takes the raft index of
 * the entry it applies; a write with an index <= consistentIndex is a no-op (replay).
 *
 * Deterministic: the same sequence of calls gives the same revisions, bytes and hashes.
 * Not safe for concurrent use from several threads; all methods run on the caller's.
 */
export class MvccStore {
  /** See {@link MvccOpCounts}; read it, never write it. */
  readonly opCounts: MvccOpCounts;
  /** The key index, the backend and the revisions, with reads and write primitives (key-space.ts). */
  private readonly space: KeySpace;
  private readonly compactor: Compactor;
  private ci = 0;
  private readonly restoreListeners = new Set<() => void>();
  /** Set while {@link defragment} runs: resolves (never rejects) when it ends. */
  private defragging: { done: Promise<void>; result: Promise<DefragResult> } | undefined;
  /** Set while {@link restore} runs: writes are refused, commits and close wait for it. */
  private restoring: Promise<void> | undefined;
  private restoreSettled: (() => void) | undefined;
  private commitChain: Promise<void> = Promise.resolve();
  private closing = false;
  private closed = false;
  /** Reads running in steps ({@link rangePaced}, {@link hashPaced}), which compactions wait for. */
  private readonly pacedReads: PacedReads;
  private readonly hashes: HashStorage;
  /** See {@link holdConsistentIndex}: setConsistentIndex keeps the index below this (undefined: no hold). */
  private ciHold: number | undefined;
  /** The highest index setConsistentIndex was given while held (0: none). */
  private heldCi = 0;

  private readonly dir: string;
  private readonly backendOptions: BackendOptions;
  /** See MvccStoreOptions.onHash; may be set after opening (metrics are bound later than the store). */
  onHash: MvccStoreOptions['onHash'];
  /** See MvccStoreOptions.onCompactionStep; may be set after opening. */
  onCompactionStep: MvccStoreOptions['onCompactionStep'];
  /** See MvccStoreOptions.onCompaction; may be set after opening. */
  onCompaction: MvccStoreOptions['onCompaction'];

  private constructor(backend: Backend, opts: MvccStoreOptions) {
    this.space = new KeySpace(backend);
    this.opCounts = this.space.opCounts;
    this.dir = opts.dir;
    this.onHash = opts.onHash;
    this.onCompactionStep = opts.onCompactionStep;
    this.onCompaction = opts.onCompaction;
    this.backendOptions = backendOptionsOf(opts);
    const store = this;
    this.pacedReads = new PacedReads({
      get backend() {
        return store.backend;
      },
      checkOpen: () => this.checkOpen(),
    });
    this.compactor = new Compactor(
      {
        space: this.space,
        pacedReads: this.pacedReads.running,
        get closed() {
          return store.closed;
        },
        get closing() {
          return store.closing;
        },
        commit: () => this.commitInner(),
        get onCompactionStep() {
          return store.onCompactionStep;
        },
        get onCompaction() {
          return store.onCompaction;
        },
      },
      opts.compactionBatchLimit ?? 1000,
    );
    this.hashes = new HashStorage({
      space: this.space,
      compactor: this.compactor,
      pacedReads: this.pacedReads,
      get restoring() {
        return store.restoring;
      },
      checkOpen: () => this.checkOpen(),
      commit: () => this.commitInner(),
      get onHash() {
        return store.onHash;
      },
    });
  }

  // The key space's state, as the store's own code reads and replaces it (open, restore, compaction).
  private get backend(): Backend {
    return this.space.backend;
  }
  private set backend(backend: Backend) {
    this.space.backend = backend;
  }
  private get currentRev(): number {
    return this.space.currentRev;
  }
  private get compactMainRev(): number {
    return this.space.compactMainRev;
  }
  private get writing(): Promise<void> | undefined {
    return this.space.writing;
  }

  /**
   * Opens the store in `opts.dir`, creating it if empty, otherwise rebuilding the index
   * from LMDB and resuming a compaction that a crash interrupted (see {@link whenCompacted}).
   */
  static async open(opts: MvccStoreOptions): Promise<MvccStore> {
    await mkdir(opts.dir, { recursive: true });
    // What a crash left of a defragmentation before its rename (the data file is the old one).
    await rm(join(opts.dir, DEFRAG_DIR), { recursive: true, force: true });
    const backend = Backend.open(opts.dir, backendOptionsOf(opts));
    const store = new MvccStore(backend, opts);
    let state: LoadedState;
    try {
      opts.onBackendOpened?.();
      state = loadState(backend);
    } catch (err) {
      await backend.close();
      throw err;
    }
    store.install(state);
    return store;
  }

  /** Makes `state` (loaded from this.backend's LMDB) the store's state; resumes its compaction. */
  private install(state: LoadedState): void {
    this.space.install(state);
    this.ci = state.ci;
    this.heldCi = 0;
    if (state.scheduled !== 0 && state.scheduled > state.compactMainRev) this.compactor.schedule(state.scheduled);
  }

  /** Keys that exist at the newest revision (etcd's etcd_debugging_mvcc_keys_total); O(1). */
  get keyCount(): number {
    return this.space.liveKeys;
  }

  /** Newest revision; 1 for an empty store (etcd's convention: the first write is 2). */
  get currentRevision(): number {
    return this.currentRev;
  }

  /** Revision of the last compaction, 0 if there has been none. Reads below it fail. */
  get compactedRevision(): number {
    return Math.max(0, this.compactMainRev);
  }

  /** Last raft index whose effects are in the store (durable once committed). */
  get consistentIndex(): number {
    return this.ci;
  }

  /**
   * Records that the entry at `index` was applied without touching the key space (a
   * lease grant, a conf change, ...), so the next commit persists it. Ignores indexes
   * <= consistentIndex.
   */
  setConsistentIndex(index: number): void {
    this.checkWritable();
    assertRevisionNumber(index, 'index');
    if (this.ciHold !== undefined && index >= this.ciHold) {
      this.heldCi = Math.max(this.heldCi, index);
      return;
    }
    if (index > this.ci) this.ci = index;
  }

  /**
   * For an apply loop that queues entries while a write runs in steps: until released
   * (`undefined`), {@link setConsistentIndex} never moves the consistent index to `below` or
   * past it — the entry at `below` is still to be applied, and an index at or above it would
   * make that entry a no-op here and, once committed, skip it after a crash. Such a call is
   * remembered and takes effect when the hold is released or raised above it. Writes
   * (put, deleteRange, txn, compact) set the index of their own entry as before.
   */
  holdConsistentIndex(below: number | undefined): void {
    if (below !== undefined) assertRevisionNumber(below, 'index');
    this.ciHold = below;
    if (this.heldCi !== 0 && (below === undefined || this.heldCi < below)) {
      if (this.heldCi > this.ci) this.ci = this.heldCi;
      this.heldCi = 0;
    }
  }

  /**
   * Makes puts inside a txn refuse (MvccError `lease_not_found`, for the whole txn, before any
   * change) a lease for which `exists` is false, as etcd's apply does. Top-level puts are the
   * caller's to check. Undefined: leases are not checked.
   */
  setLeaseChecker(exists: ((lease: bigint) => boolean) | undefined): void {
    this.space.leaseExists = exists;
  }

  /**
   * The bucket `name` (letters, digits, '-' and '_'). The object follows the store's
   * backend: after a {@link restore} it reads and writes the restored one.
   * Its `put`/`delete` throw MvccError `closed` while a restore runs.
   */
  bucket(name: string): Bucket {
    return openBucket(name, {
      writable: () => {
        this.checkWritable();
        return this.backend;
      },
      current: () => this.backend,
    });
  }

  /** Resolves once every commit made so far is on stable storage (not just in LMDB). */
  async flushed(): Promise<void> {
    if (this.restoring) await this.restoring;
    await this.commitChain;
    await this.backend.flushed();
  }

  private checkOpen(): void {
    if (this.closed || this.closing) throw new MvccError('closed');
  }

  /** Writes are refused while closed and while a restore replaces the state they would change. */
  private checkWritable(): void {
    if (this.closed || this.closing || this.restoring) throw new MvccError('closed');
  }

  /** True (and records the index) when an entry at `index` must be applied now. */
  private admit(index: number): boolean {
    this.checkWritable();
    // The apply loop applies entries in order: one begun in steps must end before the next.
    if (this.writing) throw new Error('mvcc: a write is running in steps; the next write must wait for it');
    // Raft indexes start at 1; a 0 would silently turn every write into a no-op.
    if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`raft index must be a positive safe integer, got ${index}`);
    if (index <= this.ci) return false;
    this.ci = index;
    return true;
  }

  // ---------------------------------------------------------------- reads

  /**
   * Serves a range at `req.revision` (or the newest) with etcd's semantics for sort,
   * limit/more, count, keysOnly, countOnly and the min/max filters.
   * @throws MvccError `future_revision` when revision > currentRevision, `compacted`
   *   when revision < compactedRevision.
   */
  range(req: RangeRequest): RangeResponse {
    this.checkOpen();
    return this.space.rangeAt(req, this.currentRev);
  }

  /**
   * {@link range} in steps, for reads too big to serve in one go: the same answer as `range`
   * called at once, given the same request and state, whatever writes, compactions and
   * commits run during its pauses. A read that fits in one step is served without pausing.
   *
   * Consistency: the revision is fixed at the call (compacted/future errors are decided
   * then). The index is walked on a pinned copy-on-write view ({@link TreeIndex.pin}), so a
   * compaction during the read does not change what it sees; values are read from the
   * backend, whose deletions by compactions scheduled during the read wait until it ends
   * (they only free space: no read at or above the compacted revision needs them).
   * @throws MvccError as {@link range}; `closed` when the store closes or its state is
   *   replaced by a {@link restore} during the read.
   */
  async rangePaced(req: RangeRequest, pacing: ReadPacing): Promise<RangeResponse> {
    this.checkOpen();
    this.opCounts.ranges++;
    const curRev = this.currentRev;
    const plan = planRange(req);
    const read = this.pacedReads.start(new Pacer(pacing));
    try {
      const rr = await this.space.rangeKeysPaced(req.key, req.rangeEnd, plan.revision, curRev, plan.fetchLimit, req.countOnly === true, read);
      let kvs = filterRange(rr.kvs, plan);
      if (plan.sortOrder !== 'none') {
        const cmp = plan.comparator();
        kvs = kvs.length <= read.pacer.step ? kvs.slice().sort(cmp) : await sortPaced(kvs, cmp, read.pacer, read.check);
      }
      return finishRange(kvs, plan, req, rr);
    } finally {
      read.end();
    }
  }

  // ---------------------------------------------------------------- writes

  /**
   * Applies a put as the raft entry at `index`: one new revision.
   * No-op returning `{ revision: currentRevision }` when index <= consistentIndex.
   * @throws MvccError `key_not_found` for ignoreValue/ignoreLease on a missing key
   *   (the index still counts as applied).
   */
  put(req: PutRequest, index: number): PutResponse {
    if (!this.admit(index)) return { revision: this.currentRev };
    const tw = new WriteTxn(this.currentRev, this.space.wantsEvents());
    const resp = this.space.applyPut(tw, req);
    this.space.end(tw);
    return resp;
  }

  /**
   * Applies a deleteRange as the raft entry at `index`. A new revision only when some
   * key was deleted. No-op (nothing deleted) when index <= consistentIndex.
   */
  deleteRange(req: DeleteRangeRequest, index: number): DeleteRangeResponse {
    if (!this.admit(index)) return { revision: this.currentRev, deleted: 0, prevKvs: [] };
    const tw = new WriteTxn(this.currentRev, this.space.wantsEvents());
    const resp = this.space.applyDeleteRange(tw, req);
    this.space.end(tw);
    return resp;
  }

  /**
   * Serves a txn without writes (only ranges, at any depth) as a read: no revision, no
   * consistent index, nothing to log — etcd answers such txns without going through raft.
   * @throws RangeError if the txn contains a put or a delete (those must go through `txn`).
   * @throws MvccError `future_revision`/`compacted` for a range op.
   */
  readTxn(req: TxnRequest): TxnResponse {
    this.checkOpen();
    if (!isReadOnlyTxn(req)) throw new RangeError('mvcc: readTxn given a txn that writes');
    const path = this.space.checkedPath(req, false);
    const tw = new WriteTxn(this.currentRev, false);
    const ops = this.space.opsSoFar();
    const resp = this.space.applyTxn(tw, req, path, { i: 0 });
    this.space.countTxn(ops);
    resp.revision = tw.beginRev;
    return resp;
  }

  /**
   * Applies a txn as the raft entry at `index`: compares (nested ones too) are
   * evaluated against the state before the txn, then the chosen ops run in order and
   * see each other's changes; all changes share one main revision (sub 0, 1, ...).
   * Validation happens before any change, so an error leaves the store unchanged.
   * No-op returning an empty failed response when index <= consistentIndex.
   * @throws MvccError `key_not_found` (ignoreValue/ignoreLease on a key missing before
   *   the txn or at that point of it), `future_revision`/`compacted` for a range op.
   */
  txn(req: TxnRequest, index: number): TxnResponse {
    if (!this.admit(index)) return { revision: this.currentRev, succeeded: false, responses: [] };
    const path = this.space.checkedPath(req, true);
    const tw = new WriteTxn(this.currentRev, this.space.wantsEvents(), branchOps(req, path));
    const ops = this.space.opsSoFar();
    const resp = this.space.applyTxn(tw, req, path, { i: 0 });
    this.space.countTxn(ops);
    resp.revision = tw.readRev;
    this.space.end(tw);
    return resp;
  }

  /**
   * {@link deleteRange} in steps, for ranges that may hold many keys: the same response,
   * events, revisions, bytes and hashes as `deleteRange`, given the same state. Walks and
   * deletes `pacing.entriesPerStep` keys per step; a delete that fits in one step is applied
   * synchronously (`done`), as `deleteRange` would.
   *
   * Otherwise, until `response` resolves: reads (range, paced ranges, hashes, eventsBetween)
   * see the store at the previous revision; {@link commit} (and whatever commits: snapshotTo,
   * hashPaced, close) waits for the end, so no part of the write reaches LMDB alone; a restore
   * waits for it before replacing the state; and any other write (put, deleteRange, txn,
   * compact, their stepped forms) throws — the caller applies its log in order and must
   * wait. The revision is published, and the listeners called, in one synchronous step at the end.
   * @throws as {@link deleteRange}, before any change.
   */
  deleteRangeInSteps(req: DeleteRangeRequest, index: number, pacing: ReadPacing): SteppedWrite<DeleteRangeResponse> {
    const pacer = new Pacer(pacing);
    if (!this.admit(index)) return { done: true, response: { revision: this.currentRev, deleted: 0, prevKvs: [] } };
    const tw = new WriteTxn(this.currentRev);
    return runWrite(this.space, tw, deleteRangeSteps(this.space, tw, req, pacer.step), pacer);
  }

  /**
   * {@link txn} in steps (a pause after about `pacing.entriesPerStep` keys written or read), for
   * txns with many ops or ranged deletes; the same answer and effects as `txn`, with the
   * guarantees of {@link deleteRangeInSteps}. Compares and checks run first, in one go.
   * @throws as {@link txn}, before any change.
   */
  txnInSteps(req: TxnRequest, index: number, pacing: ReadPacing): SteppedWrite<TxnResponse> {
    const pacer = new Pacer(pacing);
    if (!this.admit(index)) return { done: true, response: { revision: this.currentRev, succeeded: false, responses: [] } };
    const path = this.space.checkedPath(req, true);
    // Always recording: a listener may come to want the events before the write ends.
    const tw = new WriteTxn(this.currentRev, true, branchOps(req, path));
    const host = this.space;
    const ops = this.space.opsSoFar();
    const countTxn = (): void => this.space.countTxn(ops);
    function* body(): Generator<number, TxnResponse> {
      const resp = yield* txnSteps(host, tw, req, path, { i: 0 }, pacer.step);
      countTxn();
      resp.revision = tw.readRev;
      return resp;
    }
    return runWrite(host, tw, body(), pacer);
  }

  /** True while a write runs in steps (its revision not yet published). */
  get writeInProgress(): boolean {
    return this.writing !== undefined;
  }

  // ---------------------------------------------------------------- watch support

  /**
   * Subscribes to changes: `listener` runs synchronously inside each write that creates
   * a revision, after the store reflects it, with every event of that revision. prevKv
   * is the key at revision - 1 (absent for creates), as etcd's watch fills it. A
   * listener must not throw: its exception is rethrown from a microtask (the write
   * stands). Returns the unsubscribe function. With `options.wantsPrevKv`, prevKv is read
   * only for writes at which it, or another listener, asks for it.
   */
  onEvents(listener: EventListener, options: EventListenerOptions = {}): () => void {
    this.space.listeners.set(listener, options);
    return () => {
      this.space.listeners.delete(listener);
    };
  }

  /**
   * History for catching up watchers: the events of revisions fromRevision..toRevision
   * (inclusive) in revision order. Returns whole revisions only, stopping before the
   * revision that would take the count past `limit` (but always returns at least the
   * first revision in range, so callers make progress). With `withPrevKv`, events carry
   * the key's previous value when it is still reachable (not compacted).
   * @throws MvccError `compacted` when fromRevision < compactedRevision, `future_revision`
   *   when fromRevision > currentRevision + 1.
   */
  eventsBetween(fromRevision: number, toRevision: number, limit: number, withPrevKv = false): Event[] {
    this.checkOpen();
    return historyEvents(this.space, this.compactor, fromRevision, toRevision, limit, withPrevKv);
  }

  // ---------------------------------------------------------------- compaction

  /**
   * Compacts history at `revision` as the raft entry at `index`: reads below it fail
   * from now on, reads at or above it are unchanged, and the newest version <= revision
   * of every live key is kept. The index is compacted at once; `done` resolves when
   * the backend has deleted the dropped revisions (in batches, after committing pending
   * writes). A crash before `done` is resumed by the next open.
   * No-op (done at once) when index <= consistentIndex.
   * @throws MvccError `compacted` when revision <= the last compaction (negative ones too),
   *   `future_revision` when revision > currentRevision (the index still counts).
   */
  compact(revision: number, index: number): { done: Promise<void> } {
    if (!this.admit(index)) return { done: Promise.resolve() };
    // A negative revision is below every compaction, as in etcd: a refusal, not a bad argument.
    if (revision <= this.compactMainRev) throw new MvccError('compacted', this.compactMainRev);
    assertRevisionNumber(revision, 'revision');
    if (revision > this.currentRev) throw new MvccError('future_revision');
    return { done: this.compactor.schedule(revision) };
  }

  /**
   * {@link compact} with the index pass in steps (about `pacing.entriesPerStep` × 8 keys each):
   * the same effects. From the call, reads below `revision` fail (as after `compact`) and reads at
   * or above it are unchanged; while the pass runs, hash() and hashKV() finish it first (they
   * walk the index as compacted), eventsBetween treats keys not compacted yet as the pass will
   * leave them, commits and a restore wait for it, other writes are refused (as during
   * {@link txnInSteps}). The backend deletion is scheduled when the pass ends; `response.done`
   * resolves when it is done, as `compact`'s `done`.
   * @throws as {@link compact}, before any change.
   */
  compactInSteps(revision: number, index: number, pacing: ReadPacing): SteppedWrite<{ done: Promise<void> }> {
    const pacer = new Pacer(pacing);
    if (!this.admit(index)) return { done: true, response: { done: Promise.resolve() } };
    if (revision <= this.compactMainRev) throw new MvccError('compacted', this.compactMainRev);
    assertRevisionNumber(revision, 'revision');
    if (revision > this.currentRev) throw new MvccError('future_revision');
    return this.compactor.inSteps(revision, pacer);
  }

  /** Resolves when every compaction scheduled so far (including one resumed by open) is done. */
  whenCompacted(): Promise<void> {
    return this.compactor.idle;
  }

  // ---------------------------------------------------------------- durability

  /**
   * Writes every change applied since the last commit, plus the consistent index and
   * compaction state, to LMDB in ONE transaction. Does not block the event loop; reads
   * and writes go on while it is in flight (later writes go to the next commit).
   * Commits complete in call order. After it resolves, a reopened store has at least
   * this state.
   */
  commit(): Promise<void> {
    this.checkOpen();
    // During a restore there is nothing of the old state worth committing; commit the new one.
    if (this.restoring) return this.restoring.then(() => this.commit());
    return this.commitInner();
  }

  private commitInner(): Promise<void> {
    if (this.writing) {
      // Half a write must never reach LMDB (with any consistent index): commit once it ends.
      const p = this.writing.then(() => this.commitInner());
      this.commitChain = p.catch(() => undefined);
      return p;
    }
    // The batch and the consistent index are taken synchronously, together: an index in
    // LMDB never runs ahead of (or behind) the writes stored with it.
    this.backend.setMeta(META_CONSISTENT_INDEX, encodeUint64(this.ci));
    const p = this.backend.commit();
    this.commitChain = p.catch(() => undefined);
    return p;
  }

  // ---------------------------------------------------------------- hashes (hash-storage.ts)

  /**
   * CRC-32C of the whole logical backend as etcd's Hash computes it over bolt: bucket
   * "key" and its entries, then bucket "meta" without the consistent index. Computed
   * as if pending compactions had finished, so it depends only on applied history.
   */
  hash(): number {
    return this.hashes.hash();
  }

  /**
   * etcd's HashKV: CRC-32C over "key" and every (revision key, KeyValue bytes) kept in
   * (compactRevision, revision], plus the revisions <= compactRevision that a
   * compaction at `revision` would keep. revision 0 means the current revision.
   * `compactRevision` is -1 when the store was never compacted (as etcd reports).
   * Equal to real etcd's value for the same history.
   * @throws MvccError `compacted` (0 < revision <= compacted), `future_revision`.
   */
  hashKV(revision: number): { hash: number; compactRevision: number; revision: number } {
    return this.hashes.hashKV(revision);
  }

  /**
   * {@link hash} in steps, read from the backend rather than the index: the hash of the state
   * at some moment between the call and the answer (with everything applied before the call).
   *
   * Consistency: it first commits, and waits until no compaction is pending, so that LMDB
   * holds exactly a state the store went through — every revision up to R (the newest
   * committed) and compaction C finished; R and C are taken at that instant, with the read
   * registered, so compactions scheduled later keep their deletions until the read ends, and
   * later commits only add revisions above R, which it skips. It then hashes LMDB's "key"
   * bucket up to R in revision order, which is the order and bytes {@link hash} uses.
   * @throws MvccError `closed` when the store closes, or is restored during the read.
   */
  hashPaced(pacing: ReadPacing): Promise<number> {
    return this.hashes.hashPaced(pacing);
  }

  /**
   * {@link hashKV} in steps, from the backend (see {@link hashPaced} for how the state is
   * fixed; store-hash.ts for how the kept revisions are found there). `revision` 0 means the
   * newest revision of that state; the answer's `revision` is that state's newest revision and
   * `compactRevision` its compaction. Revisions are checked at the call and again against the
   * state read (a compaction may have run in between).
   * @throws MvccError `compacted`, `future_revision`, `closed`.
   */
  hashKVPaced(revision: number, pacing: ReadPacing): Promise<{ hash: number; compactRevision: number; revision: number }> {
    return this.hashes.hashKVPaced(revision, pacing);
  }

  // ---------------------------------------------------------------- sizes, snapshots

  /** Size of the LMDB data file in bytes (etcd's db size). */
  dbSizeBytes(): number {
    return this.backend.fileSizeBytes();
  }

  /** Bytes of the LMDB file holding live pages (file size minus free pages). */
  dbSizeInUseBytes(): number {
    return this.backend.inUseBytes();
  }

  /**
   * Commits, then writes a consistent copy of the whole backend (data, consistent index,
   * compaction state) to the file `path`. Restore it with {@link restore} (an open store)
   * or {@link MvccStore.restoreFrom} (a directory).
   */
  async snapshotTo(path: string): Promise<void> {
    if (this.restoring) await this.restoring;
    this.checkOpen();
    await this.commitInner();
    await this.backend.backup(path);
  }

  /**
   * Reclaims the backend's free space (etcd's defrag): LMDB never shrinks its file, so after a
   * compaction frees pages the file keeps its size until this rewrites it compacted. The store
   * keeps serving throughout: reads and writes as usual, commits too except during the swap
   * at the end (writes applied meanwhile wait in memory for the next commit; `onStep`'s
   * 'swapping' to 'swapped' is that time). Reads, hashes and the consistent index are the same
   * before and after; only {@link dbSizeBytes} changes. See Backend.defragment for the order of the steps: a crash at
   * any point leaves the old file or the new one, both complete.
   *
   * A call while one runs joins it. A restore or close asked for during the copy stops it
   * (the promise rejects, nothing changed); during the swap they wait for it.
   * @param pacing - the replay of writes made during the copy shares the thread in steps of
   *   `entriesPerStep` entries; the copy itself runs off the thread.
   * @param onStep - observer of the steps (logs; crash tests stop the process there), awaited;
   *   at 'swapping' and 'renamed' it must not wait for a commit, which waits for the swap.
   * @throws MvccError `closed` when closed; Error when a step fails (the store goes on unchanged,
   *   unless the failure came after the rename: then the store is closed).
   */
  defragment(pacing: ReadPacing, onStep?: (step: DefragStep) => void | Promise<void>): Promise<DefragResult> {
    this.checkOpen();
    if (this.defragging) return this.defragging.result;
    const pacer = new Pacer(pacing);
    const result = (async () => {
      if (this.restoring) await this.restoring;
      this.checkOpen();
      try {
        return await this.backend.defragment(this.dir, {
          pause: () => pacer.pause(),
          entriesPerStep: pacer.step,
          abort: () => this.closing || this.closed || this.restoring !== undefined,
          ...(onStep ? { onStep } : {}),
        });
      } catch (err) {
        if (this.backend.broken) {
          this.closed = true;
          await this.backend.close().catch(() => undefined);
        }
        throw err;
      } finally {
        this.defragging = undefined;
      }
    })();
    this.defragging = { result, done: result.then(() => undefined, () => undefined) };
    return result;
  }

  /**
   * Replaces the backend in `dir` with a snapshot file made by {@link snapshotTo}; then
   * open the store on `dir`. No store may be open on `dir` (for an open store, use
   * {@link restore}).
   *
   * Durable when it resolves: the copy is fsynced BEFORE it is renamed over the data file,
   * and the directory (and the parent of a directory created here) AFTER, so a power loss
   * leaves either the old backend or the complete snapshot, never a torn or vanished file.
   * The caller may delete `snapshotPath` once this resolves.
   */
  static async restoreFrom(snapshotPath: string, dir: string): Promise<void> {
    await replaceBackendFile(snapshotPath, dir);
  }

  /**
   * Replaces the state of this open store with the snapshot file `snapshotPath` (made by
   * {@link snapshotTo}, here or on another member), in place: the object, its buckets and
   * its `onEvents` listeners stay valid, as etcd's `kv.Restore` after a raft snapshot.
   *
   * Order: (1) copies the file into the store's directory, fsyncs it and validates the
   * copy by opening it read-only and rebuilding the key index from it — the current state
   * is untouched and keeps serving reads; (2) stops a running compaction at its next
   * batch and waits for commits in flight; (3) synchronously renames the copy over the
   * data file, reopens LMDB on it and installs the rebuilt state (no read ever sees a mix
   * of the two), resuming a compaction the snapshot had scheduled; (4) calls the
   * {@link onRestore} listeners; (5) closes the old LMDB environment and fsyncs the
   * directory. Changes applied and not yet committed before the call are discarded.
   *
   * Afterwards `consistentIndex`, `currentRevision`, `compactedRevision`, reads, `hash()`
   * and `hashKV()` are those of a store opened on the snapshot; the consistent index may
   * be lower or higher than before (the caller decides). No events are emitted for the
   * restore. `snapshotPath` is only read; the caller deletes it.
   *
   * While it runs, writes (put, deleteRange, txn, compact, setConsistentIndex, bucket
   * puts and deletes) throw MvccError `closed`; reads see the old state; `commit`,
   * `flushed`, `snapshotTo` and `close` wait until the new state is installed (step 3)
   * or the restore failed, then act on whichever state the store has.
   * @throws Error when the file is missing, not a complete LMDB file, or holds no
   *   consistent index — before anything is changed, so the store stays as it was; when
   *   reopening LMDB fails after the swap, the store is closed (its file is the snapshot's).
   * @throws Error when another restore is running; MvccError `closed` when closed.
   * @param pacing - rebuild the key index from the copy in steps (step 1), so a member that
   *   restores a large snapshot keeps answering heartbeats; without it, in one go.
   */
  async restore(snapshotPath: string, pacing?: ReadPacing): Promise<void> {
    this.checkOpen();
    if (this.restoring) throw new Error('mvcc: a restore is already running');
    this.restoring = new Promise<void>((resolve) => {
      this.restoreSettled = resolve;
    });
    try {
      await this.restoreInPlace(snapshotPath, pacing ? new Pacer(pacing) : undefined);
    } finally {
      this.endRestore();
    }
  }

  /** Ends the restoring phase (writes allowed again, waiters released); idempotent. */
  private endRestore(): void {
    const settle = this.restoreSettled;
    this.restoring = undefined;
    this.restoreSettled = undefined;
    settle?.();
  }

  private async restoreInPlace(snapshotPath: string, pacer: Pacer | undefined): Promise<void> {
    const staged = await stageSnapshot(snapshotPath, this.dir, pacer);

    // Writes are refused since the start, so only work begun before can be in flight.
    this.compactor.halted = true;
    while (this.writing) await this.writing;
    // A defragmentation past its copy swaps files: let it end (earlier, it stops by itself).
    if (this.defragging) await this.defragging.done;
    await this.compactor.idle;
    await this.commitChain;

    const old = this.backend;
    let fresh: Backend;
    try {
      fresh = openStagedSnapshot(staged, this.dir, this.backendOptions);
    } catch (err) {
      // The data file may already be the snapshot: serving the old state would lie.
      this.closed = true;
      this.compactor.halted = false;
      await old.close().catch(() => undefined);
      throw err;
    }
    this.backend = fresh;
    this.compactor.halted = false;
    this.install(staged.state);
    this.endRestore();
    for (const l of [...this.restoreListeners]) {
      try {
        l();
      } catch (err) {
        // The restore is done and stands; fail loudly, but elsewhere (as onEvents).
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    // No read refers to the old env any more; closing it releases its map of the unlinked file.
    await old.close();
    await fsyncPath(this.dir);
  }

  /**
   * Subscribes to restores: `listener` runs synchronously after each successful
   * {@link restore}, once the store serves the snapshot's state and accepts writes, and
   * before the restore's promise resolves. Dependants reload what they keep from the
   * store there (the watchable store resyncs its watchers; the lessor reloads its
   * bucket). A listener must not throw: its exception is rethrown from a microtask.
   * Returns the unsubscribe function.
   */
  onRestore(listener: () => void): () => void {
    this.restoreListeners.add(listener);
    return () => {
      this.restoreListeners.delete(listener);
    };
  }

  /**
   * Stops a running compaction at its next batch (the next open resumes it), commits
   * pending writes and closes LMDB. The store is unusable afterwards.
   */
  async close(): Promise<void> {
    if (this.restoring) await this.restoring;
    if (this.closed || this.closing) return;
    this.closing = true;
    if (this.defragging) await this.defragging.done;
    await this.compactor.idle;
    await this.commitInner().catch(() => undefined);
    await this.commitChain;
    this.closed = true;
    this.space.listeners.clear();
    this.restoreListeners.clear();
    await this.backend.close();
  }
}

