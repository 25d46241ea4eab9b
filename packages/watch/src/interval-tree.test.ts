import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { IntervalTree } from './interval-tree.js';
import { rangeContains } from './key-range.js';

const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\0', '\xff'), maxLength: 3 });

describe('IntervalTree', () => {
  test('stab and find agree with a list of intervals under random inserts and deletes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), start: key, end: key, inf: fc.boolean() }),
      fc.record({ kind: fc.constant('del' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('stab' as const), point: key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const tree = new IntervalTree<string>();
        const model = new Map<string, { start: string; end: string }>();
        for (const o of ops) {
          if (o.kind === 'add') {
            const end = o.inf ? '' : o.start + o.end + 'z';
            const id = `${o.start}|${end}`;
            const v = tree.getOrInsert(o.start, end, () => id);
            expect(v).toBe(id);
            model.set(id, { start: o.start, end });
          } else if (o.kind === 'del') {
            const ids = [...model.keys()];
            if (ids.length === 0) continue;
            const id = ids[o.index % ids.length]!;
            const iv = model.get(id)!;
            expect(tree.delete(iv.start, iv.end)).toBe(true);
            expect(tree.delete(iv.start, iv.end)).toBe(false);
            model.delete(id);
          } else {
            const got: string[] = [];
            tree.stab(o.point, (v) => got.push(v));
            const want = [...model.entries()]
              .filter(([, iv]) => rangeContains({ key: iv.start, end: iv.end }, o.point))
              .map(([id]) => id);
            expect(got.sort()).toEqual(want.sort());
            expect(tree.intersects(o.point)).toBe(want.length > 0);
          }
          expect(tree.size).toBe(model.size);
        }
        for (const [id, iv] of model) expect(tree.find(iv.start, iv.end)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  test('stays shallow for 100k sorted inserts (stab recursion does not overflow)', () => {
    const tree = new IntervalTree<number>();
    for (let i = 0; i < 100_000; i++) {
      const k = i.toString(36).padStart(4, '0');
      tree.getOrInsert(k, k + '\0', () => i);
    }
    const got: number[] = [];
    tree.stab('0abc', (v) => got.push(v));
    expect(got).toEqual([parseInt('abc', 36)]);
  });
});
