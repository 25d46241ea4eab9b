import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseQueue } from './lease-queue.js';

type Op = { kind: 'set'; id: number; time: number } | { kind: 'delete'; id: number } | { kind: 'pop' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 30 }), time: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pop' as const) }) },
);

describe('LeaseQueue', () => {
  it('pops in (time, id) order and tracks updates and deletes like a sorted map', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const q = new LeaseQueue();
        const model = new Map<bigint, number>();
        const modelMin = () => {
          let best: [bigint, number] | undefined;
          for (const [id, t] of model) if (!best || t < best[1] || (t === best[1] && id < best[0])) best = [id, t];
          return best;
        };
        for (const o of ops) {
          if (o.kind === 'set') {
            q.set(BigInt(o.id), o.time);
            model.set(BigInt(o.id), o.time);
          } else if (o.kind === 'delete') {
            expect(q.delete(BigInt(o.id))).toBe(model.delete(BigInt(o.id)));
          } else {
            const want = modelMin();
            const got = q.peek();
            expect(got === undefined ? undefined : [got.id, got.timeMs]).toEqual(want);
            if (want) {
              q.delete(want[0]);
              model.delete(want[0]);
            }
          }
          expect(q.size).toBe(model.size);
        }
        for (const [id, t] of model) expect(q.timeOf(id)).toBe(t);
        // Drain: must come out fully sorted.
        const drained: Array<[bigint, number]> = [];
        for (let top = q.peek(); top; top = q.peek()) {
          drained.push([top.id, top.timeMs]);
          q.delete(top.id);
        }
        const sorted = [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
        expect(drained).toEqual(sorted);
      }),
      { numRuns: 300 },
    );
  });

  it('clear empties it', () => {
    const q = new LeaseQueue();
    q.set(1n, 5);
    q.set(2n, 3);
    q.clear();
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.has(1n)).toBe(false);
  });
});
