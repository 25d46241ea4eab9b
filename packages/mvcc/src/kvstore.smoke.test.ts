import { describe, expect, it } from 'vitest';
import { enc, keys, openStore, plain } from './test-support/helpers.js';

describe('smoke', () => {
  it('put range delete txn commit', async () => {
    const s = await openStore();
    let i = 1;
    expect(s.put({ key: enc('a'), value: enc('1') }, i++).revision).toBe(2);
    expect(s.put({ key: enc('b'), value: enc('2') }, i++).revision).toBe(3);
    expect(s.put({ key: enc('a'), value: enc('3') }, i++).revision).toBe(4);
    const r = s.range({ key: enc('a'), rangeEnd: enc('z') });
    expect(keys(r.kvs)).toEqual(['a', 'b']);
    expect(plain(r.kvs[0]!)).toEqual({ key: 'a', value: '3', create: 2, mod: 4, version: 2, lease: 0n });
    await s.commit();
    expect(s.range({ key: enc('a'), revision: 2 }).kvs.map(plain)[0]!.value).toBe('1');
    const d = s.deleteRange({ key: enc('a'), prevKv: true }, i++);
    expect(d).toMatchObject({ revision: 5, deleted: 1 });
    const t = s.txn({ compare: [{ key: enc('b'), target: 'version', result: 'equal', version: 1 }], success: [{ put: { key: enc('c'), value: enc('x') } }, { put: { key: enc('d'), value: enc('y') } }], failure: [] }, i++);
    expect(t.revision).toBe(6);
    expect(t.succeeded).toBe(true);
    await s.commit();
    expect(s.hashKV(0).revision).toBe(6);
  });
});
