import { etcdserverpb } from '@raftkv/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { taggedVarint, varintSize, writeVarint } from './varint.js';

/** What the generated encoders write for an int64 field: a ResponseHeader holding only `revision` (tag 0x18). */
function reference(v: bigint): Buffer {
  const bytes = Buffer.from(etcdserverpb.ResponseHeader.encode({ clusterId: 0n, memberId: 0n, revision: v, raftTerm: 0n }).finish());
  if (v === 0n) return Buffer.of(0); // protobuf omits a zero field; its varint is one zero byte
  expect(bytes[0]).toBe(0x18);
  return bytes.subarray(1);
}

function ours(v: number | bigint): Buffer {
  const out = Buffer.alloc(13, 0xee);
  const end = writeVarint(out, 1, v);
  expect(out[0]).toBe(0xee); // nothing written before pos
  expect(out[end]).toBe(0xee); // nor after the varint
  return out.subarray(1, end);
}

const EDGES = [0n, 1n, 127n, 128n, 16383n, 16384n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n,
  2n ** 63n - 1n, -1n, -(2n ** 31n), -(2n ** 53n) + 1n, -(2n ** 63n)];
const int64 = fc.oneof(fc.constantFrom(...EDGES), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 53n }), fc.bigInt({ min: -300n, max: 300n }));

describe('varint', () => {
  it('writes what the generated encoder writes, for numbers and bigints, in the size it reports', () => {
    fc.assert(fc.property(int64, (v) => {
      const want = reference(v);
      expect(ours(v)).toEqual(want);
      expect(varintSize(v)).toBe(want.length);
      if (v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n) {
        expect(ours(Number(v))).toEqual(want);
        expect(varintSize(Number(v))).toBe(want.length);
      }
    }), { seed: 0x5eed, numRuns: 5_000 });
  });

  it('prefixes a tag in a buffer of its own', () => {
    expect(taggedVarint(0x10, 300n)).toEqual(Buffer.of(0x10, 0xac, 0x02));
    expect(taggedVarint(0x08, 0)).toEqual(Buffer.of(0x08, 0x00));
  });
});
