/**
 * Counters for one peer, for /metrics. All are totals since the peer was added, except
 * `queuedMessages`/`queuedBytes` (now) and `active` (the outbound stream is accepted now).
 */
export interface PeerStats {
  /** Raft messages / bytes / frames written to the outbound stream. */
  sentMessages: number;
  sentBytes: number;
  sentBatches: number;
  /** Raft messages / bytes / frames received from this peer's inbound stream. */
  receivedMessages: number;
  receivedBytes: number;
  receivedBatches: number;
  /** Messages refused by `send()` because this peer's queue was full. */
  drops: number;
  /** Outbound streams the peer accepted after the first one. */
  reconnects: number;
  /** Outbound streams that failed: refused, dial timeout, or lost after being accepted. */
  streamFailures: number;
  /** Snapshots sent that the peer accepted / that failed. */
  snapshotsSent: number;
  snapshotsFailed: number;
  /** Snapshots received and accepted from this peer. */
  snapshotsReceived: number;
  queuedMessages: number;
  queuedBytes: number;
  active: boolean;
}

export function emptyPeerStats(): PeerStats {
  return {
    sentMessages: 0,
    sentBytes: 0,
    sentBatches: 0,
    receivedMessages: 0,
    receivedBytes: 0,
    receivedBatches: 0,
    drops: 0,
    reconnects: 0,
    streamFailures: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsReceived: 0,
    queuedMessages: 0,
    queuedBytes: 0,
    active: false,
  };
}
