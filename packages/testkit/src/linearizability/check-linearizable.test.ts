import { describe, expect, it } from 'vitest';
import { checkLinearizable, type KvInput, type Operation } from './index.js';

// A compact notation for handmade histories: [client, invokeMs, completeMs | null (unknown), input, result].
type Row = readonly [string, number, number | null, KvInput, (string | undefined)?];

const put = (value: string, key = 'k'): KvInput => ({ type: 'put', key, value });
const get = (key = 'k'): KvInput => ({ type: 'get', key });
const cas = (expected: string | undefined, value: string, key = 'k'): KvInput => ({ type: 'cas', key, expected, value });
const del = (key = 'k'): KvInput => ({ type: 'delete', key });

function history(...rows: Row[]): Operation[] {
  return rows.map(([client, invokeMs, completeMs, input, result], id) => {
    if (completeMs === null) return { id, client, input, invokeMs, outcome: { status: 'unknown' } } as Operation;
    const value = input.type === 'put' || input.type === 'delete' ? 'ok' : result;
    return { id, client, input, invokeMs, outcome: { status: 'ok', completeMs, result: value } } as Operation;
  });
}

interface Case {
  readonly name: string;
  readonly rows: readonly Row[];
  readonly linearizable: boolean;
  /** For violations: ids that must appear in the witness. */
  readonly witnessIncludes?: readonly number[];
}

const cases: Case[] = [
  { name: 'empty history', rows: [], linearizable: true },
  { name: 'read of a never-written key is absent', rows: [['c1', 0, 1, get(), undefined]], linearizable: true },
  {
    name: 'sequential puts and reads',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 3, get(), 'a'],
      ['c1', 4, 5, put('b')],
      ['c2', 6, 7, get(), 'b'],
    ],
    linearizable: true,
  },
  {
    name: 'a read overlapping a put may see it',
    rows: [
      ['c1', 0, 10, put('a')],
      ['c2', 1, 2, get(), 'a'],
    ],
    linearizable: true,
  },
  {
    name: 'a read overlapping a put may miss it',
    rows: [
      ['c1', 0, 10, put('a')],
      ['c2', 1, 2, get(), undefined],
    ],
    linearizable: true,
  },
  {
    name: 'concurrent puts: later reads agree on either winner',
    rows: [
      ['c1', 0, 10, put('a')],
      ['c2', 0, 10, put('b')],
      ['c3', 11, 12, get(), 'a'],
      ['c4', 13, 14, get(), 'a'],
    ],
    linearizable: true,
  },
  {
    name: 'concurrent puts: the value flips after both completed',
    rows: [
      ['c1', 0, 10, put('a')],
      ['c2', 0, 10, put('b')],
      ['c3', 11, 12, get(), 'a'],
      ['c4', 13, 14, get(), 'b'],
    ],
    linearizable: false,
    witnessIncludes: [2, 3],
  },
  {
    name: 'new-then-old inversion between two readers during one put',
    rows: [
      ['c1', 0, 10, put('a')],
      ['c2', 1, 2, get(), 'a'],
      ['c3', 3, 4, get(), undefined],
    ],
    linearizable: false,
    witnessIncludes: [1, 2],
  },
  {
    name: 'stale read after a completed write',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c1', 2, 3, put('b')],
      ['c2', 4, 5, get(), 'a'],
    ],
    linearizable: false,
    witnessIncludes: [1, 2],
  },
  {
    name: 'a read sees a value before its write was invoked',
    rows: [
      ['c2', 0, 1, get(), 'a'],
      ['c1', 2, 3, put('a')],
    ],
    linearizable: false,
    witnessIncludes: [0],
  },
  {
    name: 'a read returns a value nobody wrote',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 0, 5, get(), 'zz'],
    ],
    linearizable: false,
    witnessIncludes: [1],
  },
  {
    name: 'lost acknowledged write',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 3, get(), undefined],
    ],
    linearizable: false,
    witnessIncludes: [0, 1],
  },
  {
    name: 'unknown-outcome write that later reads see',
    rows: [
      ['c1', 0, null, put('a')],
      ['c2', 50, 51, get(), 'a'],
      ['c2', 52, 53, get(), 'a'],
    ],
    linearizable: true,
  },
  {
    name: 'unknown-outcome write that never shows',
    rows: [
      ['c1', 0, null, put('a')],
      ['c2', 50, 51, get(), undefined],
      ['c2', 52, 53, get(), undefined],
    ],
    linearizable: true,
  },
  {
    name: 'unknown-outcome write that takes effect long after it was invoked',
    rows: [
      ['c0', 0, 1, put('x')],
      ['c1', 2, null, put('a')],
      ['c2', 50, 51, get(), 'x'],
      ['c0', 60, 61, put('y')],
      ['c2', 70, 71, get(), 'a'],
    ],
    linearizable: true,
  },
  {
    name: 'unknown-outcome write seen, then unseen with no other write',
    rows: [
      ['c1', 0, null, put('a')],
      ['c2', 50, 51, get(), 'a'],
      ['c2', 52, 53, get(), undefined],
    ],
    linearizable: false,
    witnessIncludes: [1, 2],
  },
  {
    name: 'unknown-outcome write seen before it was invoked',
    rows: [
      ['c2', 0, 1, get(), 'a'],
      ['c1', 2, null, put('a')],
    ],
    linearizable: false,
    witnessIncludes: [0],
  },
  {
    name: 'unknown-outcome reads constrain nothing',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, null, get()],
    ],
    linearizable: true,
  },
  {
    name: 'an unknown write of a value nobody reads explains a later failed cas',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, null, put('x')],
      ['c3', 5, 6, cas('a', 'b'), 'failed'],
    ],
    linearizable: true,
  },
  {
    name: 'an unknown write cannot explain a failed cas that completed before it was invoked',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c3', 2, 3, cas('a', 'b'), 'failed'],
      ['c2', 4, null, put('x')],
    ],
    linearizable: false,
  },
  {
    name: 'an unknown write takes effect once: it cannot explain two failed cas around a rewrite',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, null, put('x')],
      ['c3', 5, 6, cas('a', 'b'), 'failed'],
      ['c1', 7, 8, put('a')],
      ['c3', 9, 10, cas('a', 'b'), 'failed'],
    ],
    linearizable: false,
  },
  {
    name: 'a chain of successful cas',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 3, cas('a', 'b'), 'ok'],
      ['c3', 4, 5, cas('b', 'c'), 'ok'],
      ['c1', 6, 7, get(), 'c'],
    ],
    linearizable: true,
  },
  {
    name: 'two concurrent cas from one expected value: one wins, one fails',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 10, cas('a', 'b'), 'ok'],
      ['c3', 2, 10, cas('a', 'c'), 'failed'],
      ['c1', 11, 12, get(), 'b'],
    ],
    linearizable: true,
  },
  {
    name: 'two successful cas from one expected value without an intervening write',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 10, cas('a', 'b'), 'ok'],
      ['c3', 2, 10, cas('a', 'c'), 'ok'],
    ],
    linearizable: false,
    witnessIncludes: [1, 2],
  },
  {
    name: 'two successful cas from one expected value with a write of it between',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 10, cas('a', 'b'), 'ok'],
      ['c1', 3, 4, put('a')],
      ['c3', 2, 10, cas('a', 'c'), 'ok'],
      ['c1', 11, 12, get(), 'c'],
    ],
    linearizable: true,
  },
  {
    name: 'two successful create-if-absent cas',
    rows: [
      ['c2', 0, 10, cas(undefined, 'b'), 'ok'],
      ['c3', 0, 10, cas(undefined, 'c'), 'ok'],
    ],
    linearizable: false,
  },
  {
    name: 'a failed cas whose compare must have held',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 3, cas('a', 'b'), 'failed'],
    ],
    linearizable: false,
    witnessIncludes: [1],
  },
  {
    name: 'a failed cas on another value leaves the register alone',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, 3, cas('x', 'b'), 'failed'],
      ['c1', 4, 5, get(), 'a'],
    ],
    linearizable: true,
  },
  {
    name: 'unknown-outcome cas that later reads see',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, null, cas('a', 'b')],
      ['c1', 20, 21, get(), 'b'],
    ],
    linearizable: true,
  },
  {
    name: 'unknown-outcome cas whose compare cannot hold is never seen',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c2', 2, null, cas('x', 'b')],
      ['c1', 20, 21, get(), 'b'],
    ],
    linearizable: false,
  },
  {
    name: 'put, delete, read absent',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c1', 2, 3, del()],
      ['c2', 4, 5, get(), undefined],
    ],
    linearizable: true,
  },
  {
    name: 'a read after a completed delete sees the deleted value',
    rows: [
      ['c1', 0, 1, put('a')],
      ['c1', 2, 3, del()],
      ['c2', 4, 5, get(), 'a'],
    ],
    linearizable: false,
    witnessIncludes: [1, 2],
  },
  {
    name: 'equal timestamps count as overlapping',
    rows: [
      ['c1', 0, 5, put('a')],
      ['c2', 5, 6, get(), undefined],
    ],
    linearizable: true,
  },
  {
    name: 'keys are independent: a value written to one key is not visible on another',
    rows: [
      ['c1', 0, 1, put('a', 'x')],
      ['c2', 2, 3, get('y'), 'a'],
    ],
    linearizable: false,
  },
];

describe('checkLinearizable: handmade histories', () => {
  it.each(cases)('$name', ({ rows, linearizable, witnessIncludes }) => {
    const ops = history(...rows);
    const result = checkLinearizable(ops);
    expect(result.ok).toBe(linearizable);
    if (result.ok === false) {
      const ids = result.witness.operations.map((op) => op.id);
      for (const id of witnessIncludes ?? []) expect(ids).toContain(id);
      // The witness must itself be a failing history.
      expect(checkLinearizable(result.witness.operations).ok).toBe(false);
      expect(result.witness.description.split('\n')).toHaveLength(ids.length + 1);
    }
  });
});

describe('checkLinearizable: results', () => {
  it('names the failing key and shrinks the witness to the operations that matter', () => {
    const rows: Row[] = [];
    // A long linearizable history on key "good", and on key "bad" a long prefix of
    // sequential writes and reads before one stale read.
    for (let i = 0; i < 200; i++) rows.push(['c1', 10 * i, 10 * i + 5, put(`g${i}`, 'good')]);
    for (let i = 0; i < 100; i++) {
      rows.push(['c2', 10 * i, 10 * i + 4, put(`v${i}`, 'bad')]);
      rows.push(['c3', 10 * i + 5, 10 * i + 9, get('bad'), `v${i}`]);
    }
    rows.push(['c3', 2000, 2001, get('bad'), 'v50']);
    const result = checkLinearizable(history(...rows));
    expect(result.ok).toBe(false);
    if (result.ok !== false) return;
    expect(result.key).toBe('bad');
    // Minimal: the stale read, the write it claims to see, and the later write that hid it.
    const described = result.witness.operations.map((op) => `${op.input.type}:${op.outcome.status === 'ok' ? String(op.outcome.result) : '?'}`);
    expect(described.sort()).toEqual(['get:v50', 'put:ok', 'put:ok']);
    const puts = result.witness.operations.flatMap((op) => (op.input.type === 'put' ? [op.input.value] : []));
    expect(puts[0]).toBe('v50');
    expect(result.witness.description).toContain('shrunk as far as it goes');
  });

  it('checks keys in sorted order and reports the first failing one', () => {
    const ops = history(['c1', 0, 1, put('a', 'z')], ['c2', 2, 3, get('z'), 'stale'], ['c1', 0, 1, put('a', 'm')], ['c2', 2, 3, get('m'), 'old']);
    const result = checkLinearizable(ops);
    expect(result.ok === false && result.key).toBe('m');
  });

  it('without shrinking, the witness is the whole key history', () => {
    const ops = history(['c1', 0, 1, put('a')], ['c1', 2, 3, put('b')], ['c2', 4, 5, get(), 'a'], ['c1', 0, 1, put('x', 'other')]);
    const result = checkLinearizable(ops, { shrinkWitness: false });
    expect(result.ok === false && result.witness.operations.map((op) => op.id)).toEqual([0, 1, 2]);
  });

  it('answers unknown when a key exhausts the step budget, and a violation elsewhere still wins', () => {
    const rows: Row[] = [];
    for (let i = 0; i < 50; i++) rows.push(['c1', 2 * i, 2 * i + 1, put(`v${i}`)]);
    const budgeted = checkLinearizable(history(...rows), { maxStepsPerKey: 10 });
    expect(budgeted.ok).toBe('unknown');
    if (budgeted.ok === 'unknown') {
      expect(budgeted.key).toBe('k');
      expect(budgeted.reason).toContain('step budget');
    }
    rows.push(['c1', 0, 1, put('a', 'z')], ['c2', 2, 3, get('z'), undefined]);
    expect(checkLinearizable(history(...rows), { maxStepsPerKey: 10 }).ok).toBe(false);
    expect(checkLinearizable(history(...rows)).ok).toBe(false);
  });

  it('answers unknown when the memo exceeds its byte budget', () => {
    const rows: Row[] = [];
    for (let i = 0; i < 50; i++) rows.push(['c1', 2 * i, 2 * i + 1, put(`v${i}`)]);
    const result = checkLinearizable(history(...rows), { maxMemoBytesPerKey: 1000 });
    expect(result.ok === 'unknown' && result.reason).toContain('memo budget');
  });

  it('starts keys from initialValues', () => {
    const ops = history(['c1', 0, 1, get(), 'seed'], ['c1', 2, 3, cas('seed', 'next'), 'ok']);
    expect(checkLinearizable(ops).ok).toBe(false);
    expect(checkLinearizable(ops, { initialValues: new Map([['k', 'seed']]) }).ok).toBe(true);
  });

  it('rejects malformed histories', () => {
    const ok = history(['c1', 0, 1, put('a')])[0]!;
    expect(() => checkLinearizable([ok, ok])).toThrow(/duplicate operation id/);
    expect(() => checkLinearizable(history(['c1', 5, 4, put('a')]))).toThrow(/before invokeMs/);
    expect(() => checkLinearizable(history(['c1', NaN, 4, put('a')]))).toThrow(/not finite/);
    expect(() => checkLinearizable(history(['c1', 0, 1, cas('a', 'b'), 'yes']))).toThrow(/not a result of cas/);
  });
});
