// Watch: one gRPC stream per watcher that resumes, after a lost connection, on another endpoint
// from the revision after the last one it delivered: no event lost, none repeated.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, mvccpb } from '@raftkv/api';
import { CancelledError, EtcdClientError, InvalidAuthTokenError, toClientError, WatchCompactedError } from './errors.js';
import { retryable, sleep, type Pool } from './connection.js';
import type { Bytes, KeySelector, KeyValue, Namespace, ResponseHeader } from './kv.js';

export interface WatchOptions extends KeySelector {
  /** First revision to deliver; default: the changes after the watch is created. */
  startRevision?: number | bigint;
  /** Deliver the previous key-value with each event. */
  prevKv?: boolean;
  /** Leave these events out. */
  filters?: Array<'noPut' | 'noDelete'>;
  /** Ask the server for progress notifications (batches with no events, `progress: true`). */
  progressNotify?: boolean;
  /** Closes the watcher (iteration ends). */
  signal?: AbortSignal;
  /**
   * Batches queued unread before the watcher stops reading its stream (default 1000): HTTP/2
   * flow control then holds the server back (etcd parks a slow watcher) until half are read.
   */
  maxQueuedBatches?: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}

/** What one server response delivered: its events, in revision order, or a progress notification. */
export interface WatchBatch {
  header: ResponseHeader;
  events: WatchEvent[];
  /** A progress notification: every change up to `header.revision` has been delivered. */
  progress: boolean;
}

/**
 * A watch on a key or a range. Iterate it (`for await (const batch of watcher)`), or
 * `watcher.events()` for single events. It reconnects by itself; it ends with an error when
 * the start revision was compacted ({@link WatchCompactedError}: events are gone, re-read and
 * watch again from `compactRevision`), when the server cancels it, or when `close()` is called
 * (then iteration just ends).
 *
 * Gotcha: batches queue until read (up to `maxQueuedBatches`, then the stream is held back);
 * read the watcher or close it.
 */
export class Watcher implements AsyncIterable<WatchBatch> {
  private readonly queue: WatchBatch[] = [];
  private waiting: (() => void) | undefined;
  private failure: EtcdClientError | undefined;
  private done = false;
  private call: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> | undefined;
  private next: bigint | undefined;
  private readyResolve!: () => void;
  private readyReject!: (e: unknown) => void;
  /** Resolves once the server has created the watch (the first time). */
  readonly ready: Promise<void>;
  /** How many times the watch was created again after a lost stream. */
  reconnects = 0;

  /** @internal made by the client, not by users. */
  constructor(private readonly pool: Pool, private readonly ns: Namespace, private readonly key: Bytes, private readonly opts: WatchOptions) {
    this.ready = new Promise((res, rej) => { this.readyResolve = res; this.readyReject = rej; });
    this.ready.catch(() => undefined);
    if (opts.startRevision !== undefined && BigInt(opts.startRevision) > 0n) this.next = BigInt(opts.startRevision);
    if (opts.signal?.aborted || pool.isClosed) {
      this.close();
      return;
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    pool.closeSignal.addEventListener('abort', this.onAbort, { once: true });
    void this.run();
  }

  /** Batches received and not read yet. */
  get queued(): number {
    return this.queue.length;
  }

  /** The revision the watch would resume from (the one after the last delivered change). */
  get nextRevision(): bigint | undefined {
    return this.next;
  }

  private readonly onAbort = (): void => this.close();

  private unlisten(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.pool.closeSignal.removeEventListener('abort', this.onAbort);
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.unlisten();
    this.call?.cancel();
    this.readyReject(new CancelledError('watch closed'));
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private fail(err: EtcdClientError): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    this.unlisten();
    this.call?.cancel();
    this.readyReject(err);
    this.wake();
  }

  private createRequest(): etcdserverpb.WatchRequest {
    const { key, rangeEnd } = this.ns.range(this.key, this.opts);
    return etcdserverpb.WatchRequest.fromPartial({
      createRequest: {
        key, rangeEnd, startRevision: this.next ?? 0n, prevKv: this.opts.prevKv ?? false,
        progressNotify: this.opts.progressNotify ?? false,
        filters: (this.opts.filters ?? []).map((f) => (f === 'noPut'
          ? etcdserverpb.WatchCreateRequest_FilterType.NOPUT : etcdserverpb.WatchCreateRequest_FilterType.NODELETE)),
      },
    });
  }

  private async run(): Promise<void> {
    for (let attempt = 0; !this.done; attempt++) {
      let address: string | undefined;
      try {
        await this.pool.authenticated();
        if (this.done) return;
        const opened = this.pool.bidi(etcdserverpb.WatchService.watch);
        address = opened.address;
        this.call = opened.call;
        if (this.paused) opened.call.pause();
        await this.consume(opened.call, () => { attempt = 0; });
        // The server ended the stream (it is shutting down): resume elsewhere.
        this.pool.failover(address);
      } catch (raw) {
        if (this.done) return;
        const err = toClientError(raw);
        if (err instanceof InvalidAuthTokenError) {
          try { await this.pool.refreshToken(); } catch (e) { this.fail(toClientError(e)); return; }
          continue;
        }
        if (err instanceof WatchCompactedError || !retryable(raw, err, 'idempotent').again) { this.fail(err); return; }
        if (address !== undefined) this.pool.failover(address);
      }
      if (this.done) return;
      this.reconnects++;
      try { await sleep(Math.min(50 * 2 ** Math.min(attempt, 4), 1000), this.pool.closeSignal); } catch { return; }
    }
  }

  private consume(call: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>, onCreated: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      call.on('data', (res: etcdserverpb.WatchResponse) => {
        if (this.done) return;
        const header = res.header ?? { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
        if (res.canceled) {
          if (res.compactRevision > 0n) reject(new WatchCompactedError(res.compactRevision));
          else reject(new EtcdClientError(res.cancelReason || 'watch canceled by the server'));
          call.cancel();
          return;
        }
        if (res.created) {
          // Without a start revision the watch begins after the revision it was created at.
          this.next ??= header.revision + 1n;
          onCreated();
          this.readyResolve();
          return;
        }
        if (res.events.length === 0) {
          // A progress notification: nothing up to header.revision is still to come.
          if (this.next === undefined || header.revision + 1n > this.next) this.next = header.revision + 1n;
          if (this.opts.progressNotify) this.push({ header, events: [], progress: true });
          return;
        }
        const events = res.events.map((e): WatchEvent => ({
          type: e.type === mvccpb.Event_EventType.DELETE ? 'delete' : 'put',
          kv: this.ns.strip(e.kv!),
          prevKv: e.prevKv === undefined ? undefined : this.ns.strip(e.prevKv),
        }));
        this.next = res.events[res.events.length - 1]!.kv!.modRevision + 1n;
        this.push({ header, events, progress: false });
      });
      call.on('error', reject);
      call.on('end', resolve);
      call.write(this.createRequest());
    });
  }

  private paused = false;

  private get highWater(): number {
    return Math.max(this.opts.maxQueuedBatches ?? 1000, 1);
  }

  private push(batch: WatchBatch): void {
    this.queue.push(batch);
    if (!this.paused && this.queue.length >= this.highWater) {
      this.paused = true;
      this.call?.pause();
    }
    this.wake();
  }

  private take(): WatchBatch | undefined {
    const b = this.queue.shift();
    if (this.paused && this.queue.length <= this.highWater / 2) {
      this.paused = false;
      this.call?.resume();
    }
    return b;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    try {
      for (;;) {
        const b = this.take();
        if (b !== undefined) { yield b; continue; }
        if (this.done) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((r) => { this.waiting = r; });
      }
    } finally {
      this.close();
    }
  }

  /** The events one by one. */
  async *events(): AsyncGenerator<WatchEvent> {
    for await (const b of this) yield* b.events;
  }
}
