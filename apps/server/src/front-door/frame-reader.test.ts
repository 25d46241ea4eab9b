import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame as frame, FrameReader } from './frame-reader.js';


describe('FrameReader', () => {
  /** Frames of random sizes and types, as one byte string, with their expected [type, payload]. */
  const framesOf = (sizes: number[]): { bytes: Buffer; frames: Array<[number, string]> } => {
    const frames: Array<[number, string]> = [];
    const parts: Buffer[] = [];
    sizes.forEach((size, i) => {
      const payload = Buffer.alloc(size, i % 251);
      frames.push([i % 10, payload.toString('hex')]);
      parts.push(frame(i % 10, 0, 1, payload));
    });
    return { bytes: Buffer.concat(parts), frames };
  };

  const readAll = (reader: FrameReader, out: Array<[number, string]>): void => {
    for (let h = reader.peekHeader(); h !== undefined && reader.length >= 9 + h.length; h = reader.peekHeader()) {
      const f = reader.take(9 + h.length);
      out.push([h.type, f.subarray(9).toString('hex')]);
    }
  };

  it('gives the same frames however the bytes are chunked', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
      (sizes, cuts) => {
        const { bytes, frames } = framesOf(sizes);
        const reader = new FrameReader();
        const got: Array<[number, string]> = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          reader.push(bytes.subarray(at, at + n));
          at += n;
          readAll(reader, got);
        }
        expect(got).toEqual(frames);
        expect(reader.length).toBe(0);
      }));
  });

  it('copies each byte at most about once when fed one byte at a time (linear, not quadratic)', () => {
    const { bytes, frames } = framesOf(Array.from({ length: 64 }, () => 16_384)); // 1 MiB
    const stats = { bytesCopied: 0 };
    const reader = new FrameReader(stats);
    const got: Array<[number, string]> = [];
    for (let i = 0; i < bytes.length; i++) {
      reader.push(bytes.subarray(i, i + 1));
      readAll(reader, got);
    }
    expect(got.length).toBe(frames.length);
    expect(got).toEqual(frames);
    // Payload bytes once each, plus the 9-byte headers read across chunks.
    expect(stats.bytesCopied).toBeLessThanOrEqual(bytes.length + 9 * frames.length);
  });
});
