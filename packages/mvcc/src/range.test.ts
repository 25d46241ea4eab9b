import { beforeEach, describe, expect, it } from 'vitest';
import type { RangeRequest } from './kv.js';
import type { MvccStore } from './kvstore.js';
import { MvccError } from './errors.js';
import { dec, enc, keys, openStore } from './test-support/helpers.js';

// Fixture history (revision: change):
// 2 put a=1 | 3 put b=22 | 4 put c=333 | 5 put a=4444 | 6 put d=5 lease 7
// 7 put e=6 | 8 delete e | 9 put ab=7
// Live at 9: a(create 2, mod 5, ver 2), ab(9,9,1), b(3,3,1), c(4,4,1), d(6,6,1, lease 7)
async function fixture(): Promise<MvccStore> {
  const s = await openStore();
  let i = 1;
  s.put({ key: enc('a'), value: enc('1') }, i++);
  s.put({ key: enc('b'), value: enc('22') }, i++);
  s.put({ key: enc('c'), value: enc('333') }, i++);
  s.put({ key: enc('a'), value: enc('4444') }, i++);
  s.put({ key: enc('d'), value: enc('5'), lease: 7n }, i++);
  s.put({ key: enc('e'), value: enc('6') }, i++);
  s.deleteRange({ key: enc('e') }, i++);
  s.put({ key: enc('ab'), value: enc('7') }, i++);
  return s;
}

const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

interface Case {
  name: string;
  req: Omit<RangeRequest, 'key'> & { key?: Uint8Array };
  keys: string[];
  count: number;
  more?: boolean;
  values?: string[];
}

const cases: Case[] = [
  { name: 'single key', req: { key: enc('a') }, keys: ['a'], count: 1, values: ['4444'] },
  { name: 'single missing key', req: { key: enc('zz') }, keys: [], count: 0 },
  { name: 'empty rangeEnd is a single key', req: { key: enc('a'), rangeEnd: new Uint8Array(0) }, keys: ['a'], count: 1 },
  { name: '[a, c)', req: { key: enc('a'), rangeEnd: enc('c') }, keys: ['a', 'ab', 'b'], count: 3 },
  { name: 'prefix a (end b)', req: { key: enc('a'), rangeEnd: enc('b') }, keys: ['a', 'ab'], count: 2 },
  { name: '"\\0".."\\0" is every key', req: ALL, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5 },
  { name: 'from b to the end', req: { key: enc('b'), rangeEnd: enc('\0') }, keys: ['b', 'c', 'd'], count: 3 },
  { name: 'end before key is empty', req: { key: enc('c'), rangeEnd: enc('a') }, keys: [], count: 0 },
  { name: 'end equal to key is empty', req: { key: enc('c'), rangeEnd: enc('c') }, keys: [], count: 0 },
  { name: 'limit 2', req: { ...ALL, limit: 2 }, keys: ['a', 'ab'], count: 5, more: true },
  { name: 'limit = count', req: { ...ALL, limit: 5 }, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5, more: false },
  { name: 'limit > count', req: { ...ALL, limit: 10 }, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5, more: false },
  { name: 'revision 4', req: { ...ALL, revision: 4 }, keys: ['a', 'b', 'c'], count: 3, values: ['1', '22', '333'] },
  { name: 'revision 7 sees e', req: { ...ALL, revision: 7 }, keys: ['a', 'b', 'c', 'd', 'e'], count: 5 },
  { name: 'revision 8 after delete of e', req: { ...ALL, revision: 8 }, keys: ['a', 'b', 'c', 'd'], count: 4 },
  { name: 'revision 1 is empty', req: { ...ALL, revision: 1 }, keys: [], count: 0 },
  { name: 'negative revision reads newest', req: { ...ALL, revision: -1 }, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5 },
  { name: 'sort key ascend', req: { ...ALL, sortOrder: 'ascend', sortTarget: 'key' }, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5 },
  { name: 'sort key descend', req: { ...ALL, sortOrder: 'descend', sortTarget: 'key' }, keys: ['d', 'c', 'b', 'ab', 'a'], count: 5 },
  { name: 'sort value descend + limit', req: { ...ALL, sortOrder: 'descend', sortTarget: 'value', limit: 2 }, keys: ['ab', 'd'], count: 5, more: true },
  { name: 'sort value ascend', req: { ...ALL, sortOrder: 'ascend', sortTarget: 'value' }, keys: ['b', 'c', 'a', 'd', 'ab'], count: 5 },
  { name: 'target mod with order none sorts ascending', req: { ...ALL, sortTarget: 'mod' }, keys: ['b', 'c', 'a', 'd', 'ab'], count: 5 },
  { name: 'sort mod descend + limit 1', req: { ...ALL, sortOrder: 'descend', sortTarget: 'mod', limit: 1 }, keys: ['ab'], count: 5, more: true },
  { name: 'sort version descend, ties in key order', req: { ...ALL, sortOrder: 'descend', sortTarget: 'version' }, keys: ['a', 'ab', 'b', 'c', 'd'], count: 5 },
  { name: 'sort create ascend', req: { ...ALL, sortOrder: 'ascend', sortTarget: 'create' }, keys: ['a', 'b', 'c', 'd', 'ab'], count: 5 },
  { name: 'minModRevision 5 (count unfiltered)', req: { ...ALL, minModRevision: 5 }, keys: ['a', 'ab', 'd'], count: 5 },
  { name: 'maxModRevision 4', req: { ...ALL, maxModRevision: 4 }, keys: ['b', 'c'], count: 5 },
  { name: 'minCreateRevision 4', req: { ...ALL, minCreateRevision: 4 }, keys: ['ab', 'c', 'd'], count: 5 },
  { name: 'maxCreateRevision 3', req: { ...ALL, maxCreateRevision: 3 }, keys: ['a', 'b'], count: 5 },
  { name: 'min+max mod window', req: { ...ALL, minModRevision: 4, maxModRevision: 6 }, keys: ['a', 'c', 'd'], count: 5 },
  { name: 'filter then limit', req: { ...ALL, minModRevision: 5, limit: 1 }, keys: ['a'], count: 5, more: true },
  { name: 'keysOnly', req: { ...ALL, keysOnly: true, limit: 2 }, keys: ['a', 'ab'], count: 5, more: true, values: ['', ''] },
  { name: 'countOnly', req: { ...ALL, countOnly: true }, keys: [], count: 5 },
  { name: 'countOnly ignores limit', req: { ...ALL, countOnly: true, limit: 1 }, keys: [], count: 5, more: false },
  { name: 'countOnly at a revision', req: { ...ALL, countOnly: true, revision: 3 }, keys: [], count: 2 },
  { name: 'binary key range', req: { key: enc('b'), rangeEnd: Uint8Array.of(0xff) }, keys: ['b', 'c', 'd'], count: 3 },
];

describe('range', () => {
  let s: MvccStore;
  beforeEach(async () => {
    s = await fixture();
  });

  it.each(cases)('$name', (c) => {
    const r = s.range({ key: enc('a'), ...c.req });
    expect(keys(r.kvs)).toEqual(c.keys);
    expect(r.count).toBe(c.count);
    expect(r.more).toBe(c.more ?? false);
    expect(r.revision).toBe(9);
    if (c.values) expect(r.kvs.map((kv) => dec(kv.value))).toEqual(c.values);
  });

  it('returns every KeyValue field', () => {
    const [a] = s.range({ key: enc('a') }).kvs;
    expect(a).toEqual({ key: enc('a'), value: enc('4444'), createRevision: 2, modRevision: 5, version: 2, lease: 0n });
    const [d] = s.range({ key: enc('d') }).kvs;
    expect(d).toMatchObject({ createRevision: 6, modRevision: 6, version: 1, lease: 7n });
    const [old] = s.range({ key: enc('a'), revision: 4 }).kvs;
    expect(old).toMatchObject({ value: enc('1'), createRevision: 2, modRevision: 2, version: 1 });
  });

  it('refuses a future revision', () => {
    expect(() => s.range({ ...ALL, revision: 10 })).toThrowError(expect.objectContaining({ code: 'future_revision' }));
  });

  it('refuses a compacted revision but serves the compacted revision itself', async () => {
    await s.compact(5, 100).done;
    expect(() => s.range({ ...ALL, revision: 4 })).toThrowError(MvccError);
    try {
      s.range({ ...ALL, revision: 4 });
    } catch (e) {
      expect(e).toMatchObject({ code: 'compacted', compactRevision: 5 });
    }
    expect(keys(s.range({ ...ALL, revision: 5 }).kvs)).toEqual(['a', 'b', 'c']);
  });

  it('serves the same results after commit (from LMDB instead of memory)', async () => {
    const before = cases.map((c) => s.range({ key: enc('a'), ...c.req }));
    await s.commit();
    const after = cases.map((c) => s.range({ key: enc('a'), ...c.req }));
    expect(after).toEqual(before);
  });
});
