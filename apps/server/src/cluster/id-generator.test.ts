import { describe, expect, it } from 'vitest';
import { IdGenerator } from './id-generator.js';

describe('IdGenerator', () => {
  it('puts the member in the top 16 bits and counts up from the time', () => {
    const gen = new IdGenerator(0x8e9e05c52164694dn, 1_000);
    const a = gen.next();
    const b = gen.next();
    expect(a >> 48n).toBe(0x694dn);
    expect(a & ((1n << 48n) - 1n)).toBe((1_000n << 8n) + 1n);
    expect(b - a).toBe(1n);
  });

  it('gives members disjoint IDs and a restart IDs past the earlier ones', () => {
    const ids = new Set<bigint>();
    for (const gen of [new IdGenerator(1n, 5), new IdGenerator(2n, 5)]) for (let i = 0; i < 1000; i++) ids.add(gen.next());
    expect(ids.size).toBe(2000);
    const before = new IdGenerator(1n, 10);
    const last = Array.from({ length: 100 }, () => before.next()).pop()!;
    expect(new IdGenerator(1n, 11).next()).toBeGreaterThan(last);
  });
});
