/**
 * @raftkv/peer-transport — the peer transport: raft messages and snapshots between raftkv members over gRPC
 * (service `raftkvpb.Peer`, raw bytes, no protobuf). Start with {@link PeerTransport}.
 *
 * Wiring it into the server (one transport per member):
 *
 * 1. `new PeerTransport({ selfId, clusterId, onMessages, onSnapshot, onUnreachable, logger })`:
 *    - `onMessages(from, msgs)`: `node.step(decodeMessage(m))` for each, in order (copy `m` if
 *      kept: it is a view into the received frame);
 *    - `onUnreachable(id)`: `node.reportUnreachable(id)`;
 *    - `onSnapshot(from, metadata, data)`: persist `data` as the snapshot file, then step the
 *      decoded MsgSnap `metadata`; throw to refuse.
 * 2. Serve it on the peer listener (`--listen-peer-urls`): either `await t.listen(urls)`, or on a
 *    server you own: `new grpc.Server(t.serverOptions())` and
 *    `server.addService(t.service().definition, t.service().implementation)`.
 * 3. `t.addPeer(id, peerURLs)` for every other member (`--initial-cluster`, then conf changes:
 *    `addPeer` / `updatePeer` / `removePeer` as they are applied).
 * 4. For each Ready, when raft's `Ready` contract allows sending (after persisting, for
 *    `messages`): `t.send(m.to, encodeMessage(m))` for each message except MsgSnap; for MsgSnap,
 *    `t.sendSnapshot(m.to, encodeMessage(m), snapshotBytes)` and report the outcome with
 *    `node.reportSnapshot(m.to, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure)`.
 * 5. `t.stats()` for /metrics; `await t.close()` on shutdown.
 */
export { PeerTransport, DEFAULT_PEER_LIMITS } from './peer-transport.js';
export type { PeerTransportOptions, PeerTransportLimits, PeerTransportStats } from './peer-transport.js';
export type { PeerStats } from './peer-stats.js';
export type { PeerLogger } from './logger.js';
/** The peer wire format of a batch of raft messages, for tools that speak it directly (the fuzzer). */
export { encodeFrame } from './frame.js';
export { PEER_SERVICE_NAME, ERR_CLUSTER_ID_MISMATCH, ERR_UNKNOWN_SENDER, ERR_TO_MISMATCH, ERR_MEMBER_REMOVED } from './peer-service.js';
