import { describe, expect, test } from 'vitest';
import { keyString, normaliseRange, rangeContains } from './key-range.js';

const b = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

describe('normaliseRange (etcd watch key/range_end rules)', () => {
  test.each([
    { key: 'a', end: undefined, want: { key: 'a', end: undefined } },
    { key: 'a', end: '', want: { key: 'a', end: undefined } },
    { key: 'a', end: '\0', want: { key: 'a', end: '' } },
    { key: '', end: '\0', want: { key: '\0', end: '' } },
    { key: '', end: undefined, want: { key: '\0', end: undefined } },
    { key: 'a', end: 'b', want: { key: 'a', end: 'b' } },
    { key: 'a', end: 'a', want: undefined },
    { key: 'b', end: 'a', want: undefined },
    { key: '\xff', end: '\xff\x00', want: { key: '\xff', end: '\xff\x00' } },
  ])('key=$key end=$end', ({ key, end, want }) => {
    expect(normaliseRange(b(key), end === undefined ? undefined : b(end))).toEqual(want);
  });

  test.each([
    { range: { key: 'a', end: undefined }, key: 'a', want: true },
    { range: { key: 'a', end: undefined }, key: 'ab', want: false },
    { range: { key: 'a', end: 'b' }, key: 'a', want: true },
    { range: { key: 'a', end: 'b' }, key: 'azzz', want: true },
    { range: { key: 'a', end: 'b' }, key: 'b', want: false },
    { range: { key: 'a', end: '' }, key: '\xff\xff', want: true },
    { range: { key: 'a', end: '' }, key: '\x01', want: false },
    // Bytes above 0x7f sort after ASCII, as unsigned bytes do.
    { range: { key: '\x7f', end: '\x81' }, key: '\x80', want: true },
  ])('$range.key..$range.end contains $key: $want', ({ range, key, want }) => {
    expect(rangeContains(range, key)).toBe(want);
  });
});

describe('keyString', () => {
  test('one char per byte, every byte value, from views at any offset', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const backing = new Uint8Array(300);
    backing.set(all, 17);
    for (const bytes of [all, backing.subarray(17, 273), new Uint8Array(0), backing.subarray(20, 21)]) {
      expect(keyString(bytes)).toBe(Array.from(bytes, (x) => String.fromCharCode(x)).join(''));
    }
  });
});
