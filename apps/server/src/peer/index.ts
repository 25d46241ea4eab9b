/**
 * The peer transport: raft messages and snapshots between raftkv members over gRPC
 * (`raftkvpb.Peer`). Start with {@link PeerTransport}.
 */
export { PeerTransport, DEFAULT_PEER_LIMITS } from './peer-transport.js';
export type { PeerTransportOptions, PeerTransportLimits, PeerTransportStats } from './peer-transport.js';
export type { PeerStats } from './peer-stats.js';
export { PEER_SERVICE_NAME, ERR_CLUSTER_ID_MISMATCH, ERR_UNKNOWN_SENDER, ERR_TO_MISMATCH } from './peer-service.js';
