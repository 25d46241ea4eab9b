import type { KeyRange } from './key-range.js';
import type { StreamState } from './stream-state.js';

/**
 * Where a watcher is. `synced`: it has seen every revision up to the store's current
 * one and gets new revisions straight from apply. `unsynced`: it must read history
 * from `minRevision` before it can join the synced group. `parked`: its stream's
 * buffer was full; it holds no events and waits, at `minRevision`, for the consumer
 * to drain (then it becomes `unsynced`). `compacted`: cancelled because history from
 * `minRevision` was compacted; its id stays taken in the stream until cancelled, as in
 * etcd. `canceled`: gone.
 */
export type WatcherState = 'synced' | 'unsynced' | 'parked' | 'compacted' | 'canceled';

/** Internal state of one watcher. Owned by its stream; moved between groups by the store. */
export class Watcher {
  state: WatcherState = 'unsynced';
  /**
   * The first revision this watcher still has to receive. Meaningful while unsynced or
   * parked; for a synced watcher it only skips revisions before a future start revision.
   */
  minRevision: number;
  /** Set when events went out since the last progress_notify tick (etcd elides the next). */
  sentSinceTick = false;

  constructor(
    readonly id: bigint,
    readonly stream: StreamState<Watcher>,
    readonly range: KeyRange,
    startRevision: number,
    readonly noPut: boolean,
    readonly noDelete: boolean,
    readonly prevKv: boolean,
    readonly progressNotify: boolean,
    readonly fragment: boolean,
  ) {
    this.minRevision = startRevision;
  }
}
