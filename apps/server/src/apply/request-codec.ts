import { etcdserverpb } from '@raftkv/api';

/**
 * What one log entry asks the apply loop to do. Entries carry the client's request exactly as
 * it came over the wire (protobuf bytes), behind a kind byte and the proposing member's request
 * ID, so replay after a crash applies the very same bytes.
 */
export type InternalRequest =
  | { kind: 'put'; id: bigint; put: etcdserverpb.PutRequest }
  | { kind: 'deleteRange'; id: bigint; deleteRange: etcdserverpb.DeleteRangeRequest }
  | { kind: 'txn'; id: bigint; txn: etcdserverpb.TxnRequest }
  | { kind: 'compaction'; id: bigint; compaction: etcdserverpb.CompactionRequest }
  | { kind: 'leaseGrant'; id: bigint; leaseGrant: etcdserverpb.LeaseGrantRequest }
  | { kind: 'leaseRevoke'; id: bigint; leaseRevoke: etcdserverpb.LeaseRevokeRequest }
  | { kind: 'leaseCheckpoint'; id: bigint; leaseCheckpoint: etcdserverpb.LeaseCheckpointRequest }
  /** A started member publishes its name and client URLs (etcd's publish); ID, name and clientURLs are used. */
  | { kind: 'memberAttributes'; id: bigint; member: etcdserverpb.Member }
  /** Raises, clears (or lists) an alarm: every member's alarm store changes at the same index. */
  | { kind: 'alarm'; id: bigint; alarm: etcdserverpb.AlarmRequest };

// Codes are part of the WAL format: never renumber one.
const KIND_CODES = { put: 1, deleteRange: 2, txn: 3, compaction: 4, leaseGrant: 5, leaseRevoke: 6, leaseCheckpoint: 7, memberAttributes: 8, alarm: 9 } as const;
const HEADER_BYTES = 9; // kind (1) + request id (8, big-endian)

function payload(req: InternalRequest): Uint8Array {
  switch (req.kind) {
    case 'put': return etcdserverpb.PutRequest.encode(req.put).finish();
    case 'deleteRange': return etcdserverpb.DeleteRangeRequest.encode(req.deleteRange).finish();
    case 'txn': return etcdserverpb.TxnRequest.encode(req.txn).finish();
    case 'compaction': return etcdserverpb.CompactionRequest.encode(req.compaction).finish();
    case 'leaseGrant': return etcdserverpb.LeaseGrantRequest.encode(req.leaseGrant).finish();
    case 'leaseRevoke': return etcdserverpb.LeaseRevokeRequest.encode(req.leaseRevoke).finish();
    case 'leaseCheckpoint': return etcdserverpb.LeaseCheckpointRequest.encode(req.leaseCheckpoint).finish();
    case 'memberAttributes': return etcdserverpb.Member.encode(req.member).finish();
    case 'alarm': return etcdserverpb.AlarmRequest.encode(req.alarm).finish();
  }
}

export function encodeInternalRequest(req: InternalRequest): Buffer {
  const body = payload(req);
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.byteLength);
  out[0] = KIND_CODES[req.kind];
  out.writeBigUInt64BE(req.id, 1);
  out.set(body, HEADER_BYTES);
  return out;
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  if (data.byteLength < HEADER_BYTES) throw new Error(`log entry of ${data.byteLength} bytes is too short`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const id = buf.readBigUInt64BE(1);
  const body = buf.subarray(HEADER_BYTES);
  switch (buf[0]) {
    case KIND_CODES.put: return { kind: 'put', id, put: etcdserverpb.PutRequest.decode(body) };
    case KIND_CODES.deleteRange: return { kind: 'deleteRange', id, deleteRange: etcdserverpb.DeleteRangeRequest.decode(body) };
    case KIND_CODES.txn: return { kind: 'txn', id, txn: etcdserverpb.TxnRequest.decode(body) };
    case KIND_CODES.compaction: return { kind: 'compaction', id, compaction: etcdserverpb.CompactionRequest.decode(body) };
    case KIND_CODES.leaseGrant: return { kind: 'leaseGrant', id, leaseGrant: etcdserverpb.LeaseGrantRequest.decode(body) };
    case KIND_CODES.leaseRevoke: return { kind: 'leaseRevoke', id, leaseRevoke: etcdserverpb.LeaseRevokeRequest.decode(body) };
    case KIND_CODES.leaseCheckpoint: return { kind: 'leaseCheckpoint', id, leaseCheckpoint: etcdserverpb.LeaseCheckpointRequest.decode(body) };
    case KIND_CODES.memberAttributes: return { kind: 'memberAttributes', id, member: etcdserverpb.Member.decode(body) };
    case KIND_CODES.alarm: return { kind: 'alarm', id, alarm: etcdserverpb.AlarmRequest.decode(body) };
    default: throw new Error(`unknown log entry kind ${buf[0]}`);
  }
}
