import type { WatchResponse } from './watch-response.js';

/** Resolved per-stream limits (see WatchStreamOptions for their meaning). */
export interface StreamLimits {
  readonly maxWatchers: number;
  readonly maxPendingResponses: number;
  readonly maxPendingBytes: number;
  readonly maxResponseBytes: number;
}

/**
 * Everything the store keeps per watch stream: its watchers by id and the outbox, a
 * bounded FIFO of responses waiting for the consumer. FIFO order is what makes a
 * progress response truthful: it is queued behind every event it vouches for. `W` is the
 * watcher type (a parameter, so this file and `watcher.ts` do not import each other).
 */
export class StreamState<W = unknown> {
  readonly watchers = new Map<bigint, W>();
  /** Watchers created with progress_notify. */
  readonly progressNotify = new Set<W>();
  /** Watchers waiting for this outbox to drain. */
  readonly parked = new Set<W>();
  nextAutoId = 0n;
  /** Live watchers that are unsynced or parked (a requested progress waits for 0). */
  notSynced = 0;
  deferredProgress = false;
  closed = false;

  // Two parallel arrays rather than wrapper objects: one allocation less per response.
  private queue: WatchResponse[] = [];
  private sizes: number[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    readonly id: number,
    readonly limits: StreamLimits,
    readonly onReadable: (() => void) | undefined,
  ) {}

  get pendingResponses(): number {
    return this.queue.length - this.head;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /**
   * Admission rule for event responses: always when the outbox is empty (so a response
   * larger than the byte limit still goes out, alone), otherwise within both limits.
   */
  hasRoom(bytes: number): boolean {
    const n = this.pendingResponses;
    if (n === 0) return true;
    return n < this.limits.maxPendingResponses && this.bytes + bytes <= this.limits.maxPendingBytes;
  }

  /** Half empty: parked watchers resume only then, so they do not bounce at the edge. */
  belowLowWater(): boolean {
    return this.pendingResponses <= this.limits.maxPendingResponses / 2 && this.bytes <= this.limits.maxPendingBytes / 2;
  }

  /** Appends unconditionally; returns true when the outbox was empty before. */
  push(resp: WatchResponse, bytes: number): boolean {
    const wasEmpty = this.pendingResponses === 0;
    this.queue.push(resp);
    this.sizes.push(bytes);
    this.bytes += bytes;
    return wasEmpty;
  }

  last(): WatchResponse | undefined {
    return this.pendingResponses === 0 ? undefined : this.queue[this.queue.length - 1];
  }

  shift(): WatchResponse | undefined {
    if (this.head >= this.queue.length) return undefined;
    const resp = this.queue[this.head]!;
    this.bytes -= this.sizes[this.head]!;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return resp;
  }

  clear(): void {
    this.queue = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
  }
}
