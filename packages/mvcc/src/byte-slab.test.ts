// A read's slab must cost about what it holds: a small range once allocated a zeroed 1 MiB
// chunk per request (a fifth of the server's CPU on 100-key ranges, docs/profiles.md).
import { describe, expect, it } from 'vitest';
import { ByteSlab } from './byte-slab.js';

describe('ByteSlab', () => {
  it('copies are equal to their sources and independent of them', () => {
    const slab = new ByteSlab();
    const src = Uint8Array.from([1, 2, 3]);
    const a = slab.copy(src);
    const b = slab.copy(Uint8Array.from([4, 5]));
    src[0] = 9;
    expect([...a]).toEqual([1, 2, 3]);
    expect([...b]).toEqual([4, 5]);
  });

  it('starts with a 16 KiB chunk and doubles up to its chunk size', () => {
    const slab = new ByteSlab(64 * 1024);
    const chunks = new Set<ArrayBufferLike>();
    const sizes: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const out = slab.copy(new Uint8Array(300));
      if (!chunks.has(out.buffer)) {
        chunks.add(out.buffer);
        sizes.push(out.buffer.byteLength);
      }
    }
    expect(sizes.slice(0, 4)).toEqual([16 * 1024, 32 * 1024, 64 * 1024, 64 * 1024]);
    expect(sizes.every((s) => s <= 64 * 1024)).toBe(true);
  });

  it('gives a string longer than the next chunk a chunk of its own size', () => {
    const slab = new ByteSlab();
    const big = slab.copy(new Uint8Array(100_000).fill(7));
    expect(big.buffer.byteLength).toBe(100_000);
    expect(big.every((b) => b === 7)).toBe(true);
  });
});
