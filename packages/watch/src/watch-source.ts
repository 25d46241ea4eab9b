import type { Event, EventListenerOptions } from '@raftkv/mvcc';

/**
 * What the watchable store needs from the revisioned key space. `MvccStore` from
 * `@raftkv/mvcc` satisfies it as is; tests may pass a model.
 *
 * Contract the store relies on:
 * - `onEvents` calls the listener synchronously, once per new revision, AFTER
 *   `currentRevision` reflects it, with every event of that revision in order (a txn's
 *   events together), `prevKv` filled when the key existed before — at least whenever
 *   the `wantsPrevKv` passed with the listener says so at that write.
 * - `eventsBetween(from, to, limit, withPrevKv)` returns the stored events of revisions
 *   from..to inclusive, in revision order, whole revisions only, at most `limit` events
 *   unless the first revision alone is larger; an empty result means no stored events
 *   in the range. It may throw when `from < compactedRevision`; the store never asks.
 * - `compactedRevision` is 0 before the first compaction; revisions >= it are readable.
 * - `onRestore` calls the listener synchronously after the source's whole state was
 *   replaced in place (a raft snapshot installed: `MvccStore.restore`), once
 *   `currentRevision`, `compactedRevision` and `eventsBetween` reflect the new history;
 *   the replacement itself produces no `onEvents` call. The new current revision may be
 *   lower or higher than before.
 */
export interface WatchSource {
  readonly currentRevision: number;
  readonly compactedRevision: number;
  onEvents(listener: (events: Event[], revision: number) => void, options?: EventListenerOptions): () => void;
  onRestore(listener: () => void): () => void;
  eventsBetween(fromRevision: number, toRevision: number, limit: number, withPrevKv?: boolean): Event[];
}
