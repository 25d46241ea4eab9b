import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameError, frameBytes } from './frame.js';

describe('frame', () => {
  it('round-trips any batch of messages, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 50 }), (msgs) => {
        const frame = encodeFrame(msgs);
        expect(frame.byteLength).toBe(frameBytes(msgs.reduce((n, m) => n + m.byteLength, 0), msgs.length));
        expect(decodeFrame(frame, 1000).map((m) => Buffer.from(m))).toEqual(msgs.map((m) => Buffer.from(m)));
      }),
    );
  });

  it('refuses every strict prefix of a frame and any trailing byte', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 16 }), { minLength: 1, maxLength: 8 }), (msgs) => {
        const frame = encodeFrame(msgs);
        for (let n = 0; n < frame.byteLength; n++) expect(() => decodeFrame(frame.subarray(0, n), 1000)).toThrow(FrameError);
        expect(() => decodeFrame(Buffer.concat([frame, Buffer.from([0])]), 1000)).toThrow(FrameError);
      }),
    );
  });

  it.each([
    ['a count that cannot fit', Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]), /cannot fit/],
    ['a length past the end', Buffer.from([0, 0, 0, 1, 0, 0, 0, 5, 1, 2]), /runs past the end/],
    ['more messages than the limit', encodeFrame([new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)]), /more than the limit 2/],
  ])('refuses %s', (_name, frame, message) => {
    expect(() => decodeFrame(frame, 2)).toThrow(message);
  });

  it('encodes an empty batch as a bare count', () => {
    expect([...encodeFrame([])]).toEqual([0, 0, 0, 0]);
    expect(decodeFrame(encodeFrame([]), 0)).toEqual([]);
  });
});
