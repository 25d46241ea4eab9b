import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '@raftkv/checksum';
import { encodeFrames, FRAME_HEADER_BYTES, MAX_RECORD_PAYLOAD_BYTES, readFrame, validateRecord, type WalRecord } from './record.js';
import { arbRecord } from './test-support/arbitraries.js';

describe('record framing', () => {
  it('round-trips any records through encode and decode, keeping the crc chain', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 20 }), fc.integer({ min: 0, max: 0xffffffff }), (records, seed) => {
        const { bytes, crc } = encodeFrames(records, seed);
        const back: WalRecord[] = [];
        let off = 0;
        let chain = seed;
        while (off < bytes.length) {
          const fr = readFrame(bytes, off, chain);
          if (fr.kind !== 'ok') throw new Error(`frame at ${off}: ${fr.kind}`);
          back.push(fr.record as WalRecord);
          chain = fr.crc;
          off = fr.next;
        }
        expect(back).toEqual(records);
        expect(chain).toBe(crc);
      }),
    );
  });

  it('writes an entry given as head and data as the entry of their concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 0xffffffff }), (head, data, seed) => {
        const split = encodeFrames([{ type: 'entry', term: 3, index: 9, head, data }], seed);
        const whole = encodeFrames([{ type: 'entry', term: 3, index: 9, data: Buffer.concat([head, data]) }], seed);
        expect(Buffer.from(split.bytes)).toEqual(Buffer.from(whole.bytes));
        expect(split.crc).toBe(whole.crc);
        const fr = readFrame(split.bytes, 0, seed);
        expect(fr.kind === 'ok' && fr.record).toEqual({ type: 'entry', term: 3, index: 9, data: new Uint8Array(Buffer.concat([head, data])) });
      }),
    );
  });

  it('refuses an entry whose head and data together are over the limit', () => {
    const half = new Uint8Array(MAX_RECORD_PAYLOAD_BYTES / 2);
    expect(() => validateRecord({ type: 'entry', term: 1, index: 1, head: half, data: half })).toThrow(RangeError);
  });

  it('detects any single flipped bit in a frame', () => {
    fc.assert(
      fc.property(arbRecord, fc.nat(), fc.integer({ min: 0, max: 7 }), (r, pos, bit) => {
        const { bytes } = encodeFrames([r], 7);
        const at = pos % bytes.length;
        bytes[at]! ^= 1 << bit;
        expect(readFrame(bytes, 0, 7).kind).not.toBe('ok');
      }),
    );
  });

  it('rejects a frame checked against the wrong chain value', () => {
    const { bytes } = encodeFrames([{ type: 'hardState', term: 1, vote: 2n, commit: 3 }], 1);
    expect(readFrame(bytes, 0, 2).kind).toBe('badCrc');
  });

  it.each([
    ['zero header', new Uint8Array(20), 'zero'],
    ['fewer bytes than a header', new Uint8Array([1, 2, 3]), 'short'],
    ['unknown type', Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0]), 'badHeader'],
    ['length over the limit', (() => {
      const b = new Uint8Array(FRAME_HEADER_BYTES);
      new DataView(b.buffer).setUint32(4, MAX_RECORD_PAYLOAD_BYTES + 1, true);
      b[8] = 2;
      return b;
    })(), 'badHeader'],
    ['payload past the end', Uint8Array.from([1, 0, 0, 0, 50, 0, 0, 0, 2, 0, 0, 0, 1, 2]), 'short'],
  ])('classifies %s', (_n, bytes, kind) => {
    expect(readFrame(bytes, 0, 0).kind).toBe(kind);
  });

  it('flags an impossible payload whose crc is right as badPayload', () => {
    // An entry record with a 4-byte payload: checksum valid, contents impossible.
    const { bytes } = encodeFrames([{ type: 'metadata', data: new Uint8Array(4) }], 0);
    bytes[8] = 2; // retype as entry, then fix the crc
    new DataView(bytes.buffer).setUint32(0, crc32c(bytes, 0, 4, bytes.length), true);
    expect(readFrame(bytes, 0, 0)).toMatchObject({ kind: 'badPayload' });
  });

  it.each<[string, WalRecord]>([
    ['negative term', { type: 'entry', term: -1, index: 1, data: new Uint8Array() }],
    ['index 0', { type: 'entry', term: 1, index: 0, data: new Uint8Array() }],
    ['fractional index', { type: 'snapshot', term: 1, index: 1.5 }],
    ['index above 2^53-1', { type: 'snapshot', term: 1, index: 2 ** 53 }],
    ['vote above 2^64-1', { type: 'hardState', term: 1, vote: 1n << 64n, commit: 0 }],
    ['vote as number', { type: 'hardState', term: 1, vote: 1 as unknown as bigint, commit: 0 }],
    ['data not bytes', { type: 'metadata', data: 'x' as unknown as Uint8Array }],
    ['payload over the limit', { type: 'metadata', data: new Uint8Array(MAX_RECORD_PAYLOAD_BYTES + 1) }],
  ])('validation rejects %s', (_n, r) => {
    expect(() => validateRecord(r)).toThrow();
  });
});
