import { describe, expect, it } from 'vitest';
import type { Event } from './kv.js';
import { dec, enc, keys, openStore, plain } from './test-support/helpers.js';

describe('put', () => {
  it('creates, then versions a key; revisions start at 2', async () => {
    const s = await openStore();
    expect(s.currentRevision).toBe(1);
    expect(s.put({ key: enc('k'), value: enc('v1') }, 1)).toEqual({ revision: 2 });
    expect(s.put({ key: enc('k'), value: enc('v2'), lease: 9n }, 2)).toEqual({ revision: 3 });
    expect(plain(s.range({ key: enc('k') }).kvs[0]!)).toEqual({ key: 'k', value: 'v2', create: 2, mod: 3, version: 2, lease: 9n });
    expect(s.consistentIndex).toBe(2);
  });

  it('prevKv returns the value before the put, absent for a new key', async () => {
    const s = await openStore();
    expect(s.put({ key: enc('k'), value: enc('v1'), prevKv: true }, 1).prevKv).toBeUndefined();
    const r = s.put({ key: enc('k'), value: enc('v2'), prevKv: true }, 2);
    expect(plain(r.prevKv!)).toEqual({ key: 'k', value: 'v1', create: 2, mod: 2, version: 1, lease: 0n });
  });

  it('ignoreValue keeps the value, ignoreLease keeps the lease', async () => {
    const s = await openStore();
    s.put({ key: enc('k'), value: enc('v1'), lease: 5n }, 1);
    s.put({ key: enc('k'), value: new Uint8Array(0), lease: 6n, ignoreValue: true }, 2);
    expect(plain(s.range({ key: enc('k') }).kvs[0]!)).toMatchObject({ value: 'v1', lease: 6n, version: 2 });
    s.put({ key: enc('k'), value: enc('v3'), ignoreLease: true }, 3);
    expect(plain(s.range({ key: enc('k') }).kvs[0]!)).toMatchObject({ value: 'v3', lease: 6n, version: 3 });
  });

  it.each([{ ignoreValue: true }, { ignoreLease: true }])('%o on a missing key fails with key_not_found and changes nothing', async (flag) => {
    const s = await openStore();
    expect(() => s.put({ key: enc('k'), value: enc('v'), ...flag }, 1)).toThrowError(expect.objectContaining({ code: 'key_not_found' }));
    expect(s.currentRevision).toBe(1);
    expect(s.consistentIndex).toBe(1);
  });

  it('a recreated key starts a new generation (create revision, version 1)', async () => {
    const s = await openStore();
    s.put({ key: enc('k'), value: enc('a') }, 1);
    s.put({ key: enc('k'), value: enc('b') }, 2);
    s.deleteRange({ key: enc('k') }, 3);
    s.put({ key: enc('k'), value: enc('c') }, 4);
    expect(plain(s.range({ key: enc('k') }).kvs[0]!)).toMatchObject({ create: 5, mod: 5, version: 1 });
    expect(plain(s.range({ key: enc('k'), revision: 3 }).kvs[0]!)).toMatchObject({ create: 2, mod: 3, version: 2 });
    expect(s.range({ key: enc('k'), revision: 4 }).kvs).toEqual([]);
  });

  it('does not alias the caller buffers', async () => {
    const s = await openStore();
    const key = Buffer.from('k');
    const value = Buffer.from('v');
    s.put({ key, value }, 1);
    value[0] = 0x78;
    key[0] = 0x78;
    expect(dec(s.range({ key: enc('k') }).kvs[0]!.value)).toBe('v');
  });
});

describe('deleteRange', () => {
  it('deletes a range in one revision and reports prevKvs', async () => {
    const s = await openStore();
    let i = 1;
    for (const k of ['a', 'b', 'c', 'd']) s.put({ key: enc(k), value: enc(k.toUpperCase()) }, i++);
    const r = s.deleteRange({ key: enc('b'), rangeEnd: enc('d'), prevKv: true }, i++);
    expect(r.revision).toBe(6);
    expect(r.deleted).toBe(2);
    expect(r.prevKvs.map(plain)).toEqual([
      { key: 'b', value: 'B', create: 3, mod: 3, version: 1, lease: 0n },
      { key: 'c', value: 'C', create: 4, mod: 4, version: 1, lease: 0n },
    ]);
    expect(keys(s.range({ key: enc('\0'), rangeEnd: enc('\0') }).kvs)).toEqual(['a', 'd']);
  });

  it('without prevKv returns no prevKvs', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 1);
    expect(s.deleteRange({ key: enc('a') }, 2)).toEqual({ revision: 3, deleted: 1, prevKvs: [] });
  });

  it('deleting nothing creates no revision', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 1);
    expect(s.deleteRange({ key: enc('zz'), prevKv: true }, 2)).toEqual({ revision: 2, deleted: 0, prevKvs: [] });
    expect(s.currentRevision).toBe(2);
    expect(s.consistentIndex).toBe(2);
  });

  it('"\\0" range end deletes everything from the key on', async () => {
    const s = await openStore();
    let i = 1;
    for (const k of ['a', 'b', 'c']) s.put({ key: enc(k), value: enc('x') }, i++);
    expect(s.deleteRange({ key: enc('b'), rangeEnd: enc('\0') }, i++).deleted).toBe(2);
    expect(keys(s.range({ key: enc('\0'), rangeEnd: enc('\0') }).kvs)).toEqual(['a']);
  });
});

describe('idempotent apply by raft index', () => {
  it('ignores writes at or below the consistent index', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 5);
    expect(s.put({ key: enc('a'), value: enc('2') }, 5)).toEqual({ revision: 2 });
    expect(s.put({ key: enc('a'), value: enc('3') }, 4)).toEqual({ revision: 2 });
    expect(s.deleteRange({ key: enc('a') }, 3)).toEqual({ revision: 2, deleted: 0, prevKvs: [] });
    expect(s.txn({ compare: [], success: [{ put: { key: enc('b'), value: enc('x') } }], failure: [] }, 5).revision).toBe(2);
    expect(s.currentRevision).toBe(2);
    expect(dec(s.range({ key: enc('a') }).kvs[0]!.value)).toBe('1');
    s.setConsistentIndex(9);
    expect(s.put({ key: enc('a'), value: enc('4') }, 9).revision).toBe(2);
    expect(s.put({ key: enc('a'), value: enc('4') }, 10).revision).toBe(3);
  });
});

describe('events', () => {
  it('delivers each revision once, in order, with etcd-shaped deletes and prevKv', async () => {
    const s = await openStore();
    const got: Array<[number, Event[]]> = [];
    const off = s.onEvents((evs, rev) => got.push([rev, evs]));
    s.put({ key: enc('a'), value: enc('1') }, 1);
    s.put({ key: enc('a'), value: enc('2') }, 2);
    s.deleteRange({ key: enc('a') }, 3);
    s.deleteRange({ key: enc('a') }, 4); // nothing deleted: no revision, no event
    s.txn({ compare: [], success: [{ put: { key: enc('b'), value: enc('x') } }, { put: { key: enc('b'), value: enc('y') } }], failure: [] }, 5);
    off();
    s.put({ key: enc('c'), value: enc('1') }, 6);
    expect(got.map(([rev, evs]) => [rev, evs.map((e) => e.type)])).toEqual([
      [2, ['put']],
      [3, ['put']],
      [4, ['delete']],
      [5, ['put', 'put']],
    ]);
    expect(got[1]![1][0]!.prevKv && plain(got[1]![1][0]!.prevKv)).toMatchObject({ value: '1', mod: 2 });
    expect(got[2]![1][0]!.kv).toEqual({ key: enc('a'), createRevision: 0, modRevision: 4, version: 0, value: new Uint8Array(0), lease: 0n });
    expect(plain(got[2]![1][0]!.prevKv!)).toMatchObject({ value: '2', mod: 3 });
    // Within a txn, prevKv is the state before the txn (as etcd's watch reads rev-1).
    expect(got[3]![1][1]!.prevKv).toBeUndefined();
    expect(plain(got[3]![1][1]!.kv)).toMatchObject({ value: 'y', version: 2, create: 5, mod: 5 });
  });

  it('a create carries no prevKv even when the key existed before the txn (as etcd)', async () => {
    const s = await openStore();
    s.put({ key: enc('k'), value: enc('old') }, 1);
    const got: Event[][] = [];
    s.onEvents((evs) => got.push(evs));
    s.txn({ compare: [], success: [{ deleteRange: { key: enc('k') } }, { put: { key: enc('k'), value: enc('new') } }], failure: [] }, 2);
    const [del, put] = got[0]!;
    expect(del!.prevKv && dec(del!.prevKv.value)).toBe('old');
    expect(put!.kv.version).toBe(1);
    expect(put!.prevKv).toBeUndefined();
    expect(s.eventsBetween(3, 3, 10, true)).toEqual(got[0]);
  });

  it('a throwing listener does not undo or fail the write', async () => {
    const s = await openStore();
    const thrown: unknown[] = [];
    const onError = (e: unknown): void => void thrown.push(e);
    process.on('uncaughtException', onError);
    try {
      s.onEvents(() => {
        throw new Error('listener bug');
      });
      expect(s.put({ key: enc('k'), value: enc('v') }, 1).revision).toBe(2);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(s.currentRevision).toBe(2);
    expect(thrown).toEqual([new Error('listener bug')]);
  });

  it('eventsBetween replays history from memory and from LMDB alike', async () => {
    const s = await openStore();
    let i = 1;
    s.put({ key: enc('a'), value: enc('1') }, i++); // 2
    s.put({ key: enc('b'), value: enc('1') }, i++); // 3
    await s.commit();
    s.deleteRange({ key: enc('a'), rangeEnd: enc('c') }, i++); // 4: two deletes
    s.put({ key: enc('a'), value: enc('2') }, i++); // 5
    const all = s.eventsBetween(1, 100, 100, true);
    expect(all.map((e) => [e.type, dec(e.kv.key), e.kv.modRevision])).toEqual([
      ['put', 'a', 2],
      ['put', 'b', 3],
      ['delete', 'a', 4],
      ['delete', 'b', 4],
      ['put', 'a', 5],
    ]);
    expect(all[2]!.prevKv && dec(all[2]!.prevKv.value)).toBe('1');
    expect(all[0]!.prevKv).toBeUndefined();
    await s.commit();
    expect(s.eventsBetween(1, 100, 100, true)).toEqual(all);
    // Limit cuts at revision boundaries, but never returns nothing.
    expect(s.eventsBetween(3, 100, 2).map((e) => e.kv.modRevision)).toEqual([3]);
    expect(s.eventsBetween(4, 100, 1).map((e) => e.kv.modRevision)).toEqual([4, 4]);
    expect(s.eventsBetween(4, 4, 10).length).toBe(2);
    expect(s.eventsBetween(6, 10, 10)).toEqual([]);
    expect(() => s.eventsBetween(7, 10, 10)).toThrowError(expect.objectContaining({ code: 'future_revision' }));
    await s.compact(4, i++).done;
    expect(() => s.eventsBetween(3, 10, 10)).toThrowError(expect.objectContaining({ code: 'compacted' }));
    // At the compacted revision only kept history remains: the tombstones at 4 are gone.
    expect(s.eventsBetween(4, 10, 10).map((e) => e.kv.modRevision)).toEqual([5]);
  });
});
