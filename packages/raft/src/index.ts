/**
 * @raftkv/raft — Raft consensus as a pure, deterministic state machine in
 * the shape of etcd's raft library: no timers, no clock, no randomness of its
 * own, no I/O.
 *
 * Drive a `RawNode`: call `tick()` on a timer, `step()` with messages from
 * peers, `propose()` / `proposeConfChange()` / `readIndex()` /
 * `transferLeader()` / `campaign()` for requests; then, while `hasReady()`,
 * take `ready()`, persist its entries and hard state, send its messages,
 * apply its committed entries, and call `advance()`. See `Ready` for the
 * exact ordering contract and README.md for a complete three-node loop.
 *
 * Membership is bootstrapped from `RaftConfig.voters` on a brand-new node;
 * committed conf-change entries take effect when passed to
 * `applyConfChange()`. Messages and entries have a compact binary encoding
 * (`encodeMessage`, `encodeEntry`, ...) for the transport and the WAL.
 */
export { RawNode, SnapshotStatus } from './raw-node.js';
export type { Ready, Status, ProgressStatus } from './raw-node.js';
export type { RaftConfig } from './config.js';
export { ReadOnlyOption } from './read-only.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export { MemoryStorage } from './storage.js';
export type { Storage, InitialState } from './storage.js';
export {
  NONE,
  EntryType,
  MessageType,
  ConfChangeType,
  ConfChangeTransition,
  StateType,
  messageTypeName,
  isEmptySnapshot,
  isEmptyHardState,
} from './types.js';
export type {
  Entry,
  Message,
  HardState,
  ConfState,
  Snapshot,
  SnapshotMetadata,
  ConfChange,
  ConfChangeV2,
  ConfChangeSingle,
  SoftState,
  ReadState,
} from './types.js';
export {
  encodeEntry,
  encodeEntryHead,
  decodeEntry,
  encodeMessage,
  decodeMessage,
  encodeHardState,
  decodeHardState,
  encodeConfState,
  decodeConfState,
  encodeSnapshotMetadata,
  decodeSnapshotMetadata,
  encodeSnapshot,
  decodeSnapshot,
  encodeConfChange,
  decodeConfChange,
  encodeConfChangeV2,
  decodeConfChangeV2,
  decodeEntryConfChange,
} from './codec.js';
export {
  RaftError,
  CompactedError,
  UnavailableError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  ProposalDroppedError,
  ConfigError,
  ConfChangeError,
  DecodeError,
  RaftInvariantError,
} from './errors.js';
