/**
 * @raftkv/raft-log — the raft-replicated, WAL-backed log of a raftkv member (etcd's
 * etcdserver/raft.go and storage.go): {@link RaftLog} implements {@link ReplicatedLog} over
 * `@raftkv/raft`'s `RawNode`, persisting each Ready to `member/wal` and `member/snap`.
 *
 * Wiring (the server's `member/raft-node.ts` does this): open it with the member ID, the data dir's `wal`/`snap`,
 * the WAL metadata, `voters` from `--initial-cluster` on a new member; route `send` to the
 * peer transport (`MsgSnap` via `sendSnapshot`, then `reportSnapshot`), transport input to
 * `step` and unreachable peers to `reportUnreachable`; `apply` feeds the applier (which skips
 * entries at or below mvcc's consistent index); `backendDurable` awaits the backend flush.
 */
export { RaftLog } from './raft-log.js';
export { DEFAULT_MAX_PENDING_READS, type RaftLogOptions } from './raft-log-options.js';
export type { RaftLogStats, RaftLogStatus } from './raft-log-status.js';
export { DEFAULT_MAX_SNAPSHOTS } from './snapshot-keeper.js';
export { DEFAULT_SNAPSHOT_CATCH_UP_ENTRIES, DEFAULT_SNAPSHOT_BYTES, DEFAULT_SNAPSHOT_CATCH_UP_BYTES } from './snapshot-policy.js';
export type { ForceNewClusterOptions, ForcedRestart } from './force-new-cluster.js';
export { RaftLogErrors, ErrProposalDropped } from './proposal-errors.js';
export { intervalTicker, type Ticker } from './ticker.js';
export type { CommittedEntry, ReplicatedLog } from './replicated-log.js';
