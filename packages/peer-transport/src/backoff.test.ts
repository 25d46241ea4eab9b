import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles from initial to max, each delay jittered into [d/2, d]', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 12, maxLength: 12 }), (rolls) => {
        let i = 0;
        const b = new Backoff(50, 2000, () => rolls[i++]!);
        const bases = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000, 2000];
        for (const base of bases) {
          const d = b.next();
          expect(d).toBeGreaterThanOrEqual(Math.floor(base / 2));
          expect(d).toBeLessThanOrEqual(base);
        }
      }),
    );
  });

  it('starts over after reset, and max() jumps to the cap', () => {
    const b = new Backoff(50, 2000, () => 0.999);
    for (let i = 0; i < 5; i++) b.next();
    b.reset();
    expect(b.next()).toBe(49);
    expect(b.max()).toBe(1999);
    expect(b.next()).toBe(1999);
  });

  it.each([
    [0, 10],
    [10, 5],
  ])('refuses initial %i, max %i', (initial, max) => {
    expect(() => new Backoff(initial, max, Math.random)).toThrow(RangeError);
  });
});
