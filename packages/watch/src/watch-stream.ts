import type { StreamState } from './stream-state.js';
import type { Watcher } from './watcher.js';
import type { WatchResponse } from './watch-response.js';

/**
 * A watch create request, etcd's WatchCreateRequest with the filters as flags.
 * `key`/`rangeEnd` follow etcd: empty `rangeEnd` watches `key` alone, `rangeEnd` "\0"
 * watches every key >= `key`, otherwise [key, rangeEnd); an empty `key` means "\0".
 */
export interface WatchCreateRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** First revision to deliver; 0 or absent: the next revision. Past revisions are replayed from history. */
  startRevision?: number;
  /** 0n or absent: the stream picks the lowest free id (etcd's AutoWatchID). */
  watchId?: bigint;
  /** etcd's NOPUT filter: do not deliver put events. */
  noPut?: boolean;
  /** etcd's NODELETE filter: do not deliver delete events. */
  noDelete?: boolean;
  /** Deliver each event's previous key-value (when it existed and is not compacted). */
  prevKv?: boolean;
  /** Include this watcher in {@link WatchStream.notifyProgress} ticks. */
  progressNotify?: boolean;
  /** Split responses larger than the stream's maxResponseBytes into fragments. */
  fragment?: boolean;
}

/** Outcome of {@link WatchStream.watch}; the matching "created" response is queued either way. */
export type WatchCreateResult = { ok: true; watchId: bigint } | { ok: false; cancelReason: string };

/** The store's side of a stream; internal to the package. */
export interface StreamOps {
  watch(s: StreamState<Watcher>, req: WatchCreateRequest): WatchCreateResult;
  cancel(s: StreamState<Watcher>, watchId: bigint): boolean;
  requestProgress(s: StreamState<Watcher>): void;
  notifyProgress(s: StreamState<Watcher>): void;
  afterPoll(s: StreamState<Watcher>): void;
  close(s: StreamState<Watcher>): void;
}

/**
 * One client watch stream (one gRPC `Watch` call): a group of watchers with stream-local
 * ids sharing one bounded outbox of {@link WatchResponse}s. Create with
 * {@link WatchableStore.newWatchStream}.
 *
 * Every response goes through the outbox, in FIFO order: "created" before the
 * watcher's first event, a watcher's events in revision order, a progress response
 * after every event it vouches for. The server forwards them with {@link poll}.
 *
 * Flow control: event responses are admitted while the outbox is under its limits
 * (always when empty). A watcher whose response does not fit is parked, keeping no
 * events, and resumes from the first revision it missed once the outbox is half empty
 * again (the store re-reads history), so a slow consumer costs bounded memory and
 * never delays apply or other streams. Control responses (created, canceled,
 * compacted, requested progress) are always admitted: the server should stop reading
 * requests from a client whose stream {@link isFull}, which bounds them too.
 *
 * Not thread-safe, not re-entrant: call it from the event loop, not from inside
 * `onReadable`/`onSyncNeeded` callbacks (schedule instead).
 */
export class WatchStream {
  /** @internal Created by WatchableStore.newWatchStream. */
  constructor(
    private readonly state: StreamState<Watcher>,
    private readonly ops: StreamOps,
  ) {}

  /** Store-unique id of this stream (for logs and metrics). */
  get streamId(): number {
    return this.state.id;
  }

  /**
   * Creates a watcher and queues etcd's "created" response (header revision = the
   * current revision). Refusals queue `created + canceled` with watch id -1 and the
   * reason, as etcd does:
   * - range_end not greater than key: "mvcc: watcher range is empty"
   * - watchId already used on this stream: "mvcc: duplicate watch ID provided on the WatchStream"
   * - negative or unsafe start revision, the stream or store watcher limit, a closed stream.
   *
   * A start revision below the store's compacted revision queues the compacted
   * response (compactRevision set, canceled) right after "created"; the id stays taken
   * until {@link cancel}, as in etcd. A start revision equal to it is served (note:
   * like etcd, deletions at exactly the compacted revision are no longer in history).
   */
  watch(req: WatchCreateRequest): WatchCreateResult {
    return this.ops.watch(this.state, req);
  }

  /**
   * Cancels a watcher and queues the "canceled" response. Returns false (and queues
   * nothing, as etcd) when the id is unknown. Responses already queued for the watcher
   * stay queued, before the "canceled" one.
   */
  cancel(watchId: bigint): boolean {
    return this.ops.cancel(this.state, watchId);
  }

  /**
   * A client's WatchProgressRequest: queues one response with watch id -1 and the
   * current revision once every watcher of the stream is synced, which proves the
   * client has received every event up to that revision (etcd 3.5 semantics; 3.4.23
   * answered at once even with watchers behind). If some watcher is catching up the
   * response is deferred until all are synced; repeated requests meanwhile collapse
   * into one. A stream without watchers is answered at once.
   */
  requestProgress(): void {
    this.ops.requestProgress(this.state);
  }

  /**
   * The server's progress_notify tick for this stream (etcd: every 10 minutes by
   * default, with jitter): every synced watcher created with `progressNotify` that got
   * no events since the previous tick gets an empty response with its own id and the
   * current revision. Skipped for watchers not synced or when the outbox is full.
   */
  notifyProgress(): void {
    this.ops.notifyProgress(this.state);
  }

  /**
   * Takes the oldest queued response, or undefined when none. Taking may resume parked
   * watchers (the store then asks for a sync step through `onSyncNeeded`).
   */
  poll(): WatchResponse | undefined {
    const resp = this.state.shift();
    if (resp !== undefined) this.ops.afterPoll(this.state);
    return resp;
  }

  /** Takes up to `max` queued responses (all by default), oldest first. */
  drain(max = Number.POSITIVE_INFINITY): WatchResponse[] {
    const out: WatchResponse[] = [];
    while (out.length < max) {
      const resp = this.state.shift();
      if (resp === undefined) break;
      out.push(resp);
    }
    if (out.length > 0) this.ops.afterPoll(this.state);
    return out;
  }

  /** Responses waiting in the outbox. */
  get pendingResponses(): number {
    return this.state.pendingResponses;
  }

  /** Estimated wire bytes waiting in the outbox. */
  get pendingBytes(): number {
    return this.state.pendingBytes;
  }

  /** True when an event response would not be admitted now (stop reading requests). */
  get isFull(): boolean {
    return !this.state.hasRoom(0);
  }

  /** Watch ids in use on this stream, including compacted ones not yet cancelled. */
  get watcherCount(): number {
    return this.state.watchers.size;
  }

  /** Watchers of this stream parked on a full outbox. */
  get parkedCount(): number {
    return this.state.parked.size;
  }

  get closed(): boolean {
    return this.state.closed;
  }

  /** Cancels every watcher without queueing responses and drops the outbox. Idempotent. */
  close(): void {
    this.ops.close(this.state);
  }
}
