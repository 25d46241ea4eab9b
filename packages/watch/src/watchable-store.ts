import type { Event } from '@raftkv/mvcc';
import { keyString, normaliseRange } from './key-range.js';
import { StreamState, type StreamLimits } from './stream-state.js';
import type { WatchSource } from './watch-source.js';
import {
  INVALID_WATCH_ID,
  eventWireSize,
  eventsResponse,
  prevKvWireSize,
  fragmentWatchResponse,
  watchResponse,
  watchResponseWireSize,
  type WatchResponse,
} from './watch-response.js';
import { WatchStream, type StreamOps, type WatchCreateRequest, type WatchCreateResult } from './watch-stream.js';
import { Watcher } from './watcher.js';
import { WatcherGroup } from './watcher-group.js';

/** etcd's cancel reasons, verbatim (clients match on them). */
export const CANCEL_REASON_EMPTY_RANGE = 'mvcc: watcher range is empty';
export const CANCEL_REASON_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';

/** Options of {@link WatchableStore}. Every limit has a default; all must be positive integers. */
export interface WatchableStoreOptions {
  /** Live watchers over all streams (default 1_000_000). Creates beyond it are refused. */
  maxWatchers?: number;
  /** Unsynced watchers examined per {@link WatchableStore.syncUnsynced} step (default 512, etcd's). */
  maxWatchersPerSync?: number;
  /** Default for syncUnsynced's `maxEvents` (default 1000). */
  maxEventsPerSync?: number;
  /**
   * Called (at most once until the next syncUnsynced) when there are unsynced watchers
   * to catch up. The server should schedule `syncUnsynced()` soon, e.g. with
   * setImmediate; it must not call it synchronously from the callback.
   */
  onSyncNeeded?: () => void;
}

/** Options of one {@link WatchStream}. */
export interface WatchStreamOptions {
  /** Watch ids in use on the stream, compacted ones included (default 100_000; etcd has none). */
  maxWatchers?: number;
  /** Responses the outbox holds before watchers are parked (default 1024). */
  maxPendingResponses?: number;
  /** Estimated wire bytes the outbox holds before watchers are parked (default 8 MiB). */
  maxPendingBytes?: number;
  /**
   * Fragmentation threshold for watchers created with `fragment` (default 2 MiB: etcd's
   * 1.5 MiB max request bytes plus its 512 KiB gRPC overhead allowance).
   */
  maxResponseBytes?: number;
  /**
   * Called when the outbox goes from empty to non-empty, after the store finished the
   * operation that filled it (possibly inside the mvcc write that produced the events).
   * Schedule the send loop; poll until empty.
   */
  onReadable?: () => void;
}

/** Result of one {@link WatchableStore.syncUnsynced} step. */
export interface SyncResult {
  /** Watchers still catching up; call again (the store also signals onSyncNeeded). */
  unsynced: number;
  /** Watchers waiting for their consumers to drain; not the sync loop's business. */
  parked: number;
  /** Events read from history in this step. */
  eventsRead: number;
}

/** Counts for metrics (etcd: watcher_total, slow_watcher_total, watch_stream_total, events_total). */
export interface WatchStats {
  streams: number;
  synced: number;
  unsynced: number;
  parked: number;
  /** Events queued to watch streams since the store was made (each watcher's copy counts); monotonic. */
  eventsSent: number;
}

function positive(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}

function withoutPrevKv(ev: Event): Event {
  return ev.prevKv === undefined ? ev : { type: ev.type, kv: ev.kv };
}

function passes(w: Watcher, ev: Event): boolean {
  return ev.type === 'put' ? !w.noPut : !w.noDelete;
}

interface Batch {
  events: Event[];
  bytes: number;
}

/**
 * The watchable store (etcd's watchableStore): watchers on keys and ranges of a
 * {@link WatchSource}, grouped as etcd groups them.
 *
 * - synced: up to date; each new revision is matched against them inside the source's
 *   `onEvents` callback (hash lookup for keys, interval tree for ranges) and queued on
 *   their streams as one response per watcher per revision (a txn's events together).
 *   No history is read on this path, so apply pays only for the matching watchers.
 * - unsynced: created with a past start revision, or resumed after being parked. They
 *   catch up in {@link syncUnsynced} steps, each reading at most `maxEvents` events of
 *   history for at most `maxWatchersPerSync` watchers, and join the synced group when
 *   they reach the current revision. Nothing here runs on a timer: `onSyncNeeded`
 *   asks the server to schedule steps, which keeps each step (and so each pause of the
 *   event loop) bounded.
 * - parked: their stream's outbox was full. They hold no events, only the first
 *   revision they miss, and become unsynced when the consumer has drained half the
 *   outbox. A watcher therefore receives every revision of its range once, in order,
 *   from its start revision: no gap, no duplicate.
 * - compaction: a watcher whose next revision is below the compacted revision (at
 *   creation, or overtaken while unsynced or parked) gets the compacted response and is
 *   cancelled (etcd: minRev < compactRev).
 *
 * Example:
 * ```ts
 * const hub = new WatchableStore(mvcc, { onSyncNeeded: () => setImmediate(() => hub.syncUnsynced()) });
 * const stream = hub.newWatchStream({ onReadable: () => sendLoop() });
 * stream.watch({ key: enc('a'), rangeEnd: enc('b'), startRevision: 0 });
 * for (let r = stream.poll(); r; r = stream.poll()) grpcCall.write(toWire(r));
 * ```
 */
export class WatchableStore {
  private readonly synced = new WatcherGroup();
  private readonly unsynced = new WatcherGroup();
  private readonly streams = new Map<number, StreamState<Watcher>>();
  private nextStreamId = 1;
  private parkedTotal = 0;
  private syncRequested = false;
  private needSync = false;
  private readonly readable = new Set<StreamState<Watcher>>();
  private unsubscribe: () => void;
  /** The newest revision the source has told us about (its current one, between restores). */
  private seenRevision: number;
  private isClosed = false;
  private readonly maxWatchers: number;
  private readonly maxWatchersPerSync: number;
  private readonly maxEventsPerSync: number;
  private readonly onSyncNeeded: (() => void) | undefined;
  private readonly ops: StreamOps;
  /** Reused list of the watchers matching one event (up to every watcher: no per-write allocation). */
  private readonly scratch: Watcher[] = [];
  private eventsSent = 0;

  /**
   * Subscribes to `source.onEvents` and `source.onRestore` at once; {@link close}
   * unsubscribes. A restore of the source in place is handled as {@link restore} is.
   */
  constructor(
    private source: WatchSource,
    options: WatchableStoreOptions = {},
  ) {
    this.maxWatchers = positive(options.maxWatchers, 1_000_000, 'maxWatchers');
    this.maxWatchersPerSync = positive(options.maxWatchersPerSync, 512, 'maxWatchersPerSync');
    this.maxEventsPerSync = positive(options.maxEventsPerSync, 1000, 'maxEventsPerSync');
    this.onSyncNeeded = options.onSyncNeeded;
    this.ops = {
      watch: (s, req) => this.finish(this.createWatcher(s, req)),
      cancel: (s, id) => this.finish(this.cancelWatcher(s, id)),
      requestProgress: (s) => this.finish(this.requestProgress(s)),
      notifyProgress: (s) => this.finish(this.notifyProgress(s)),
      afterPoll: (s) => this.finish(this.resumeParked(s)),
      close: (s) => this.closeStream(s),
    };
    this.seenRevision = source.currentRevision;
    this.unsubscribe = this.subscribe(source);
  }

  private subscribe(source: WatchSource): () => void {
    // Live events go to synced watchers only (the others catch up from history, which reads
    // prev_kv itself), so the source need read previous values only for a synced prev_kv watcher,
    // and build events only while a watcher is synced. (seenRevision matters only to synced
    // watchers: resync raises theirs to it, and one joins synced at the current revision.)
    const offEvents = source.onEvents((events, revision) => {
      this.seenRevision = revision;
      this.notify(events, revision);
      this.finish(undefined);
    }, { wantsPrevKv: () => this.synced.wantsPrevKv, wantsEvents: () => this.synced.size > 0 });
    const offRestore = source.onRestore(() => this.resync());
    return () => {
      offEvents();
      offRestore();
    };
  }

  /**
   * Moves every watcher to a new source that replaced the old one (a member installing
   * a raft snapshot opened a new mvcc store), as etcd's watchableStore.Restore does; see
   * {@link resync}. Call it BEFORE the new source applies writes. (A source restored in
   * place, `MvccStore.restore`, needs no call: its `onRestore` does the same.)
   */
  restore(source: WatchSource): void {
    if (this.isClosed) throw new Error('watchable store is closed');
    this.unsubscribe();
    this.source = source;
    this.unsubscribe = this.subscribe(source);
    this.resync();
  }

  /**
   * The source's history was replaced (etcd's watchableStore.Restore): every synced
   * watcher becomes unsynced with its next revision unchanged (the one after the last
   * revision it was told about, or its future start revision), so catch-up steps deliver
   * what the new history holds from there — or the compacted response when the new
   * history is compacted above it; a watcher whose next revision is past the new current
   * one becomes synced again and waits for it. Unsynced and parked watchers keep their
   * position, and are checked against the new compacted revision when next examined.
   */
  private resync(): void {
    if (this.isClosed) return;
    const nextRevision = this.seenRevision + 1;
    this.seenRevision = this.source.currentRevision;
    for (const w of [...this.synced.watchers]) {
      this.synced.delete(w);
      if (w.minRevision < nextRevision) w.minRevision = nextRevision;
      w.state = 'unsynced';
      this.unsynced.add(w);
      w.stream.notSynced++;
    }
    if (this.unsynced.size > 0) this.needSync = true;
    this.finish(undefined);
  }

  /** Opens a watch stream (one per client gRPC Watch call). */
  newWatchStream(options: WatchStreamOptions = {}): WatchStream {
    if (this.isClosed) throw new Error('watchable store is closed');
    const limits: StreamLimits = {
      maxWatchers: positive(options.maxWatchers, 100_000, 'maxWatchers'),
      maxPendingResponses: positive(options.maxPendingResponses, 1024, 'maxPendingResponses'),
      maxPendingBytes: positive(options.maxPendingBytes, 8 * 1024 * 1024, 'maxPendingBytes'),
      maxResponseBytes: positive(options.maxResponseBytes, 2 * 1024 * 1024, 'maxResponseBytes'),
    };
    const s = new StreamState<Watcher>(this.nextStreamId++, limits, options.onReadable);
    this.streams.set(s.id, s);
    return new WatchStream(s, this.ops);
  }

  /** The source's current revision (the header revision of control responses). */
  get currentRevision(): number {
    return this.source.currentRevision;
  }

  get stats(): WatchStats {
    return { streams: this.streams.size, synced: this.synced.size, unsynced: this.unsynced.size, parked: this.parkedTotal, eventsSent: this.eventsSent };
  }

  /**
   * One bounded catch-up step: takes up to `maxWatchersPerSync` unsynced watchers
   * (oldest first; those still behind go to the back, so all make progress), cancels
   * those below the compacted revision with the compacted response, reads at most
   * `maxEvents` events of history from the oldest revision they need (more only when a
   * single revision is larger) and queues each watcher's share as one multi-revision
   * response, whose header revision is the last revision read. Watchers that reach the
   * current revision join the synced group; watchers whose outbox is full are parked
   * at the first revision they did not get. Synchronous; safe to call any time.
   */
  syncUnsynced(maxEvents = this.maxEventsPerSync): SyncResult {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new RangeError('maxEvents must be a positive integer');
    this.syncRequested = false;
    let eventsRead = 0;
    if (!this.isClosed && this.unsynced.size > 0) eventsRead = this.syncStep(maxEvents);
    // Work left (including watchers this step did not examine): ask for another step.
    if (this.unsynced.size > 0) this.needSync = true;
    this.finish(undefined);
    return { unsynced: this.unsynced.size, parked: this.parkedTotal, eventsRead };
  }

  /** {@link WatchStream.notifyProgress} for every stream (the server's progress_notify timer). */
  progressAll(): void {
    for (const s of this.streams.values()) this.notifyProgress(s);
    this.finish(undefined);
  }

  /** Unsubscribes from the source and closes every stream. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.unsubscribe();
    for (const s of [...this.streams.values()]) this.closeStream(s);
  }

  // ------------------------------------------------------------- delivery

  /** Fires the callbacks collected during an operation, after it is complete. */
  private finish<T>(result: T): T {
    if (this.readable.size > 0) {
      const streams = [...this.readable];
      this.readable.clear();
      for (const s of streams) if (!s.closed) s.onReadable?.();
    }
    if (this.needSync && !this.syncRequested && this.unsynced.size > 0 && this.onSyncNeeded) {
      this.syncRequested = true;
      this.needSync = false;
      this.onSyncNeeded();
    }
    return result;
  }

  private enqueue(s: StreamState<Watcher>, resp: WatchResponse): void {
    if (s.push(resp, watchResponseWireSize(resp))) this.readable.add(s);
  }

  /** Queues an event response if the outbox admits it; fragments it when asked to. */
  private offer(w: Watcher, s: StreamState<Watcher>, resp: WatchResponse, eventBytes: number): boolean {
    const bytes = eventBytes + 64;
    if (!s.hasRoom(bytes)) return false;
    if (w.fragment && bytes >= s.limits.maxResponseBytes) {
      for (const piece of fragmentWatchResponse(resp, s.limits.maxResponseBytes)) this.enqueue(s, piece);
    } else if (s.push(resp, bytes)) {
      this.readable.add(s);
    }
    w.sentSinceTick = true;
    this.eventsSent += resp.events.length;
    return true;
  }

  /** Live path: called inside the source's write, once per revision. */
  private notify(events: Event[], revision: number): void {
    if (this.synced.size === 0 || events.length === 0) return;
    const matches = this.scratch;
    matches.length = 0;
    try {
      this.notifyMatching(events, revision, matches);
    } finally {
      matches.length = 0;
    }
  }

  private notifyMatching(events: Event[], revision: number, matches: Watcher[]): void {
    if (events.length === 1) {
      // One event: every matching watcher shares one of two arrays.
      const ev = events[0]!;
      this.synced.collect(keyString(ev.kv.key), matches);
      if (matches.length === 0) return;
      const plain = withoutPrevKv(ev);
      // The KV's size once: an event with prev_kv is the same event plus that field.
      const bare: Batch = { events: [plain], bytes: eventWireSize(plain) + 4 };
      const full: Batch = plain === ev ? bare : { events: [ev], bytes: bare.bytes + prevKvWireSize(ev) };
      for (const w of matches) {
        if (w.minRevision > revision || !passes(w, ev)) continue;
        this.deliverLive(w, w.prevKv ? full : bare, revision);
      }
      return;
    }
    const batches = new Map<Watcher, Batch>();
    for (const ev of events) {
      matches.length = 0;
      this.synced.collect(keyString(ev.kv.key), matches);
      if (matches.length === 0) continue;
      const plain = withoutPrevKv(ev);
      const bareBytes = eventWireSize(plain) + 4;
      const fullBytes = plain === ev ? bareBytes : bareBytes + prevKvWireSize(ev);
      for (const w of matches) {
        if (w.minRevision > revision || !passes(w, ev)) continue;
        let b = batches.get(w);
        if (!b) {
          b = { events: [], bytes: 0 };
          batches.set(w, b);
        }
        b.events.push(w.prevKv ? ev : plain);
        b.bytes += w.prevKv ? fullBytes : bareBytes;
      }
    }
    for (const [w, b] of batches) this.deliverLive(w, b, revision);
  }

  private deliverLive(w: Watcher, b: Batch, revision: number): void {
    const s = w.stream;
    const resp = eventsResponse(w.id, revision, b.events);
    if (this.offer(w, s, resp, b.bytes)) return;
    // Full outbox: park at this revision; it will be re-read from history.
    this.synced.delete(w);
    this.park(w, s, revision);
    s.notSynced++;
  }

  private park(w: Watcher, s: StreamState<Watcher>, fromRevision: number): void {
    w.state = 'parked';
    w.minRevision = fromRevision;
    s.parked.add(w);
    this.parkedTotal++;
  }

  private resumeParked(s: StreamState<Watcher>): void {
    if (s.parked.size === 0 || !s.belowLowWater()) return;
    for (const w of s.parked) {
      w.state = 'unsynced';
      this.unsynced.add(w);
    }
    this.parkedTotal -= s.parked.size;
    s.parked.clear();
    this.needSync = true;
  }

  // ------------------------------------------------------------- catch-up

  private syncStep(maxEvents: number): number {
    const cur = this.source.currentRevision;
    const compactRev = this.source.compactedRevision;
    const chosen: Watcher[] = [];
    for (const w of this.unsynced.watchers) {
      if (chosen.length >= this.maxWatchersPerSync) break;
      chosen.push(w);
    }
    const group = new WatcherGroup();
    let minRev = Number.POSITIVE_INFINITY;
    let needPrevKv = false;
    for (const w of chosen) {
      const s = w.stream;
      if (w.minRevision < compactRev) {
        this.unsynced.delete(w);
        this.compact(w, s, compactRev);
      } else if (w.minRevision > cur) {
        this.makeSynced(w, s);
      } else {
        group.add(w);
        if (w.minRevision < minRev) minRev = w.minRevision;
        needPrevKv ||= w.prevKv;
      }
    }
    if (group.size === 0) return 0;

    const batches = new Map<Watcher, Event[]>();
    const matches: Watcher[] = [];
    let eventsRead = 0;
    let scannedTo = minRev - 1;
    let from = minRev;
    for (;;) {
      const evs = this.source.eventsBetween(from, cur, Math.max(1, maxEvents - eventsRead), needPrevKv);
      if (evs.length === 0) {
        scannedTo = cur;
        break;
      }
      eventsRead += evs.length;
      for (const ev of evs) {
        matches.length = 0;
        group.collect(keyString(ev.kv.key), matches);
        for (const w of matches) {
          if (ev.kv.modRevision < w.minRevision || !passes(w, ev)) continue;
          let b = batches.get(w);
          if (!b) {
            b = [];
            batches.set(w, b);
          }
          b.push(w.prevKv ? ev : withoutPrevKv(ev));
        }
      }
      const last = evs[evs.length - 1]!.kv.modRevision;
      scannedTo = last;
      from = last + 1;
      if (last >= cur || eventsRead >= maxEvents) break;
    }

    for (const w of group.watchers) {
      const s = w.stream;
      this.deliverCatchUp(w, s, batches.get(w), scannedTo);
      if (w.state !== 'unsynced') continue;
      if (w.minRevision > cur) {
        this.makeSynced(w, s);
      } else {
        // Still behind: to the back of the queue so every unsynced watcher gets turns.
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
    }
    return eventsRead;
  }

  private deliverCatchUp(w: Watcher, s: StreamState<Watcher>, events: Event[] | undefined, scannedTo: number): void {
    if (events === undefined || events.length === 0) {
      if (scannedTo + 1 > w.minRevision) w.minRevision = scannedTo + 1;
      return;
    }
    const sizes = events.map((ev) => eventWireSize(ev) + 4);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (this.offer(w, s, watchResponse({ watchId: w.id, revision: scannedTo, events }), total)) {
      w.minRevision = scannedTo + 1;
      return;
    }
    // Deliver the whole revisions that fit, park at the first one that does not.
    let cut = 0;
    let cutBytes = 0;
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const rev = events[i]!.kv.modRevision;
      if (i > 0 && rev !== events[i - 1]!.kv.modRevision) {
        if (!s.hasRoom(bytes + 64)) break;
        cut = i;
        cutBytes = bytes;
      }
      bytes += sizes[i]!;
    }
    if (cut > 0) {
      const head = events.slice(0, cut);
      this.offer(w, s, watchResponse({ watchId: w.id, revision: head[cut - 1]!.kv.modRevision, events: head }), cutBytes);
    }
    this.unsynced.delete(w);
    this.park(w, s, events[cut]!.kv.modRevision);
  }

  private makeSynced(w: Watcher, s: StreamState<Watcher>): void {
    this.unsynced.delete(w);
    w.state = 'synced';
    this.synced.add(w);
    this.syncedOne(s);
  }

  /** One watcher of `s` stopped being behind (synced, compacted or cancelled). */
  private syncedOne(s: StreamState<Watcher>): void {
    s.notSynced--;
    if (s.notSynced === 0 && s.deferredProgress) this.emitProgress(s);
  }

  private compact(w: Watcher, s: StreamState<Watcher>, compactRev: number): void {
    w.state = 'compacted';
    s.progressNotify.delete(w);
    this.enqueue(s, watchResponse({ watchId: w.id, revision: 0, compactRevision: compactRev, canceled: true }));
    this.syncedOne(s);
  }

  // ------------------------------------------------------------- stream operations

  private createWatcher(s: StreamState<Watcher>, req: WatchCreateRequest): WatchCreateResult {
    if (s.closed) return { ok: false, cancelReason: 'raftkv: watch stream is closed' };
    const cur = this.source.currentRevision;
    const refuse = (cancelReason: string): WatchCreateResult => {
      this.enqueue(s, watchResponse({ watchId: INVALID_WATCH_ID, revision: cur, created: true, canceled: true, cancelReason }));
      return { ok: false, cancelReason };
    };
    const range = normaliseRange(req.key, req.rangeEnd);
    if (!range) return refuse(CANCEL_REASON_EMPTY_RANGE);
    const start = req.startRevision ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) return refuse('raftkv: start revision must be a non-negative safe integer');
    let id = req.watchId ?? 0n;
    if (id !== 0n && s.watchers.has(id)) return refuse(CANCEL_REASON_DUPLICATE_ID);
    if (s.watchers.size >= s.limits.maxWatchers) return refuse('raftkv: too many watchers on this watch stream');
    if (this.synced.size + this.unsynced.size + this.parkedTotal >= this.maxWatchers) return refuse('raftkv: too many watchers');
    if (id === 0n) {
      while (s.watchers.has(s.nextAutoId)) s.nextAutoId++;
      id = s.nextAutoId++;
    }
    const w = new Watcher(
      id,
      s,
      range,
      start,
      req.noPut === true,
      req.noDelete === true,
      req.prevKv === true,
      req.progressNotify === true,
      req.fragment === true,
    );
    s.watchers.set(id, w);
    if (w.progressNotify) s.progressNotify.add(w);
    this.enqueue(s, watchResponse({ watchId: id, revision: cur, created: true }));
    if (start === 0 || start > cur) {
      w.minRevision = Math.max(cur + 1, start);
      w.state = 'synced';
      this.synced.add(w);
    } else if (start < this.source.compactedRevision) {
      s.notSynced++;
      this.compact(w, s, this.source.compactedRevision);
    } else {
      w.state = 'unsynced';
      this.unsynced.add(w);
      s.notSynced++;
      this.needSync = true;
    }
    return { ok: true, watchId: id };
  }

  /** Takes `w` out of whatever group holds it. */
  private detach(w: Watcher, s: StreamState<Watcher>): void {
    switch (w.state) {
      case 'synced':
        this.synced.delete(w);
        break;
      case 'unsynced':
        this.unsynced.delete(w);
        s.notSynced--;
        break;
      case 'parked':
        s.parked.delete(w);
        this.parkedTotal--;
        s.notSynced--;
        break;
      case 'compacted':
      case 'canceled':
        break;
    }
    w.state = 'canceled';
    s.progressNotify.delete(w);
  }

  private cancelWatcher(s: StreamState<Watcher>, id: bigint): boolean {
    const w = s.watchers.get(id);
    if (!w || s.closed) return false;
    this.detach(w, s);
    s.watchers.delete(id);
    this.enqueue(s, watchResponse({ watchId: id, revision: this.source.currentRevision, canceled: true }));
    if (s.notSynced === 0 && s.deferredProgress) this.emitProgress(s);
    return true;
  }

  private requestProgress(s: StreamState<Watcher>): void {
    if (s.closed) return;
    if (s.notSynced === 0) this.emitProgress(s);
    else s.deferredProgress = true;
  }

  private emitProgress(s: StreamState<Watcher>): void {
    s.deferredProgress = false;
    const revision = this.source.currentRevision;
    const last = s.last();
    // The same answer already waiting at the tail: a second copy says nothing new.
    if (last && last.watchId === INVALID_WATCH_ID && last.revision === revision && last.events.length === 0 && !last.created) return;
    this.enqueue(s, watchResponse({ watchId: INVALID_WATCH_ID, revision }));
  }

  private notifyProgress(s: StreamState<Watcher>): void {
    if (s.closed) return;
    const revision = this.source.currentRevision;
    for (const w of s.progressNotify) {
      if (!w.sentSinceTick && w.state === 'synced' && s.hasRoom(64)) {
        this.enqueue(s, watchResponse({ watchId: w.id, revision }));
      }
      w.sentSinceTick = false;
    }
  }

  private closeStream(s: StreamState<Watcher>): void {
    if (s.closed) return;
    for (const w of s.watchers.values()) this.detach(w, s);
    s.watchers.clear();
    s.closed = true;
    s.deferredProgress = false;
    s.clear();
    this.streams.delete(s.id);
    this.readable.delete(s);
  }
}
