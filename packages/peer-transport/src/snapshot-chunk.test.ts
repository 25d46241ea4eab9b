import { describe, expect, it } from 'vitest';
import { decodeSnapshotChunk, encodeSnapshotChunk, encodeSnapshotEnd, SnapshotChunkError, SnapshotChunkKind } from './snapshot-chunk.js';

describe('snapshot chunks', () => {
  it('round-trips metadata, data and the end trailer', () => {
    expect(decodeSnapshotChunk(encodeSnapshotChunk(SnapshotChunkKind.Metadata, Buffer.from('meta')))).toEqual({
      kind: SnapshotChunkKind.Metadata,
      body: Buffer.from('meta'),
    });
    expect(decodeSnapshotChunk(encodeSnapshotChunk(SnapshotChunkKind.Data, new Uint8Array(0)))).toEqual({ kind: SnapshotChunkKind.Data, body: Buffer.alloc(0) });
    expect(decodeSnapshotChunk(encodeSnapshotEnd(Number.MAX_SAFE_INTEGER, 0xffffffff))).toEqual({
      kind: SnapshotChunkKind.End,
      totalBytes: Number.MAX_SAFE_INTEGER,
      crc: 0xffffffff,
    });
  });

  it.each([
    ['an empty message', Buffer.alloc(0), /unknown chunk kind \(empty\)/],
    ['an unknown kind', Buffer.from([9, 1]), /unknown chunk kind 9/],
    ['a short end trailer', Buffer.from([3, 0, 0]), /end chunk of 3 bytes/],
    ['a total above MAX_SAFE_INTEGER', Buffer.from([3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), /MAX_SAFE_INTEGER/],
  ])('refuses %s', (_name, msg, error) => {
    expect(() => decodeSnapshotChunk(msg)).toThrow(SnapshotChunkError);
    expect(() => decodeSnapshotChunk(msg)).toThrow(error);
  });
});
