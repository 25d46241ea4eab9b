import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RangeRequest } from './kv.js';
import type { MvccStore } from './kvstore.js';
import { Pacer, sortPaced, type ReadPacing } from './paced.js';
import { enc, openStore } from './test-support/helpers.js';

const KEYS = ['a', 'a\0', 'ab', 'b', 'ba', 'c', 'cc', 'd', 'e', 'f'];

/** Writes driven by a seed: puts, deletes (single and ranged), txns; returns the next raft index. */
function writes(s: MvccStore, index: number, n: number, seed: number): number {
  let x = seed >>> 0 || 1;
  const rnd = (m: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
  for (let j = 0; j < n; j++) {
    const k = enc(KEYS[rnd(KEYS.length)]!);
    const r = rnd(10);
    if (r < 6) s.put({ key: k, value: enc(`v${rnd(50)}`), lease: BigInt(rnd(3)) }, index++);
    else if (r < 8) s.deleteRange({ key: k, rangeEnd: rnd(2) === 0 ? undefined : enc(KEYS[rnd(KEYS.length)]!) }, index++);
    else s.txn({ compare: [], success: [{ put: { key: k, value: enc(`t${j}`) } }, { put: { key: enc(KEYS[rnd(KEYS.length)]! + 'x'), value: enc('y') } }], failure: [] }, index++);
  }
  return index;
}

/**
 * A pacing whose pauses change the store: more writes, sometimes a commit, sometimes a
 * compaction at the newest revision (above the read's own) — never awaited, since its backend
 * part waits for the read to end.
 */
function busyPacing(s: MvccStore, step: number, seed: number, next: { index: number }): ReadPacing & { pauses: number } {
  const pacing = {
    entriesPerStep: step,
    pauses: 0,
    pause: async () => {
      pacing.pauses++;
      // A turn of the event loop: LMDB commits and compaction batches complete here.
      await new Promise((resolve) => setImmediate(resolve));
      next.index = writes(s, next.index, 3, seed + pacing.pauses);
      if (pacing.pauses % 3 === 0) void s.commit();
      if (pacing.pauses % 4 === 0 && s.currentRevision > s.compactedRevision) {
        void s.compact(s.currentRevision, next.index++).done;
      }
    },
  };
  return pacing;
}

const rangeReqArb: fc.Arbitrary<RangeRequest> = fc.record({
  key: fc.constantFrom('\0', 'a', 'b', 'c').map(enc),
  rangeEnd: fc.constantFrom(undefined, '\0', 'c', 'e', 'z', 'a').map((e) => (e === undefined ? undefined : enc(e))),
  limit: fc.constantFrom(0, 1, 3),
  revisionBack: fc.nat({ max: 4 }),
  sortOrder: fc.constantFrom('none' as const, 'ascend' as const, 'descend' as const),
  sortTarget: fc.constantFrom('key' as const, 'value' as const, 'mod' as const, 'version' as const, 'create' as const),
  countOnly: fc.boolean(),
  keysOnly: fc.boolean(),
  minModRevision: fc.constantFrom(0, 5),
  maxCreateRevision: fc.constantFrom(0, 30),
}).map(({ revisionBack, ...r }) => ({ ...r, revision: -revisionBack }));

/** The request at an absolute revision: `revision` <= 0 counts back from the newest (0: newest). */
function at(s: MvccStore, r: RangeRequest): RangeRequest {
  const back = -(r.revision ?? 0);
  return { ...r, revision: back === 0 ? 0 : Math.max(1, s.currentRevision - back) };
}

async function outcome<T>(f: () => T | Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  try {
    return { ok: await f() };
  } catch (err) {
    return { err };
  }
}

describe('sortPaced', () => {
  it('orders as a stable Array.prototype.sort, whatever the step', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.nat({ max: 20 }), { maxLength: 200 }), fc.integer({ min: 1, max: 40 }), async (xs, step) => {
      const items = xs.map((v, i) => ({ v, i }));
      const cmp = (a: { v: number }, b: { v: number }) => a.v - b.v;
      let pauses = 0;
      const got = await sortPaced(items, cmp, new Pacer({ entriesPerStep: step, pause: async () => void pauses++ }), () => undefined);
      expect(got).toEqual(items.slice().sort(cmp));
      if (items.length > 2 * step) expect(pauses).toBeGreaterThan(0);
    }), { seed: 4242, numRuns: 300 });
  });
});

describe('rangePaced', () => {
  it('answers as range() at the call, while writes, commits and compactions run in its pauses', async () => {
    let paused = 0;
    await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 5, max: 60 }), fc.integer({ min: 1, max: 4 }), rangeReqArb, fc.boolean(),
      async (seed, n, step, req, compactFirst) => {
        const s = await openStore();
        const next = { index: writes(s, 1, n, seed) };
        if (compactFirst) await s.compact(Math.max(1, s.currentRevision - 3), next.index++).done;
        const r = at(s, req);
        const want = await outcome(() => s.range(r));
        const pacing = busyPacing(s, step, seed, next);
        const got = await outcome(() => s.rangePaced(r, pacing));
        expect(got).toEqual(want);
        paused += pacing.pauses;
        // Compactions held back by the read go through once it ends.
        await s.whenCompacted();
        await s.close();
      }), { seed: 1010, numRuns: 150 });
    expect(paused).toBeGreaterThan(300);
  });

  it('never pauses a read that fits in one step', async () => {
    const s = await openStore();
    writes(s, 1, 20, 7);
    let pauses = 0;
    const res = await s.rangePaced({ key: enc('\0'), rangeEnd: enc('\0') }, { entriesPerStep: 100, pause: async () => void pauses++ });
    expect(res).toEqual(s.range({ key: enc('\0'), rangeEnd: enc('\0') }));
    expect(pauses).toBe(0);
  });

  it('fails with closed when the store closes during the read', async () => {
    const s = await openStore();
    writes(s, 1, 40, 3);
    let closing: Promise<void> | undefined;
    const read = s.rangePaced({ key: enc('\0'), rangeEnd: enc('\0') }, {
      entriesPerStep: 1,
      pause: async () => {
        closing ??= s.close();
      },
    });
    await expect(read).rejects.toMatchObject({ code: 'closed' });
    await closing;
  });
});

describe('hashPaced and hashKVPaced', () => {
  it('equal hash() and hashKV() at the call, while writes, commits and compactions run in their pauses', async () => {
    let paused = 0;
    await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 5 }),
      fc.constantFrom('none', 'old', 'newest', 'twice', 'pending'), fc.nat({ max: 6 }),
      async (seed, n, step, compaction, back) => {
        const s = await openStore();
        let index = writes(s, 1, n, seed);
        if (compaction === 'old' || compaction === 'twice') await s.compact(Math.max(1, s.currentRevision - 4), index++).done;
        index = writes(s, index, n % 7, seed + 1);
        if (compaction === 'newest' || compaction === 'twice') {
          if (s.currentRevision > s.compactedRevision) await s.compact(s.currentRevision, index++).done;
        }
        // A compaction still deleting from the backend when the hash is asked for.
        if (compaction === 'pending') {
          void s.compact(Math.max(1, s.currentRevision - 2), index++).done;
          for (let i = 0; i <= 2 * step; i++) s.put({ key: enc(`p${i}`), value: enc('v') }, index++);
        }
        const next = { index };
        // Asked before anything else moves: the answers of the unpaced versions at the call.
        const wantHash = s.hash();
        const pacing = busyPacing(s, step, seed, next);
        expect(await s.hashPaced(pacing)).toBe(wantHash);
        // Read in steps from the backend (after waiting for the compaction), not answered by the
        // fallback from the index.
        if (compaction === 'pending') expect(pacing.pauses).toBeGreaterThan(0);
        paused += pacing.pauses;
        for (const rev of [0, Math.max(1, s.currentRevision - back)]) {
          await s.whenCompacted();
          const want = await outcome(() => s.hashKV(rev));
          expect(await outcome(() => s.hashKVPaced(rev, busyPacing(s, step, seed + rev, next)))).toEqual(want);
        }
        await s.close();
      }), { seed: 2020, numRuns: 150 });
    expect(paused).toBeGreaterThan(300);
  });

  it('keeps etcd\'s quirk: nothing below the compaction is skipped when no key is live at the revision', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 1);
    s.put({ key: enc('b'), value: enc('2') }, 2);
    await s.compact(3, 3).done;
    s.deleteRange({ key: enc('a'), rangeEnd: enc('c') }, 4);
    const want = s.hashKV(0);
    expect(await s.hashKVPaced(0, { entriesPerStep: 1, pause: async () => undefined })).toEqual(want);
    s.put({ key: enc('b'), value: enc('3') }, 5);
    expect(await s.hashKVPaced(0, { entriesPerStep: 1, pause: async () => undefined })).toEqual(s.hashKV(0));
    expect(await s.hashKVPaced(4, { entriesPerStep: 2, pause: async () => undefined })).toEqual(s.hashKV(4));
  });

  it('refuses compacted and future revisions, including a compaction that ran before the read began', async () => {
    const s = await openStore();
    const i = writes(s, 1, 10, 5);
    const pacing = { entriesPerStep: 2, pause: async () => undefined };
    await expect(s.hashKVPaced(s.currentRevision + 1, pacing)).rejects.toMatchObject({ code: 'future_revision' });
    const rev = s.currentRevision - 2;
    const p = s.hashKVPaced(rev, pacing);
    s.compact(rev, i); // applied before the read fixes its state
    await expect(p).rejects.toMatchObject({ code: 'compacted' });
  });
});
