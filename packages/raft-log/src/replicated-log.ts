/** One entry of the replicated log, committed and ready to apply. */
export interface CommittedEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/**
 * The server's view of the consensus log: it takes proposals and hands back committed entries,
 * in index order, only after they are durable in the WAL (raft-log's `RaftLog`).
 */
export interface ReplicatedLog {
  /** Queues `data` for the log. Its entry reaches the apply callback once committed and durable. */
  propose(data: Uint8Array): void;
  /** The current raft term, for response headers. */
  readonly term: number;
  /** The highest index known committed. */
  readonly commitIndex: number;
  /** Stops taking proposals and waits for the entries in flight to be persisted. */
  close(): Promise<void>;
}
