import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { META_CONSISTENT_INDEX, type Backend } from './backend.js';
import type { Event, RangeRequest, RequestOp, TxnRequest } from './kv.js';
import type { MvccStore } from './kvstore.js';
import type { ReadPacing } from './paced.js';
import { decodeUint64 } from './revision.js';
import { enc, openStore, plain, tempDir } from './test-support/helpers.js';

// A write applied in steps (txnInSteps, deleteRangeInSteps) must be the plain write spread over
// turns: same response, events, revision and hashes; while it runs, readers see the previous
// revision, commits wait (no half write in LMDB), other writes are refused.
const KEYS = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const ALL: RangeRequest = { key: enc('\0'), rangeEnd: enc('\0') };

/** A seeded history: puts (some with leases), deletes, txns, one compaction; returns the next raft index. */
function history(s: MvccStore, seed: number, n: number): number {
  let x = seed >>> 0 || 1;
  const rnd = (m: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
  let index = 1;
  for (let j = 0; j < n; j++) {
    const k = enc(KEYS[rnd(KEYS.length)]!);
    const r = rnd(10);
    if (r < 6) s.put({ key: k, value: enc(`v${j}`), lease: BigInt(rnd(2)) }, index++);
    else if (r < 8) s.deleteRange({ key: k, rangeEnd: rnd(2) === 0 ? undefined : enc(KEYS[rnd(KEYS.length)]!) }, index++);
    else s.txn({ compare: [], success: [{ put: { key: k, value: enc(`t${j}`) } }, { deleteRange: { key: enc(KEYS[rnd(KEYS.length)]!) } }], failure: [] }, index++);
    if (j === Math.floor(n / 2) && s.currentRevision > 2) s.compact(s.currentRevision - 1, index++);
  }
  return index;
}

const keyArb = fc.constantFrom(...KEYS);
const leafOpArb: fc.Arbitrary<RequestOp> = fc.oneof(
  fc.record({ key: keyArb, v: fc.string({ maxLength: 8 }), prevKv: fc.boolean() }).map(({ key, v, prevKv }) => ({ put: { key: enc(key), value: enc(v), prevKv } })),
  fc.record({ key: keyArb, end: fc.option(fc.constantFrom(...KEYS, '\0'), { nil: undefined }), prevKv: fc.boolean() }).map(({ key, end, prevKv }) => ({
    deleteRange: { key: enc(key), ...(end !== undefined && (end === '\0' || end > key) ? { rangeEnd: enc(end) } : {}), prevKv },
  })),
  fc.record({ key: keyArb, end: fc.constantFrom('\0', 'k10', 'k20') }).map(({ key, end }) => ({ range: { key: enc(key), rangeEnd: enc(end) } })),
);
const opArb: fc.Arbitrary<RequestOp> = fc.oneof(
  { weight: 5, arbitrary: leafOpArb },
  { weight: 1, arbitrary: fc.array(leafOpArb, { maxLength: 6 }).map((success) => ({ txn: { compare: [], success, failure: [] } })) },
);
const writeArb = fc.oneof(
  fc.record({
    kind: fc.constant('txn' as const),
    cmp: fc.boolean(),
    success: fc.array(opArb, { minLength: 1, maxLength: 30 }),
    failure: fc.array(opArb, { maxLength: 5 }),
  }),
  fc.record({ kind: fc.constant('deleteRange' as const), from: keyArb, end: fc.constantFrom('\0', 'k05', 'k12', 'k23'), prevKv: fc.boolean() }),
);
type Write = typeof writeArb extends fc.Arbitrary<infer T> ? T : never;

function txnOf(w: Extract<Write, { kind: 'txn' }>): TxnRequest {
  // A compare on a key's existence picks the branch; both branches are exercised across runs.
  const compare = w.cmp ? [{ key: enc('k03'), target: 'version' as const, result: 'greater' as const, version: 0 }] : [];
  return { compare, success: w.success, failure: w.failure };
}

const plainEvents = (events: Event[]) =>
  events.map((e) => ({ type: e.type, kv: plain(e.kv), prevKv: e.prevKv && plain(e.prevKv) }));

function durable(s: MvccStore): { ci: number; revision: number } {
  const backend = (s as unknown as { backend: Backend }).backend;
  const ci = backend.getDurableMeta(META_CONSISTENT_INDEX);
  return { ci: ci ? decodeUint64(ci, 'ci') : 0, revision: backend.durableRevision };
}

describe('a write in steps', () => {
  it('gives the plain write\'s results, events and hashes; meanwhile reads see the previous revision and nothing is committed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 5, max: 40 }), writeArb, fc.integer({ min: 1, max: 6 }),
        async (seed, n, write, step) => {
          const plainStore = await openStore();
          const stepped = await openStore();
          const index = history(plainStore, seed, n);
          history(stepped, seed, n);
          await stepped.commit();
          const seen: Array<{ events: unknown; revision: number }> = [];
          const seenStepped: Array<{ events: unknown; revision: number }> = [];
          plainStore.onEvents((events, revision) => seen.push({ events: plainEvents(events), revision }));
          stepped.onEvents((events, revision) => seenStepped.push({ events: plainEvents(events), revision }));

          const rev = stepped.currentRevision;
          const before = {
            range: stepped.range(ALL).kvs.map(plain),
            hash: stepped.hash(),
            hashKV: stepped.hashKV(0),
            events: plainEvents(stepped.eventsBetween(Math.max(1, stepped.compactedRevision), rev, 1000, true)),
            durable: durable(stepped),
          };
          const later: Array<Promise<unknown>> = [];
          let pauses = 0;
          const pacing: ReadPacing = {
            entriesPerStep: step,
            pause: async () => {
              pauses++;
              await new Promise((resolve) => setImmediate(resolve));
              // Readers during the write: the store as it was before it.
              expect(stepped.currentRevision).toBe(rev);
              expect(stepped.writeInProgress).toBe(true);
              expect(stepped.range(ALL).kvs.map(plain)).toEqual(before.range);
              expect(stepped.range({ ...ALL, revision: rev }).kvs.map(plain)).toEqual(before.range);
              expect(stepped.hash()).toBe(before.hash);
              expect(stepped.hashKV(0)).toEqual(before.hashKV);
              expect(plainEvents(stepped.eventsBetween(Math.max(1, stepped.compactedRevision), rev + 5, 1000, true))).toEqual(before.events);
              expect(seenStepped).toEqual([]);
              // A commit asked for now waits for the write: LMDB holds no part of it.
              later.push(stepped.commit());
              expect(durable(stepped)).toEqual(before.durable);
              // The apply loop must wait: another write is refused, not interleaved.
              expect(() => stepped.put({ key: enc('k00'), value: enc('x') }, index + 1)).toThrow(/in steps/);
              later.push(stepped.rangePaced(ALL, { entriesPerStep: 2, pause: () => new Promise((r) => setImmediate(r)) }));
              later.push(stepped.hashPaced({ entriesPerStep: 3, pause: () => new Promise((r) => setImmediate(r)) }));
            },
          };

          let want: unknown;
          let got: unknown;
          if (write.kind === 'txn') {
            want = plainStore.txn(txnOf(write), index);
            const w = stepped.txnInSteps(txnOf(write), index, pacing);
            got = w.done ? w.response : await w.response;
            expect(w.done).toBe(pauses === 0);
          } else {
            const req = { key: enc(write.from), rangeEnd: enc(write.end), prevKv: write.prevKv };
            want = plainStore.deleteRange(req, index);
            const w = stepped.deleteRangeInSteps(req, index, pacing);
            got = w.done ? w.response : await w.response;
          }
          expect(stepped.writeInProgress).toBe(false);
          expect(got).toEqual(want);
          expect(seenStepped).toEqual(seen);
          expect(stepped.currentRevision).toBe(plainStore.currentRevision);
          expect(stepped.hash()).toBe(plainStore.hash());
          expect(stepped.hashKV(0)).toEqual(plainStore.hashKV(0));
          expect(stepped.range(ALL)).toEqual(plainStore.range(ALL));
          const [, ...rest] = await Promise.all([stepped.commit(), ...later]);
          // Reads begun during the write answer at the revision they began at; hashes after it.
          for (const r of rest) {
            if (typeof r === 'number') expect(r).toBe(plainStore.hash());
            else if (r !== undefined) expect((r as { kvs: Parameters<typeof plain>[0][] }).kvs.map(plain)).toEqual(before.range);
          }
          expect(durable(stepped).ci).toBe(index);
        }),
      { numRuns: 50 },
    );
  });

  it('a ranged delete of many keys pauses every step and deletes them all in one revision', async () => {
    const s = await openStore();
    const n = 1000;
    s.txn({ compare: [], success: Array.from({ length: n }, (_, i) => ({ put: { key: enc(`key/${i}`), value: enc('v') } })), failure: [] }, 1);
    let pauses = 0;
    const w = s.deleteRangeInSteps({ key: enc('key/'), rangeEnd: enc('key0') }, 2, {
      entriesPerStep: 100,
      pause: async () => {
        pauses++;
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
    expect(w.done).toBe(false);
    const resp = await (w.response as Promise<{ deleted: number; revision: number }>);
    expect(resp).toMatchObject({ deleted: n, revision: 3 });
    // n keys, 100 per step (no listener: no event steps).
    expect(pauses).toBe(n / 100);
    expect(s.range({ key: enc('key/'), rangeEnd: enc('key0'), countOnly: true }).count).toBe(0);
  });

  it('a stepped write\'s events carry prevKv even when no listener wanted it as they were built', async () => {
    const s = await openStore();
    const n = 300;
    s.txn({ compare: [], success: Array.from({ length: n }, (_, i) => ({ put: { key: enc(`p/${i}`), value: enc(`v${i}`) } })), failure: [] }, 1);
    // Nobody wants prevKv until the write is half-way through building its events (after the
    // delete's n / 50 pauses and a few more): a prev_kv watcher could join in such a pause.
    let wants = false;
    let pauses = 0;
    const got: Event[] = [];
    s.onEvents((events) => got.push(...events), { wantsPrevKv: () => wants });
    const w = s.deleteRangeInSteps({ key: enc('p/'), rangeEnd: enc('p0') }, 2, {
      entriesPerStep: 50,
      pause: async () => {
        if (++pauses > n / 50 + 2) wants = true;
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
    await w.response;
    expect(got).toHaveLength(n);
    expect(got.every((ev) => ev.prevKv !== undefined && Buffer.from(ev.prevKv.value).toString().startsWith('v'))).toBe(true);
  });

  it('a restore asked for during the write replaces the state only after the write ends', async () => {
    const s = await openStore();
    const n = 2000;
    s.txn({ compare: [], success: Array.from({ length: n }, (_, i) => ({ put: { key: enc(`r/${i}`), value: enc('v') } })), failure: [] }, 1);
    const snapshot = `${tempDir()}/snap.db`;
    await s.snapshotTo(snapshot);
    const want = { range: s.range(ALL), hash: s.hash(), revision: s.currentRevision };
    s.put({ key: enc('extra'), value: enc('x') }, 2);
    let restoring: Promise<void> | undefined;
    const w = s.deleteRangeInSteps({ key: enc('\0'), rangeEnd: enc('\0') }, 3, {
      entriesPerStep: 1,
      pause: async () => {
        restoring ??= s.restore(snapshot);
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
    expect(w.done).toBe(false);
    expect(await (w.response as Promise<{ deleted: number }>)).toMatchObject({ deleted: n + 1 });
    await restoring;
    expect(s.range(ALL)).toEqual(want.range);
    expect(s.hash()).toBe(want.hash);
    expect(s.currentRevision).toBe(want.revision);
  });

  it('holdConsistentIndex keeps setConsistentIndex below a held entry until released', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 5);
    s.holdConsistentIndex(7);
    s.setConsistentIndex(6);
    expect(s.consistentIndex).toBe(6);
    s.setConsistentIndex(9);
    expect(s.consistentIndex).toBe(6);
    // The held entry is applied as usual.
    s.put({ key: enc('b'), value: enc('2') }, 7);
    expect(s.range({ key: enc('b') }).count).toBe(1);
    s.holdConsistentIndex(8);
    expect(s.consistentIndex).toBe(7);
    s.holdConsistentIndex(undefined);
    expect(s.consistentIndex).toBe(9);
  });

  it('a compaction whose index pass runs in steps: the plain compaction\'s reads, watch history and hashes, during and after', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 10, max: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 3 }),
        async (seed, n, where, step) => {
          const plainStore = await openStore();
          const stepped = await openStore();
          const index = history(plainStore, seed, n);
          history(stepped, seed, n);
          const lowest = Math.max(stepped.compactedRevision + 1, 1);
          const at = Math.min(stepped.currentRevision, lowest + Math.floor(where * (stepped.currentRevision - lowest + 1)));
          const cur = stepped.currentRevision;
          // A read in steps begun before, below the compaction: it keeps its view (pinned index).
          const early = Math.max(lowest - 1, 1, stepped.compactedRevision);
          const earlyWant = stepped.range({ ...ALL, revision: early });
          const earlyRead = stepped.rangePaced({ ...ALL, revision: early }, { entriesPerStep: 1, pause: () => new Promise((r) => setImmediate(r)) });
          await new Promise((r) => setImmediate(r));
          const plainDone = plainStore.compact(at, index).done;
          const watchFrom = Math.max(at, 1);
          const want = {
            ranges: Array.from({ length: cur - at + 1 }, (_, i) => plainStore.range({ ...ALL, revision: at + i })),
            events: plainEvents(plainStore.eventsBetween(watchFrom, cur, 1000, true)),
            hash: plainStore.hash(),
            hashKV: plainStore.hashKV(0),
          };
          let pauses = 0;
          const w = stepped.compactInSteps(at, index, {
            entriesPerStep: step,
            pause: async () => {
              pauses++;
              await new Promise((resolve) => setImmediate(resolve));
              expect(stepped.compactedRevision).toBe(at);
              for (let i = 0; i <= cur - at; i++) expect(stepped.range({ ...ALL, revision: at + i })).toEqual(want.ranges[i]);
              expect(plainEvents(stepped.eventsBetween(watchFrom, cur, 1000, true))).toEqual(want.events);
              expect(() => stepped.put({ key: enc('k00'), value: enc('x') }, index + 1)).toThrow(/in steps/);
              // hash() finishes the pass: on half the runs, so the others see every step of it.
              if (pauses === 1 && seed % 2 === 0) expect(stepped.hash()).toBe(want.hash);
            },
          });
          const { done } = w.done ? w.response : await w.response;
          await Promise.all([done, plainDone]);
          expect(stepped.hash()).toBe(want.hash);
          expect(stepped.hashKV(0)).toEqual(want.hashKV);
          expect(plainEvents(stepped.eventsBetween(watchFrom, cur, 1000, true))).toEqual(want.events);
          expect(await stepped.hashPaced({ entriesPerStep: 5, pause: () => new Promise((r) => setImmediate(r)) })).toBe(want.hash);
          expect(await earlyRead).toEqual(earlyWant);
        }),
      { numRuns: 50 },
    );
  });
});
