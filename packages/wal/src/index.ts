export { Wal, DEFAULT_SEGMENT_SIZE_BYTES, type WalOptions, type WalStats } from './wal.js';
export { type WalReplay, type WalEntry } from './replay.js';
export { type WalRecord, type HardState, type SnapshotMarker, MAX_RECORD_PAYLOAD_BYTES } from './record.js';
export { WalCorruptionError, WalClosedError } from './errors.js';
export { SnapshotStore, type SnapshotData, type LoadedSnapshot } from './snapshot-store.js';
