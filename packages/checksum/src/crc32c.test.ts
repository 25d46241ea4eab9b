import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Crc32c, crc32c } from './index.js';
import { crc32cTable, hasNativeCrc32c, NATIVE_MIN_BYTES } from './crc32c.js';

/** Bit-at-a-time reference: slow, obviously right. */
function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

const ascii = (s: string) => new TextEncoder().encode(s);
const range = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i));

describe('crc32c', () => {
  // RFC 3720 (iSCSI) appendix B.4 vectors and the common "check" value.
  it.each([
    ['empty', new Uint8Array(0), 0x00000000],
    ['"123456789"', ascii('123456789'), 0xe3069283],
    ['"a"', ascii('a'), 0xc1d04330],
    ['"abc"', ascii('abc'), 0x364b3fb7],
    ['32 x 0x00', new Uint8Array(32), 0x8a9136aa],
    ['32 x 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['0x00..0x1f ascending', range(32, (i) => i), 0x46dd794e],
    ['0x1f..0x00 descending', range(32, (i) => 31 - i), 0x113fdb5c],
  ])('%s', (_name, data, want) => {
    expect(crc32c(data)).toBe(want);
  });

  it('matches the bitwise reference for any bytes and any slice alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(40), (data, cut) => {
        const start = Math.min(cut, data.length);
        expect(crc32c(data, 0, start)).toBe(crc32cBitwise(data.subarray(start)));
      }),
    );
  });

  it('chains: crc(b, crc(a)) === crc(a ++ b)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        expect(crc32c(b, crc32c(a))).toBe(crc32c(ab));
      }),
    );
  });

  it('checks only data[start, end) and ignores the bytes around it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), fc.nat(300), (data, x, y) => {
        const start = Math.min(x, y, data.length);
        const end = Math.min(Math.max(x, y), data.length);
        expect(crc32c(data, 0, start, end)).toBe(crc32cBitwise(data.subarray(start, end)));
      }),
    );
  });
});

describe('the native path (@node-rs/crc32)', () => {
  it('loads on this platform (linux x64 has a prebuilt addon)', () => {
    expect(hasNativeCrc32c).toBe(true);
  });

  it('gives the JavaScript tables\' CRC for inputs around and above the switch, any seed, any slice', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: NATIVE_MIN_BYTES - 8, maxLength: 4 * NATIVE_MIN_BYTES }),
        fc.nat(0xffffffff), fc.nat(64), fc.nat(64),
        (data, seed, head, tail) => {
          const start = Math.min(head, data.length);
          const end = Math.max(start, data.length - tail);
          expect(crc32c(data, seed, start, end)).toBe(crc32cTable(data, seed, start, end));
          expect(crc32c(data, seed)).toBe(crc32cTable(data, seed));
        },
      ),
    );
  });

  it('matches the bitwise reference on a large input, and chains across the switch', () => {
    const big = range(70_000, (i) => (i * 131 + (i >> 7)) & 0xff);
    expect(crc32c(big)).toBe(crc32cBitwise(big));
    const small = big.subarray(0, NATIVE_MIN_BYTES - 1);
    const rest = big.subarray(NATIVE_MIN_BYTES - 1);
    expect(crc32c(rest, crc32c(small))).toBe(crc32c(big));
  });
});

describe('Crc32c (incremental)', () => {
  it('equals one crc32c over the concatenation of its pieces, however they are cut', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 8 }), (pieces) => {
        const h = new Crc32c();
        for (const p of pieces) h.update(p);
        expect(h.sum()).toBe(crc32cBitwise(Uint8Array.from(pieces.flatMap((p) => [...p]))));
      }),
    );
  });

  it('reads the same sum twice and goes on after reading', () => {
    const h = new Crc32c().update(ascii('1234'));
    expect(h.sum()).toBe(crc32c(ascii('1234')));
    expect(h.sum()).toBe(crc32c(ascii('1234')));
    expect(h.update(ascii('56789')).sum()).toBe(0xe3069283);
  });
});
