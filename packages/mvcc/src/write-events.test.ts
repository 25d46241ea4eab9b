import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event, RequestOp } from './kv.js';
import { enc, openStore, plain } from './test-support/helpers.js';

// Writes find each event's prevKv while they apply (and big writes share byte slabs): the
// events must still be what etcd's watch defines — prevKv is the key at revision - 1, absent
// for a create — and kv the key at the revision, for any mix of ops, including a key changed
// several times in one txn, ops with prevKv/ignoreValue, commits and compactions in between.
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<RequestOp> = fc.oneof(
  fc.record({ key: keyArb, v: fc.string({ maxLength: 40 }), prevKv: fc.boolean(), lease: fc.constantFrom(0n, 7n) }).map(
    ({ key, v, prevKv, lease }) => ({ put: { key: enc(key), value: enc(v), prevKv, lease } }),
  ),
  fc.record({ key: keyArb, end: fc.option(keyArb, { nil: undefined }), prevKv: fc.boolean() }).map(({ key, end, prevKv }) => ({
    deleteRange: { key: enc(key), ...(end !== undefined && end > key ? { rangeEnd: enc(end) } : {}), prevKv },
  })),
);
const stepArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 40 }).map((ops) => ({ kind: 'txn' as const, ops })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
);

describe('events of writes', () => {
  it('carry prevKv only while a listener wants it (a listener without wantsPrevKv always does)', async () => {
    const s = await openStore();
    let index = 1;
    const put = (v: string) => s.txn({ compare: [], success: [{ put: { key: enc('a'), value: enc(v) } }], failure: [] }, index++);
    put('1');
    let wants = false;
    const got: Event[] = [];
    s.onEvents((events) => got.push(...events), { wantsPrevKv: () => wants });
    put('2');
    expect(got.at(-1)!.prevKv).toBeUndefined();
    wants = true;
    put('3');
    expect(Buffer.from(got.at(-1)!.prevKv!.value).toString()).toBe('2');
    wants = false;
    const off = s.onEvents(() => undefined);
    put('4');
    expect(Buffer.from(got.at(-1)!.prevKv!.value).toString()).toBe('3');
    off();
    put('5');
    expect(got.at(-1)!.prevKv).toBeUndefined();
    expect(got.map((ev) => Buffer.from(ev.kv.value).toString())).toEqual(['2', '3', '4', '5']);
  });

  it('go only to listeners that want the write as it begins; the revision moves on either way', async () => {
    const s = await openStore();
    let index = 1;
    const put = (v: string) => s.txn({ compare: [], success: [{ put: { key: enc('a'), value: enc(v) } }], failure: [] }, index++);
    let wants = false;
    const picky: number[] = [];
    const off = s.onEvents((_events, revision) => picky.push(revision), { wantsEvents: () => wants });
    put('1');
    expect(s.currentRevision).toBe(2);
    wants = true;
    put('2');
    wants = false;
    put('3');
    expect(picky).toEqual([3]);
    // A listener without the option is called at every write; the picky one still only when it wants.
    const all: string[] = [];
    const offAll = s.onEvents((events) => all.push(...events.map((ev) => Buffer.from(ev.kv.value).toString())));
    put('4');
    wants = true;
    put('5');
    expect(all).toEqual(['4', '5']);
    expect(picky).toEqual([3, 6]);
    offAll();
    off();
    put('6');
    expect(s.range({ key: enc('a') }).kvs.map(plain)).toEqual([{ key: 'a', value: '6', create: 2, mod: 7, version: 6, lease: 0n }]);
  });

  it('carry prevKv = the key at revision - 1 (none for a create) and kv = the key at the revision', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        const s = await openStore();
        const seen: Array<{ events: Event[]; revision: number }> = [];
        s.onEvents((events, revision) => seen.push({ events, revision }));
        // Every key exists at first, so puts version keys and deletes find them.
        s.txn({ compare: [], success: KEYS.map((k) => ({ put: { key: enc(k), value: enc(`${k}0`) } })), failure: [] }, 1);
        let index = 2;
        for (const step of steps) {
          if (step.kind === 'commit') await s.commit();
          else if (step.kind === 'compact') {
            if (s.currentRevision > s.compactedRevision) s.compact(s.currentRevision, index++);
          } else {
            seen.length = 0;
            const before = s.currentRevision;
            s.txn({ compare: [], success: step.ops, failure: [] }, index++);
            if (s.currentRevision === before) continue;
            expect(seen).toHaveLength(1);
            const { events, revision } = seen[0]!;
            for (const [i, ev] of events.entries()) {
              const now = s.range({ key: ev.kv.key, revision }).kvs[0];
              const last = !events.slice(i + 1).some((later) => Buffer.compare(later.kv.key, ev.kv.key) === 0);
              if (ev.type === 'put' && last) expect(plain(ev.kv)).toEqual(plain(now!));
              else expect(ev.kv.modRevision).toBe(revision);
              const prev = s.range({ key: ev.kv.key, revision: revision - 1 }).kvs[0];
              if (ev.type === 'put' && ev.kv.version === 1) expect(ev.prevKv).toBeUndefined();
              else expect(ev.prevKv && plain(ev.prevKv)).toEqual(prev && plain(prev));
            }
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('of a txn of many puts hold their KVs in shared chunks from the first put, and reads before the commit see them', async () => {
    const s = await openStore();
    const got: Event[] = [];
    s.onEvents((events) => got.push(...events));
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    s.txn({ compare: [], success: keys.map((k) => ({ put: { key: enc(k), value: enc(`v-${k}`) } })), failure: [] }, 1);
    // One chunk per 16 KiB or so, not an ArrayBuffer per KV for the first 16 puts.
    expect(new Set(got.map((ev) => ev.kv.value.buffer)).size).toBe(1);
    const read = () => s.range({ key: enc('k'), rangeEnd: enc('l') }).kvs.map(plain);
    const before = read();
    expect(before.map((kv) => Buffer.from(kv.value).toString())).toEqual(keys.map((k) => `v-${k}`));
    expect(before).toEqual(got.map((ev) => plain(ev.kv)));
    await s.commit();
    expect(read()).toEqual(before);
  });
});

