import type { Backend } from './backend.js';
import { ByteSlab } from './byte-slab.js';
import { MvccError } from './errors.js';
import { KeyIndex, type KeyAt } from './key-index.js';
import { encodeKeyValue, encodeKeyValueOf, encodeKeyValueOwned, type KeyValue } from './key-value.js';
import type { LoadedState } from './load-state.js';
import type {
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
import { filterRange, finishRange, planRange } from './range-plan.js';
import type { PacedRead } from './paced-reads.js';
import type { Revision } from './revision.js';
import { rangeEndOf, type WriteHost } from './stepped-write.js';
import { keyString, TreeIndex } from './tree-index.js';
import { checkTxn, compareToPath, type TxnCheckView } from './txn-check.js';
import type { Change, WriteTxn } from './write-txn.js';

/**
 * Operations since the store was opened, counted as etcd's mvcc metrics count them
 * (etcd_mvcc_range_total, _put_total, _delete_total, _txn_total): every range, put and
 * deleteRange, also inside a txn, and a txn when it ran more than one of them. Monotonic.
 */
export interface MvccOpCounts {
  ranges: number;
  puts: number;
  deletes: number;
  txns: number;
  /** Key and value bytes of every put (the value it stored: with ignore_value, the previous one), as etcd's total_put_size. */
  putBytes: number;
}

/** Called synchronously after each revision is applied, with that revision's changes in order. */
export type EventListener = (events: Event[], revision: number) => void;

export interface EventListenerOptions {
  /**
   * Asked at each write: whether this listener needs the events' `prevKv` now. Reading a
   * previous value costs an LMDB read per change; when no listener needs it, events carry
   * none. Without this option the listener always gets `prevKv`.
   */
  wantsPrevKv?: () => boolean;
  /**
   * Asked as each write begins (and again as a write in steps ends): whether this listener
   * needs the write's events. It is not called for a write it does not want; when no listener
   * wants a write, its events (and the KeyValue objects they would hold: ~400 B per put) are
   * never built. Without this option the listener is called at every write.
   */
  wantsEvents?: () => boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * The revisioned key space of an {@link MvccStore}: the key index, the backend's revisions and
 * the newest and compacted revisions, with the reads and the write primitives over them — what a
 * range, a put, a delete and a txn do, and the events they hand to the listeners. The store owns
 * one and adds admission (raft indexes), durability, compaction, hashes and restore around it.
 */
export class KeySpace implements WriteHost, TxnCheckView {
  readonly opCounts: MvccOpCounts = { ranges: 0, puts: 0, deletes: 0, txns: 0, putBytes: 0 };
  index = new TreeIndex();
  /** Keys that exist at the newest revision; kept as writes go, counted once per install. */
  liveKeys = 0;
  currentRev = 1;
  /** etcd's compactMainRev: -1 until the first compaction. */
  compactMainRev = -1;
  /** Each listener, with its options. */
  readonly listeners = new Map<EventListener, EventListenerOptions>();
  leaseExists: ((lease: bigint) => boolean) | undefined;
  /** Set while a write runs in steps (MvccStore.txnInSteps): resolves when its revision is published. */
  writing: Promise<void> | undefined;

  constructor(public backend: Backend) {}

  /** Makes `state` (loaded from this.backend's LMDB) the key space's: its index, live keys and revisions. */
  install(state: LoadedState): void {
    this.index = state.index;
    let live = 0;
    state.index.forEach((_k, ki) => {
      if (ki.isLive()) live++;
    });
    this.liveKeys = live;
    this.currentRev = state.currentRev;
    this.compactMainRev = state.compactMainRev;
    this.backend.durableRevision = state.currentRev;
  }

  // ---------------------------------------------------------------- reads

  rangeAt(req: RangeRequest, curRev: number): RangeResponse {
    this.opCounts.ranges++;
    const plan = planRange(req);
    const rr = this.rangeKeys(req.key, req.rangeEnd, plan.revision, curRev, plan.fetchLimit, req.countOnly === true);
    let kvs = filterRange(rr.kvs, plan);
    if (plan.sortOrder !== 'none') {
      const cmp = plan.comparator();
      // Stable sort: ties keep key order (what etcd's sort gives for small results).
      kvs = kvs.slice().sort(cmp);
    }
    return finishRange(kvs, plan, req, rr);
  }

  /** etcd's rangeKeys: index lookup at a revision, then values from the backend. */
  rangeKeys(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    reqRev: number,
    curRev: number,
    limit: number,
    countOnly: boolean,
  ): { kvs: KeyValue[]; count: number; rev: number } {
    let rev = reqRev;
    if (rev > curRev) throw new MvccError('future_revision');
    if (rev <= 0) rev = curRev;
    if (rev < this.compactMainRev) throw new MvccError('compacted', this.compactMainRev);
    const revs = this.index.revisions(keyString(key), rangeEndOf(rangeEnd), rev);
    if (revs.length === 0 || countOnly) return { kvs: [], count: revs.length, rev: curRev };
    const n = limit <= 0 || limit > revs.length ? revs.length : limit;
    const kvs: KeyValue[] = new Array(n);
    for (let i = 0; i < n; i++) kvs[i] = this.backend.readKeyValue(revs[i]!.modified);
    return { kvs, count: revs.length, rev: curRev };
  }

  getAt(ks: string, atRev: number): KeyValue | undefined {
    const at = this.index.get(ks, atRev);
    return at ? this.backend.readKeyValue(at.modified) : undefined;
  }

  /** The keys of [key, rangeEnd) at the current revision (a txn's compares). */
  keysNow(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyValue[] {
    return this.rangeKeys(key, rangeEnd, 0, this.currentRev, 0, false).kvs;
  }

  /** etcd's rangeKeys (as {@link rangeKeys}), walking the index and reading values in steps. */
  async rangeKeysPaced(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    reqRev: number,
    curRev: number,
    limit: number,
    countOnly: boolean,
    read: PacedRead,
  ): Promise<{ kvs: KeyValue[]; count: number; rev: number }> {
    const end = rangeEndOf(rangeEnd);
    if (end === undefined) return this.rangeKeys(key, rangeEnd, reqRev, curRev, limit, countOnly);
    let rev = reqRev;
    if (rev > curRev) throw new MvccError('future_revision');
    if (rev <= 0) rev = curRev;
    if (rev < this.compactMainRev) throw new MvccError('compacted', this.compactMainRev);

    // The first step walks the live index; a walk that goes on pins it first (nothing has
    // changed it yet: the step ran without a pause).
    const revs: KeyAt[] = [];
    let last: string | undefined;
    let seen = 0;
    this.index.visit(keyString(key), end, (k, ki) => {
      const at = ki.get(rev);
      if (at) revs.push(at);
      last = k;
      return ++seen < read.pacer.step;
    });
    if (seen >= read.pacer.step) {
      const pinned = this.index.pin();
      try {
        for (const [k, ki] of pinned.entries(last!, end)) {
          if (k === last) continue;
          const at = ki.get(rev);
          if (at) revs.push(at);
          if (read.pacer.tick()) await read.pause();
        }
      } finally {
        pinned.release();
      }
    }
    if (revs.length === 0 || countOnly) return { kvs: [], count: revs.length, rev: curRev };
    const n = limit <= 0 || limit > revs.length ? revs.length : limit;
    const kvs: KeyValue[] = new Array(n);
    const slab = new ByteSlab();
    for (let i = 0; i < n; i++) {
      kvs[i] = this.backend.readKeyValueInto(revs[i]!.modified, slab);
      if (read.pacer.tick()) await read.pause();
    }
    return { kvs, count: revs.length, rev: curRev };
  }

  readKeyValue(rev: Revision): KeyValue {
    return this.backend.readKeyValue(rev);
  }

  // ---------------------------------------------------------------- writes

  hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  /** Whether a write beginning now must record its changes for events: a listener wants them. */
  wantsEvents(): boolean {
    for (const o of this.listeners.values()) if (o.wantsEvents === undefined || o.wantsEvents()) return true;
    return false;
  }

  /** Marks a write as running across turns (see {@link writing}); returns its end. */
  begin(): () => void {
    let resolve!: () => void;
    this.writing = new Promise<void>((r) => {
      resolve = r;
    });
    return () => {
      this.writing = undefined;
      resolve();
    };
  }

  /** The branches a txn's compares choose, after etcd's checks of them (see txn-check.ts). */
  checkedPath(req: TxnRequest, checkPuts: boolean): boolean[] {
    const path: boolean[] = [];
    compareToPath(this, req, path);
    if (checkPuts) checkTxn(this, req, path, 'put');
    checkTxn(this, req, path, 'range');
    return path;
  }

  opsSoFar(): number {
    const c = this.opCounts;
    return c.ranges + c.puts + c.deletes;
  }

  /** etcd counts a txn only when it ran more than one operation (a txn of one put is a put). */
  countTxn(opsBefore: number): void {
    if (this.opsSoFar() - opsBefore > 1) this.opCounts.txns++;
  }

  applyTxn(tw: WriteTxn, req: TxnRequest, path: boolean[], pos: { i: number }): TxnResponse {
    const ok = path[pos.i++]!;
    const responses: ResponseOp[] = [];
    for (const op of ok ? req.success : req.failure) responses.push(this.applyOp(tw, op, path, pos));
    return { revision: 0, succeeded: ok, responses };
  }

  private applyOp(tw: WriteTxn, op: RequestOp, path: boolean[], pos: { i: number }): ResponseOp {
    if ('range' in op) return { range: this.rangeAt(op.range, tw.readRev) };
    if ('put' in op) return { put: this.applyPut(tw, op.put) };
    if ('deleteRange' in op) return { deleteRange: this.applyDeleteRange(tw, op.deleteRange) };
    if ('txn' in op) return { txn: this.applyTxn(tw, op.txn, path, pos) };
    throw new RangeError('empty RequestOp');
  }

  applyPut(tw: WriteTxn, req: PutRequest): PutResponse {
    this.opCounts.puts++;
    const ks = keyString(req.key);
    let value = req.value;
    let lease = req.lease ?? 0n;
    let prev: KeyValue | undefined;
    if (req.ignoreValue || req.ignoreLease || req.prevKv) prev = this.getAt(ks, tw.readRev);
    if ((req.ignoreValue || req.ignoreLease) && !prev) throw new MvccError('key_not_found');
    if (req.ignoreValue) value = prev!.value;
    if (req.ignoreLease) lease = prev!.lease;
    this.writePut(tw, ks, req.key, value, lease, prev);
    this.opCounts.putBytes += req.key.length + value.length;
    const resp: PutResponse = { revision: tw.beginRev + 1 };
    if (req.prevKv && prev) resp.prevKv = prev;
    return resp;
  }

  applyDeleteRange(tw: WriteTxn, req: DeleteRangeRequest): DeleteRangeResponse {
    this.opCounts.deletes++;
    const prevKvs: KeyValue[] = [];
    const keys = this.index.liveKeys(keyString(req.key), rangeEndOf(req.rangeEnd), tw.readRev);
    for (const { ks, ki, at } of keys) {
      let prev: KeyValue | undefined;
      if (req.prevKv) {
        prev = this.backend.readKeyValue(at.modified);
        prevKvs.push(prev);
      }
      this.writeTombstone(tw, ks, ki, at, prev);
    }
    const revision = keys.length > 0 || tw.count > 0 ? tw.beginRev + 1 : tw.beginRev;
    return { revision, deleted: keys.length, prevKvs };
  }

  /**
   * The key's revision at the write's begin revision, for its event's prevKv, when `ki` has no
   * change in this write yet; then what a read inside the write sees (`readAt`, the key at
   * beginRev + 1, and `readKv` its value) is the key at beginRev too.
   */
  private prevAtBegin(tw: WriteTxn, ki: KeyIndex | undefined, readAt: KeyAt | undefined, readKv: KeyValue | undefined): Change['prev'] {
    if (!ki) return null;
    if (ki.modified.main > tw.beginRev) return undefined;
    return readAt ? { rev: readAt.modified, kv: readKv } : null;
  }

  /** `prev`: the key as a read inside this write saw it before the put, when one was made. */
  private writePut(tw: WriteTxn, ks: string, key: Uint8Array, value: Uint8Array, lease: bigint, prev?: KeyValue): void {
    const rev: Revision = { main: tw.beginRev + 1, sub: tw.count };
    let ki = this.index.getKeyIndex(ks);
    const at = ki?.get(rev.main);
    const createRevision = at ? at.created.main : rev.main;
    const version = at ? at.version + 1 : 1;
    if (tw.recording) {
      const prevAtBegin = this.prevAtBegin(tw, ki, at, prev);
      const { bytes, kv } = encodeKeyValueOwned(key, createRevision, rev.main, version, value, lease, tw.bytesAlloc());
      this.backend.append(rev, false, bytes);
      tw.record({ kv, tombstone: false, keyStr: ks, prev: prevAtBegin });
    } else {
      this.backend.append(rev, false, encodeKeyValueOf(key, createRevision, rev.main, version, value, lease, tw.bytesAlloc()));
      tw.countUnrecorded();
    }
    if (!ki) {
      ki = new KeyIndex(ks);
      this.index.insert(ks, ki);
    }
    if (!ki.isLive()) this.liveKeys++;
    ki.put(rev);
  }

  /**
   * `at`: the live key as a read inside this write sees it (at readRev); `prev`: its value,
   * when the op read it.
   */
  writeTombstone(tw: WriteTxn, ks: string, ki: KeyIndex, at: KeyAt, prev?: KeyValue): void {
    const rev: Revision = { main: tw.beginRev + 1, sub: tw.count };
    const prevAtBegin = tw.recording ? this.prevAtBegin(tw, ki, at, prev) : undefined;
    // Stored as etcd stores it: a KeyValue holding only the key.
    const stored: KeyValue = { key: ki.key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
    this.backend.append(rev, true, encodeKeyValue(stored));
    ki.tombstone(rev);
    this.liveKeys--;
    if (tw.recording) tw.record({ kv: { ...stored, modRevision: rev.main }, tombstone: true, keyStr: ks, prev: prevAtBegin });
    else tw.countUnrecorded();
  }

  /** Ends a write: bumps the revision if anything changed and tells the listeners that want it. */
  end(tw: WriteTxn): void {
    if (tw.count === 0) return;
    // Not recording: no listener wanted the write as it began, and none could join since.
    if (!tw.recording || this.listeners.size === 0) {
      this.publish(tw, undefined);
      return;
    }
    const withPrevKv = this.wantsPrevKv();
    this.publish(tw, tw.changes.map((c) => this.eventOf(tw, c, withPrevKv)));
  }

  /** Whether a listener that wants this write's events needs them with prevKv. */
  private wantsPrevKv(): boolean {
    for (const o of this.listeners.values()) {
      if (o.wantsEvents !== undefined && !o.wantsEvents()) continue;
      if (o.wantsPrevKv === undefined || o.wantsPrevKv()) return true;
    }
    return false;
  }

  /** The event of a change; its prevKv (when asked for) is the key at beginRev, as etcd's watch fills it. */
  // A stepped write (WriteHost) always asks with prevKv: it builds its events across pauses, and a
  // prev_kv watcher that joins during one must still get them whole.
  eventOf(tw: WriteTxn, c: Change, withPrevKv = true): Event {
    const ev: Event = { type: c.tombstone ? 'delete' : 'put', kv: c.kv };
    if (!withPrevKv) return ev;
    if (c.prev === undefined) {
      this.attachPrevKv(ev, c.keyStr);
    } else if (c.prev !== null && !(ev.type === 'put' && ev.kv.version === 1) && tw.beginRev >= this.compactMainRev) {
      // What attachPrevKv finds (the key at modRevision - 1 = beginRev), without looking it up again.
      const slab = tw.bytesSource();
      ev.prevKv = c.prev.kv ?? (slab ? this.backend.readKeyValueInto(c.prev.rev, slab) : this.backend.readKeyValue(c.prev.rev));
    }
    return ev;
  }

  /** Makes a write's revision current, then hands its events (built unless nobody listens) to the listeners. */
  publish(tw: WriteTxn, events: Event[] | undefined): void {
    if (tw.count === 0) return;
    this.currentRev = tw.beginRev + 1;
    if (!events) return;
    for (const [l, o] of [...this.listeners]) {
      if (o.wantsEvents !== undefined && !o.wantsEvents()) continue;
      try {
        l(events, this.currentRev);
      } catch (err) {
        // The write is applied and its response must stand; fail loudly, but elsewhere.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /**
   * etcd's watch fills prev_kv by reading the key at modRevision - 1, and skips it for
   * a create (version 1); so do we, when that revision is not compacted.
   */
  attachPrevKv(ev: Event, ks: string): void {
    if (ev.type === 'put' && ev.kv.version === 1) return;
    const at = ev.kv.modRevision - 1;
    if (at < this.compactMainRev) return;
    const prev = this.getAt(ks, at);
    if (prev) ev.prevKv = prev;
  }
}
