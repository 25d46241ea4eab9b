import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MvccStore } from './kvstore.js';
import { enc, tempDir, track } from './test-support/helpers.js';

const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

/** What a reader sees: revisions, hashes, every key at a few revisions spread over the history. */
function seen(s: MvccStore): unknown {
  const from = Math.max(1, s.compactedRevision);
  const at = new Set([from, s.currentRevision]);
  for (let i = 1; i < 6; i++) at.add(from + Math.floor(((s.currentRevision - from) * i) / 6));
  return {
    current: s.currentRevision, compacted: s.compactedRevision, keys: s.keyCount, hash: s.hash(), hashKV: s.hashKV(0),
    reads: [...at].map((revision) => s.range({ ...ALL, revision })),
    events: s.eventsBetween(from + 1, s.currentRevision, 1_000_000, true),
  };
}

// Whatever order the keys were stored in (ascending, a few writes applied out of order as a load
// with requests in flight leaves them, below the newest key, deleted and written again, compacted),
// a reopened store must read as the store did before it closed: the rebuild's order-dependent
// shortcuts (tried in wave 9: a sorted run built leaf by leaf) have this to pass.

type Op =
  | { t: 'next'; n: number } // n new keys, each above every key so far
  | { t: 'below'; k: number } // a key below the newest (new or not)
  | { t: 'again'; back: number } // a key written before, again
  | { t: 'del'; back: number; span: number }
  | { t: 'compact'; back: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('next' as const), n: fc.integer({ min: 1, max: 60 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('below' as const), k: fc.nat({ max: 4000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('again' as const), back: fc.nat({ max: 200 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), back: fc.nat({ max: 200 }), span: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat({ max: 20 }) }) },
);

const name = (k: number): string => `k/${String(k).padStart(6, '0')}`;

/** Applies `ops` to `s` from raft index 1 and commits. */
async function apply(s: MvccStore, ops: Op[]): Promise<void> {
  let index = 1;
  let top = 2000; // keys from 'below' are 0..4000: some below the newest, some above it
  const written: number[] = [];
  const pick = (back: number) => written[Math.max(0, written.length - 1 - back)]!;
  const put = (k: number) => {
    s.put({ key: enc(name(k)), value: enc(`v${index}`) }, index++);
    written.push(k);
  };
  for (const op of ops) {
    switch (op.t) {
      case 'next':
        for (let i = 0; i < op.n; i++) put(++top);
        break;
      case 'below':
        put(op.k);
        break;
      case 'again':
        if (written.length > 0) put(pick(op.back));
        break;
      case 'del':
        if (written.length > 0) {
          const k = pick(op.back);
          s.deleteRange({ key: enc(name(k)), rangeEnd: enc(name(k + op.span)) }, index++);
        }
        break;
      case 'compact':
        if (s.currentRevision - op.back > s.compactedRevision) await s.compact(s.currentRevision - op.back, index++).done;
        break;
    }
  }
  await s.commit();
}

describe('the key index rebuilt at open', () => {
  it('reads as before the restart, for keys stored in any order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        const dir = tempDir();
        const s = await MvccStore.open({ dir });
        await apply(s, ops);
        const before = seen(s);
        await s.close();
        const again = track(await MvccStore.open({ dir }));
        expect(seen(again)).toEqual(before);
        // And takes writes in the middle and at both ends of what it rebuilt.
        const next = again.currentRevision + 1;
        for (const k of [0, 1999, 2500, 999_999]) again.put({ key: enc(name(k)), value: enc('x') }, 1_000_000 + k);
        for (const k of [0, 1999, 2500, 999_999]) {
          expect(again.range({ key: enc(name(k)) }).kvs[0]?.modRevision).toBeGreaterThanOrEqual(next);
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('holds 5,000 ascending keys and keys written out of order among them', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    let index = 1;
    for (let k = 0; k < 5000; k += 2) s.put({ key: enc(name(k)), value: enc('a') }, index++);
    for (let k = 4999; k > 0; k -= 50) s.put({ key: enc(name(k)), value: enc('b') }, index++);
    await s.commit();
    const before = seen(s);
    await s.close();
    const again = track(await MvccStore.open({ dir }));
    expect(again.keyCount).toBe(2500 + 100);
    expect(seen(again)).toEqual(before);
  }, 60_000);
});
