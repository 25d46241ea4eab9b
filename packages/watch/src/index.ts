export type { WatchSource } from './watch-source.js';
export {
  WatchableStore,
  CANCEL_REASON_DUPLICATE_ID,
  CANCEL_REASON_EMPTY_RANGE,
  type SyncResult,
  type WatchableStoreOptions,
  type WatchStats,
  type WatchStreamOptions,
} from './watchable-store.js';
export type { WatchStream, WatchCreateRequest, WatchCreateResult } from './watch-stream.js';
export {
  INVALID_WATCH_ID,
  eventWireSize,
  fragmentWatchResponse,
  watchResponseWireSize,
  type WatchResponse,
} from './watch-response.js';
