import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RevisionSet } from './key-index.js';

describe('RevisionSet', () => {
  it('matches a set of "main_sub" strings under any sequence of adds and deletes', () => {
    const op = fc.record({ add: fc.boolean(), main: fc.integer({ min: 0, max: 6 }), sub: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const set = new RevisionSet();
        const model = new Set<string>();
        for (const { add, main, sub } of ops) {
          if (add) {
            set.add({ main, sub });
            model.add(`${main}_${sub}`);
          } else {
            set.delete({ main, sub });
            model.delete(`${main}_${sub}`);
          }
          expect(set.size).toBe(model.size);
        }
        for (let main = 0; main <= 6; main++) {
          for (let sub = 0; sub <= 3; sub++) expect(set.has({ main, sub })).toBe(model.has(`${main}_${sub}`));
        }
      }),
    );
  });

  it('compares by value, not identity, and handles revisions beyond 2^32', () => {
    const set = new RevisionSet();
    const big = Number.MAX_SAFE_INTEGER;
    set.add({ main: big, sub: big });
    expect(set.has({ main: big, sub: big })).toBe(true);
    expect(set.has({ main: big, sub: big - 1 })).toBe(false);
    expect(set.has({ main: big - 1, sub: big })).toBe(false);
  });
});
