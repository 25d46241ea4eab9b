import { crc32 } from 'node:zlib';

/**
 * The messages of a `raftkvpb.Peer/Snapshot` call. Each starts with a kind byte:
 *
 * ```
 * [1] metadata bytes           exactly once, first (the raft MsgSnap message)
 * [2] data bytes               zero or more, in order
 * [3] u64 total bytes, u32 crc exactly once, last: length and CRC-32 of all data bytes
 * ```
 *
 * The trailer lets the receiver tell a complete snapshot from one whose sender stopped early,
 * and check the bytes it was handed before it reports success.
 */
export enum SnapshotChunkKind {
  Metadata = 1,
  Data = 2,
  End = 3,
}

export class SnapshotChunkError extends Error {
  override name = 'SnapshotChunkError';
}

export function encodeSnapshotChunk(kind: SnapshotChunkKind.Metadata | SnapshotChunkKind.Data, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + body.byteLength);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

export function encodeSnapshotEnd(totalBytes: number, crc: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = SnapshotChunkKind.End;
  out.writeBigUInt64BE(BigInt(totalBytes), 1);
  out.writeUInt32BE(crc >>> 0, 9);
  return out;
}

export type SnapshotChunk =
  | { kind: SnapshotChunkKind.Metadata | SnapshotChunkKind.Data; body: Uint8Array }
  | { kind: SnapshotChunkKind.End; totalBytes: number; crc: number };

/** @throws SnapshotChunkError for an unknown kind or a malformed trailer. */
export function decodeSnapshotChunk(msg: Uint8Array): SnapshotChunk {
  const kind = msg[0];
  if (kind === SnapshotChunkKind.Metadata || kind === SnapshotChunkKind.Data) return { kind, body: msg.subarray(1) };
  if (kind === SnapshotChunkKind.End) {
    if (msg.byteLength !== 13) throw new SnapshotChunkError(`snapshot: end chunk of ${msg.byteLength} bytes, want 13`);
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const total = view.getBigUint64(1);
    if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw new SnapshotChunkError(`snapshot: total ${total} bytes exceeds MAX_SAFE_INTEGER`);
    return { kind, totalBytes: Number(total), crc: view.getUint32(9) };
  }
  throw new SnapshotChunkError(`snapshot: unknown chunk kind ${kind ?? '(empty)'}`);
}

/** Running CRC-32 (the zlib polynomial) over the data chunks. */
export function updateCrc(crc: number, body: Uint8Array): number {
  return crc32(body, crc);
}
