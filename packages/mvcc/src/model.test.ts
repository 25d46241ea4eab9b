import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Compare, RequestOp } from './kv.js';
import { MvccStore } from './kvstore.js';
import { dec, enc, tempDir } from './test-support/helpers.js';

/** The naive model: the full state at every revision. */
interface MKV {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: bigint;
}
type State = Map<string, MKV>;

const KEYS = ['a', 'ab', 'b', 'c', 'd'];
const keyArb = fc.constantFrom(...KEYS);
const endArb = fc.option(fc.constantFrom('\0', 'b', 'c', 'e', 'a'), { nil: undefined });

type Op =
  | { t: 'put'; key: string; value: string; lease: bigint }
  | { t: 'del'; key: string; end: string | undefined }
  | { t: 'txn'; cmp: { key: string; target: 'version' | 'value' | 'mod'; result: Compare['result']; n: number; value: string }; ok: Op[]; ko: Op[] }
  | { t: 'compact'; back: number }
  | { t: 'commit' }
  | { t: 'restart' };

const simpleOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 3 }), lease: fc.constantFrom(0n, 1n, 2n) }),
  fc.record({ t: fc.constant('del' as const), key: keyArb, end: endArb }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: simpleOp },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('txn' as const),
      cmp: fc.record({
        key: keyArb,
        target: fc.constantFrom('version' as const, 'value' as const, 'mod' as const),
        result: fc.constantFrom('equal' as const, 'greater' as const, 'less' as const, 'not_equal' as const),
        n: fc.nat({ max: 6 }),
        value: fc.string({ maxLength: 2 }),
      }),
      ok: fc.array(simpleOp, { maxLength: 3 }),
      ko: fc.array(simpleOp, { maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
);

function inRange(k: string, key: string, end: string | undefined): boolean {
  if (end === undefined) return k === key;
  if (end === '\0') return k >= key;
  return k >= key && k < end;
}

function modelApply(st: State, op: Op, rev: number, before: State): boolean {
  if (op.t === 'put') {
    const prev = st.get(op.key);
    st.set(op.key, { key: op.key, value: op.value, create: prev ? prev.create : rev, mod: rev, version: prev ? prev.version + 1 : 1, lease: op.lease });
    return true;
  }
  if (op.t === 'del') {
    let changed = false;
    for (const k of [...st.keys()]) {
      if (inRange(k, op.key, op.end)) {
        st.delete(k);
        changed = true;
      }
    }
    return changed;
  }
  if (op.t === 'txn') {
    const kv = before.get(op.cmp.key);
    let ok: boolean;
    if (!kv && op.cmp.target === 'value') ok = false;
    else {
      const a = op.cmp.target === 'value' ? kv?.value ?? '' : op.cmp.target === 'version' ? kv?.version ?? 0 : kv?.mod ?? 0;
      const b = op.cmp.target === 'value' ? op.cmp.value : op.cmp.n;
      const c = a < b ? -1 : a > b ? 1 : 0;
      ok = ({ equal: c === 0, not_equal: c !== 0, greater: c > 0, less: c < 0 } as Record<string, boolean>)[op.cmp.result] ?? true;
    }
    let changed = false;
    for (const o of ok ? op.ok : op.ko) changed = modelApply(st, o, rev, before) || changed;
    return changed;
  }
  return false;
}

function toRequest(op: Op): RequestOp {
  if (op.t === 'put') return { put: { key: enc(op.key), value: enc(op.value), lease: op.lease } };
  if (op.t === 'del') return { deleteRange: { key: enc(op.key), ...(op.end !== undefined ? { rangeEnd: enc(op.end) } : {}) } };
  throw new Error('not a simple op');
}

function modelRange(st: State, key: string, end: string | undefined): MKV[] {
  return [...st.values()].filter((kv) => inRange(kv.key, key, end)).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

async function run(ops: Op[], queries: Array<{ key: string; end: string | undefined; back: number }>): Promise<void> {
  const dir = tempDir();
  let s = await MvccStore.open({ dir, compactionBatchLimit: 3 });
  const states: State[] = [new Map(), new Map()]; // states[rev]; revision 1 is the empty store
  let compacted = 0;
  let index = 1;
  const compactions: Array<Promise<void>> = [];
  try {
    for (const op of ops) {
      const cur = states.length - 1;
      if (op.t === 'commit') await s.commit();
      else if (op.t === 'restart') {
        await s.close();
        s = await MvccStore.open({ dir, compactionBatchLimit: 3 });
      } else if (op.t === 'compact') {
        const target = Math.max(1, cur - op.back);
        if (target <= compacted) {
          expect(() => s.compact(target, index++)).toThrowError(expect.objectContaining({ code: 'compacted' }));
        } else {
          compactions.push(s.compact(target, index++).done);
          compacted = target;
        }
      } else {
        const next = new Map(states[cur]!);
        const changed = modelApply(next, op, cur + 1, states[cur]!);
        if (op.t === 'txn') {
          const cmp: Compare = { key: enc(op.cmp.key), target: op.cmp.target, result: op.cmp.result, version: op.cmp.n, modRevision: op.cmp.n, value: enc(op.cmp.value) };
          s.txn({ compare: [cmp], success: op.ok.map(toRequest), failure: op.ko.map(toRequest) }, index++);
        } else {
          const req = toRequest(op);
          if ('put' in req) s.put(req.put, index++);
          else if ('deleteRange' in req) s.deleteRange(req.deleteRange, index++);
        }
        if (changed) states.push(next);
      }
      expect(s.currentRevision).toBe(states.length - 1);
    }
    const cur = states.length - 1;
    const from = Math.max(1, compacted);
    const check = (store: MvccStore) => {
      for (let rev = from; rev <= cur; rev++) {
        const got = store.range({ key: enc('\0'), rangeEnd: enc('\0'), revision: rev }).kvs;
        const want = modelRange(states[rev]!, '\0', '\0');
        expect(got.map((kv) => ({ key: dec(kv.key), value: dec(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version, lease: kv.lease }))).toEqual(want);
      }
      for (const q of queries) {
        const rev = Math.max(from, cur - q.back);
        const got = store.range({ key: enc(q.key), ...(q.end !== undefined ? { rangeEnd: enc(q.end) } : {}), revision: rev });
        const want = modelRange(states[rev]!, q.key, q.end);
        expect(got.kvs.map((kv) => dec(kv.key))).toEqual(want.map((kv) => kv.key));
        expect(got.count).toBe(want.length);
      }
      if (compacted > 1) expect(() => store.range({ key: enc('a'), revision: compacted - 1 })).toThrowError(expect.objectContaining({ code: 'compacted' }));
      // Replaying the history after `from` onto the state at `from` rebuilds every state.
      const replay = new Map([...states[from]!].map(([k, v]) => [k, { ...v }]));
      const events = store.eventsBetween(from + 1, cur, 1_000_000);
      for (let rev = from + 1; rev <= cur; rev++) {
        for (const ev of events.filter((e) => e.kv.modRevision === rev)) {
          const k = dec(ev.kv.key);
          if (ev.type === 'delete') replay.delete(k);
          else replay.set(k, { key: k, value: dec(ev.kv.value), create: ev.kv.createRevision, mod: ev.kv.modRevision, version: ev.kv.version, lease: ev.kv.lease });
        }
        expect(new Map([...replay].sort())).toEqual(new Map([...states[rev]!].sort()));
      }
    };
    check(s);
    const hash = s.hashKV(0);
    await s.whenCompacted();
    await Promise.all(compactions);
    await s.close();
    s = await MvccStore.open({ dir });
    check(s);
    expect(s.hashKV(0)).toEqual(hash);
  } finally {
    await s.close();
  }
}

describe('store against a naive model', () => {
  it('put/delete/txn/compact/commit/restart sequences read like the model at every revision', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.record({ key: keyArb, end: endArb, back: fc.nat({ max: 8 }) }), { maxLength: 10 }),
        run,
      ),
      { numRuns: 100 },
    );
  });

  it('compaction never changes reads at or above the compacted revision', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(simpleOp, { minLength: 1, maxLength: 40 }), fc.nat(), async (ops, pick) => {
        const dir = tempDir();
        const s = await MvccStore.open({ dir });
        try {
          ops.forEach((op, i) => (op.t === 'put' ? s.put({ key: enc(op.key), value: enc(op.value) }, i + 1) : op.t === 'del' && s.deleteRange({ key: enc(op.key), ...(op.end ? { rangeEnd: enc(op.end) } : {}) }, i + 1)));
          const c = 1 + (pick % s.currentRevision);
          const read = () => Array.from({ length: s.currentRevision - c + 1 }, (_, j) => s.range({ key: enc('\0'), rangeEnd: enc('\0'), revision: c + j }));
          const before = read();
          await s.compact(c, ops.length + 1).done;
          expect(read()).toEqual(before);
        } finally {
          await s.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
