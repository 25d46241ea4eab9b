import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyValue, encodeKeyValue, keyValueModRevision, peekKeyValue, type KeyValue } from './key-value.js';
import { compareRevisions, decodeRevision, encodeRevision } from './revision.js';

const revArb = fc.record({ main: fc.maxSafeNat(), sub: fc.maxSafeNat() });

describe('revision encoding', () => {
  it('round trips, with and without the tombstone mark', () => {
    fc.assert(
      fc.property(revArb, fc.boolean(), (rev, tombstone) => {
        const bytes = encodeRevision(rev, tombstone);
        expect(bytes.length).toBe(tombstone ? 18 : 17);
        expect(decodeRevision(bytes)).toEqual({ rev, tombstone });
      }),
    );
  });

  it('byte order is revision order (what LMDB sorts by)', () => {
    fc.assert(
      fc.property(revArb, revArb, (a, b) => {
        const byBytes = Math.sign(Buffer.compare(Buffer.from(encodeRevision(a)), Buffer.from(encodeRevision(b))));
        expect(byBytes).toBe(Math.sign(compareRevisions(a, b)));
      }),
    );
  });

  it('matches etcd layout: 8-byte big-endian main, "_", 8-byte sub, "t"', () => {
    expect(Buffer.from(encodeRevision({ main: 0x0102, sub: 3 }, true)).toString('hex')).toBe('0000000000000102' + '5f' + '0000000000000003' + '74');
  });

  it.each([
    ['short', new Uint8Array(16)],
    ['bad separator', new Uint8Array(17)],
    ['bad mark', Uint8Array.from([...encodeRevision({ main: 1, sub: 0 }), 0x78])],
    ['beyond 2^53', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5f, 0, 0, 0, 0, 0, 0, 0, 0])],
  ])('rejects a malformed key: %s', (_name, bytes) => {
    expect(() => decodeRevision(bytes)).toThrow(RangeError);
  });
});

const kvArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ maxLength: 40 }),
  createRevision: fc.maxSafeNat(),
  modRevision: fc.maxSafeNat(),
  version: fc.maxSafeNat(),
  value: fc.uint8Array({ maxLength: 300 }),
  lease: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
});

describe('KeyValue encoding (mvccpb)', () => {
  it('round trips', () => {
    fc.assert(
      fc.property(kvArb, (kv) => {
        expect(decodeKeyValue(encodeKeyValue(kv))).toEqual(kv);
      }),
    );
  });

  it('peek reads the same key, revisions and version as a full decode', () => {
    fc.assert(
      fc.property(kvArb, (kv) => {
        const bytes = encodeKeyValue(kv);
        const f = { keyStart: -1, keyEnd: -1, createRevision: -1, modRevision: -1, version: -1 };
        peekKeyValue(bytes, f);
        expect(bytes.subarray(f.keyStart, f.keyEnd)).toEqual(kv.key);
        expect([f.createRevision, f.modRevision, f.version]).toEqual([kv.createRevision, kv.modRevision, kv.version]);
        expect(keyValueModRevision(bytes)).toBe(kv.modRevision);
      }),
    );
  });

  it('writes gogoproto bytes: fields in order, zero values omitted', () => {
    const kv = { key: Uint8Array.of(0x61), createRevision: 2, modRevision: 300, version: 1, value: new Uint8Array(0), lease: 0n };
    expect(Buffer.from(encodeKeyValue(kv)).toString('hex')).toBe('0a0161' + '1002' + '18ac02' + '2001');
    const neg = encodeKeyValue({ ...kv, createRevision: 0, modRevision: 0, version: 0, lease: -1n });
    expect(Buffer.from(neg).toString('hex')).toBe('0a0161' + '30ffffffffffffffffff01');
  });

  it('rejects truncated input and unknown fields', () => {
    expect(() => decodeKeyValue(Uint8Array.of(0x0a, 0x05, 0x61))).toThrow(RangeError);
    expect(() => decodeKeyValue(Uint8Array.of(0x38, 0x01))).toThrow(RangeError);
  });
});
