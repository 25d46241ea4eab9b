/**
 * The search prunes (forced reads, stranded values, pointless unknown writes, folded
 * unobserved values) are easy to get subtly wrong in either direction, so on small random
 * histories (results drawn at random, so both verdicts are common) its verdict is compared
 * with a brute-force enumeration of every order that respects real time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type KvInput, type Operation } from './index.js';

/** Tries every next operation allowed by real time, depth first; no memo, no pruning. */
function bruteForce(ops: readonly Operation[]): boolean {
  const done = ops.map(() => false);
  const completeOf = (op: Operation): number => (op.outcome.status === 'ok' ? op.outcome.completeMs : Infinity);
  const search = (state: string | undefined, completedLeft: number): boolean => {
    if (completedLeft === 0) return true;
    for (let i = 0; i < ops.length; i++) {
      if (done[i]) continue;
      const op = ops[i]!;
      // Some operation not yet taken returned before this one was invoked: it must go first.
      if (ops.some((other, j) => !done[j] && j !== i && completeOf(other) < op.invokeMs)) continue;
      const known = op.outcome.status === 'ok';
      const result = op.outcome.status === 'ok' ? op.outcome.result : undefined;
      let next: string | undefined = state;
      let legal = true;
      switch (op.input.type) {
        case 'put':
          next = op.input.value;
          break;
        case 'delete':
          next = undefined;
          break;
        case 'get':
          legal = !known || result === state;
          break;
        case 'cas': {
          const held = state === op.input.expected;
          if (known) legal = held === (result === 'ok');
          if (held) next = op.input.value;
          break;
        }
      }
      if (!legal) continue;
      done[i] = true;
      const found = search(next, completedLeft - (known ? 1 : 0));
      done[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(undefined, ops.filter((op) => op.outcome.status === 'ok').length);
}

const valueArb = fc.constantFrom('v0', 'v1', 'v2');
const inputArb: fc.Arbitrary<KvInput> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: fc.constant('k'), value: valueArb }),
  fc.record({ type: fc.constant('get' as const), key: fc.constant('k') }),
  fc.record({ type: fc.constant('cas' as const), key: fc.constant('k'), expected: fc.option(valueArb, { nil: undefined }), value: valueArb }),
  fc.record({ type: fc.constant('delete' as const), key: fc.constant('k') }),
);
const opArb = fc.record({
  input: inputArb,
  invokeMs: fc.integer({ min: 0, max: 20 }),
  durationMs: fc.integer({ min: 0, max: 8 }),
  unknownRoll: fc.integer({ min: 0, max: 4 }),
  read: fc.option(valueArb, { nil: undefined }),
  casOk: fc.boolean(),
});
const historyArb = fc.array(opArb, { minLength: 1, maxLength: 7 }).map((rows) =>
  rows.map((row, id): Operation => {
    const base = { id, client: `c${id}`, invokeMs: row.invokeMs };
    if (row.unknownRoll === 0) return { ...base, input: row.input, outcome: { status: 'unknown' } } as Operation;
    const completeMs = row.invokeMs + row.durationMs;
    const result = row.input.type === 'get' ? row.read : row.input.type === 'cas' ? (row.casOk ? 'ok' : 'failed') : 'ok';
    return { ...base, input: row.input, outcome: { status: 'ok', completeMs, result } } as Operation;
  }),
);

describe('checkLinearizable against brute force', () => {
  it('agrees on small random histories', () => {
    let linearizable = 0;
    let runs = 0;
    fc.assert(
      fc.property(historyArb, (history) => {
        const expected = bruteForce(history);
        runs++;
        if (expected) linearizable++;
        expect(checkLinearizable(history).ok).toBe(expected);
      }),
      { numRuns: 3000 },
    );
    // Both verdicts must be well represented for the comparison to mean anything.
    expect(linearizable).toBeGreaterThan(runs / 10);
    expect(linearizable).toBeLessThan(runs - runs / 10);
  });
});
