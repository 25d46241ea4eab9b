import { describe, expect, test } from 'vitest';
import { keyString } from './tree-index.js';

describe('keyString', () => {
  test('one char per byte, every byte value, from views at any offset', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const backing = new Uint8Array(300);
    backing.set(all, 17);
    for (const bytes of [all, backing.subarray(17, 273), new Uint8Array(0), backing.subarray(20, 21), Buffer.from('key/0001')]) {
      expect(keyString(bytes)).toBe(Array.from(bytes, (x) => String.fromCharCode(x)).join(''));
    }
  });
});
