import { describe, expect, it } from 'vitest';
import { toSafeNumber } from './int64.js';

describe('toSafeNumber', () => {
  it.each([
    [0n, 0],
    [1n, 1],
    [-1n, -1],
    [BigInt(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    [BigInt(Number.MIN_SAFE_INTEGER), Number.MIN_SAFE_INTEGER],
  ])('%s -> %d', (input, want) => {
    expect(toSafeNumber(input, 'revision')).toBe(want);
  });

  it.each([BigInt(Number.MAX_SAFE_INTEGER) + 1n, 2n ** 63n - 1n, -(2n ** 63n)])(
    'rejects %s, naming the field',
    (input) => {
      expect(() => toSafeNumber(input, 'header.revision')).toThrow(/header\.revision/);
    },
  );
});
