import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_LEASE_TTL_SECONDS } from './lease-ttl.js';
import { decodeLease, encodeLease } from './lease-codec.js';
import type { LeaseRecord } from './lease-codec.js';

const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).filter((id) => id !== 0n);
const record: fc.Arbitrary<LeaseRecord> = fc.record({
  id: int64,
  ttlSeconds: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: MAX_LEASE_TTL_SECONDS })),
  remainingTtlSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_LEASE_TTL_SECONDS })),
});

describe('lease record codec', () => {
  it('round-trips every valid record', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(decodeLease(encodeLease(r))).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('is canonical: whatever decodes re-encodes to the same bytes (no two encodings of a lease)', () => {
    fc.assert(
      fc.property(record, fc.nat(), fc.integer({ min: 0, max: 255 }), (r, pos, byte) => {
        const bytes = encodeLease(r);
        bytes[pos % bytes.length] = byte;
        let decoded: LeaseRecord | undefined;
        try {
          decoded = decodeLease(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
          return;
        }
        expect(encodeLease(decoded)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('has a fixed, compact layout', () => {
    expect([...encodeLease({ id: 0x0102030405060708n, ttlSeconds: 10, remainingTtlSeconds: 0 })]).toEqual([
      1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 0,
    ]);
    expect(encodeLease({ id: -1n, ttlSeconds: 300, remainingTtlSeconds: 128 }).length).toBe(13);
    expect(encodeLease({ id: 1n, ttlSeconds: MAX_LEASE_TTL_SECONDS, remainingTtlSeconds: MAX_LEASE_TTL_SECONDS }).length).toBe(19);
  });

  it('decodes from a view into a larger buffer', () => {
    const bytes = encodeLease({ id: 42n, ttlSeconds: 60, remainingTtlSeconds: 7 });
    const big = new Uint8Array(bytes.length + 6);
    big.set(bytes, 3);
    expect(decodeLease(big.subarray(3, 3 + bytes.length))).toEqual({ id: 42n, ttlSeconds: 60, remainingTtlSeconds: 7 });
  });

  const ok = [1, 0, 0, 0, 0, 0, 0, 0, 9, 10, 0];
  it.each<[string, number[]]>([
    ['empty', []],
    ['truncated', ok.slice(0, 10)],
    ['trailing byte', [...ok, 0]],
    ['unknown version', [2, ...ok.slice(1)]],
    ['lease ID 0', [1, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0]],
    ['TTL 0', [1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0]],
    ['non-canonical varint', [1, 0, 0, 0, 0, 0, 0, 0, 9, 0x8a, 0x00, 0]],
    ['unterminated varint', [1, 0, 0, 0, 0, 0, 0, 0, 9, 0x8a, 0x80]],
    ['TTL above MaxLeaseTTL', [...ok.slice(0, 9), ...varint(MAX_LEASE_TTL_SECONDS + 1), 0]],
    ['varint too long', [1, 0, 0, 0, 0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0]],
  ])('rejects %s', (_name, bytes) => {
    expect(() => decodeLease(Uint8Array.from(bytes))).toThrow(RangeError);
  });

  it('refuses to encode invalid records', () => {
    expect(() => encodeLease({ id: 0n, ttlSeconds: 1, remainingTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => encodeLease({ id: 1n << 63n, ttlSeconds: 1, remainingTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => encodeLease({ id: 1n, ttlSeconds: 0, remainingTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => encodeLease({ id: 1n, ttlSeconds: 1, remainingTtlSeconds: -1 })).toThrow(RangeError);
    expect(() => encodeLease({ id: 1n, ttlSeconds: 1.5, remainingTtlSeconds: 0 })).toThrow(RangeError);
  });
});

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
