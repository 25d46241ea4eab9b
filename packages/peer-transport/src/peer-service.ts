import { Metadata, status, type ServiceDefinition } from '@grpc/grpc-js';

/**
 * The `raftkvpb.Peer` gRPC service: our own service name, raw bytes on the wire (no protobuf),
 * spoken only between raftkv members on their peer URLs.
 *
 * - `Stream` (bidi): the sender writes frames (see `frame.ts`), one per batch of raft messages;
 *   the receiver answers the call's headers once it accepts the sender (that is the sender's
 *   signal that the stream is up) and writes nothing else.
 * - `Snapshot` (client streaming): snapshot chunks (see `snapshot-chunk.ts`); the receiver
 *   answers one byte, {@link SNAPSHOT_OK}, after the snapshot was consumed and verified.
 *
 * Every call carries {@link HEADER_CLUSTER_ID}, {@link HEADER_FROM} and {@link HEADER_TO}
 * (lower-case hex IDs, as etcd prints them).
 */
export const PEER_SERVICE_NAME = 'raftkvpb.Peer';
export const STREAM_PATH = `/${PEER_SERVICE_NAME}/Stream`;
export const SNAPSHOT_PATH = `/${PEER_SERVICE_NAME}/Snapshot`;

export const HEADER_CLUSTER_ID = 'raftkv-cluster-id';
export const HEADER_FROM = 'raftkv-from';
export const HEADER_TO = 'raftkv-to';

/** The whole Snapshot response body when the receiver accepted the snapshot. */
export const SNAPSHOT_OK = 1;

export const ERR_CLUSTER_ID_MISMATCH = 'raftkv: cluster ID mismatch';
export const ERR_TO_MISMATCH = 'raftkv: to member ID mismatch';
export const ERR_UNKNOWN_SENDER = 'raftkv: unknown sender member ID';
/** The sender was removed from the cluster: it must stop (etcd answers such a member 410 Gone). */
export const ERR_MEMBER_REMOVED = 'raftkv: the member has been permanently removed from the cluster';
export const ERR_BAD_HEADER = 'raftkv: missing or malformed peer header';

const identity = (b: Buffer): Buffer => b;

/** Service definition with identity (de)serializers; pass to `grpc.Server.addService`. */
export const peerServiceDefinition: ServiceDefinition = {
  Stream: {
    path: STREAM_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Snapshot: {
    path: SNAPSHOT_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** A 64-bit ID as etcd prints it: lower-case hex, no leading zeros. */
export function idToHex(id: bigint): string {
  return id.toString(16);
}

/** Parses a header ID; `undefined` for anything but 1–16 hex digits. */
export function parseHexId(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(value)) return undefined;
  return BigInt(`0x${value}`);
}

/** The headers a sender puts on every call. */
export function peerMetadata(clusterId: bigint, from: bigint, to: bigint): Metadata {
  const md = new Metadata();
  md.set(HEADER_CLUSTER_ID, idToHex(clusterId));
  md.set(HEADER_FROM, idToHex(from));
  md.set(HEADER_TO, idToHex(to));
  return md;
}

/** Why a receiver refuses a call: a gRPC status code and its message. */
export interface Refusal {
  code: status;
  details: string;
}

/**
 * Checks a call's headers. Returns the sender's ID, or the refusal to answer with: another
 * cluster's ID or a call meant for another member is FAILED_PRECONDITION (as etcd refuses
 * members of other clusters), and so is a sender `isKnown` rejects.
 */
export function checkPeerMetadata(
  md: Metadata,
  clusterId: bigint,
  selfId: bigint,
  isKnown: ((id: bigint) => boolean) | undefined,
  isRemoved?: (id: bigint) => boolean,
): { from: bigint } | Refusal {
  const cid = parseHexId(md.get(HEADER_CLUSTER_ID)[0]);
  const from = parseHexId(md.get(HEADER_FROM)[0]);
  const to = parseHexId(md.get(HEADER_TO)[0]);
  if (cid === undefined || from === undefined || to === undefined) return { code: status.INVALID_ARGUMENT, details: ERR_BAD_HEADER };
  return checkPeerIds({ clusterId: cid, from, to }, clusterId, selfId, isKnown, isRemoved);
}

/** {@link checkPeerMetadata} for IDs already parsed (a raw stream's hello). */
export function checkPeerIds(
  ids: { clusterId: bigint; from: bigint; to: bigint },
  clusterId: bigint,
  selfId: bigint,
  isKnown: ((id: bigint) => boolean) | undefined,
  isRemoved?: (id: bigint) => boolean,
): { from: bigint } | Refusal {
  const { clusterId: cid, from, to } = ids;
  if (cid !== clusterId) return { code: status.FAILED_PRECONDITION, details: ERR_CLUSTER_ID_MISMATCH };
  if (to !== selfId) return { code: status.FAILED_PRECONDITION, details: ERR_TO_MISMATCH };
  if (isRemoved?.(from)) return { code: status.FAILED_PRECONDITION, details: ERR_MEMBER_REMOVED };
  if (isKnown !== undefined && !isKnown(from)) return { code: status.FAILED_PRECONDITION, details: ERR_UNKNOWN_SENDER };
  return { from };
}
