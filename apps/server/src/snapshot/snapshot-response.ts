// etcdserverpb.SnapshotResponse as protobuf writes it, for the blobs of a snapshot stream
// (built on the export worker: the generated encoder is slow and would load the whole API there).
import { writeVarint } from '../grpc/varint.js';

/** etcd's snapshotSendBufferSize: the blob of each message. */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** Bytes a message adds to its blob, at most: two tags, a uint64 varint, a length varint. */
export const MAX_OVERHEAD = 2 + 10 + 5;

// SnapshotResponse fields: remaining_bytes = 2 (uint64), blob = 3 (bytes); etcd 3.4 sets no header.
const TAG_REMAINING = 2 << 3;
const TAG_BLOB = (3 << 3) | 2;

/** SnapshotResponse{remainingBytes, blob} as protobuf writes it (a zero field left out). */
export function encodeSnapshotResponse(remainingBytes: number, blob: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(MAX_OVERHEAD + blob.length);
  const at = writeSnapshotResponseHead(out, 0, remainingBytes, blob.length);
  out.set(blob, at);
  return out.subarray(0, at + blob.length);
}

/**
 * Writes a message's fields up to its blob's bytes at `out[start]` and returns where the blob
 * (`blobLength` bytes, not empty) goes.
 */
export function writeSnapshotResponseHead(out: Buffer, start: number, remainingBytes: number, blobLength: number): number {
  let at = start;
  if (remainingBytes !== 0) {
    out[at++] = TAG_REMAINING;
    at = writeVarint(out, at, remainingBytes);
  }
  out[at++] = TAG_BLOB;
  return writeVarint(out, at, blobLength);
}
