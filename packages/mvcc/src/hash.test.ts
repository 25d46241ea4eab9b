import { describe, expect, it } from 'vitest';
import type { MvccStore } from './kvstore.js';
import { enc, openStore } from './test-support/helpers.js';

// Golden values read from real etcd 3.4.23 (`etcdctl endpoint hashkv -w json`) after the
// same requests: put a 1; put b 2; put a 3; del a; put c ""; compact 4.
function etcdSequence(s: MvccStore): number {
  let i = 1;
  s.put({ key: enc('a'), value: enc('1') }, i++);
  s.put({ key: enc('b'), value: enc('2') }, i++);
  s.put({ key: enc('a'), value: enc('3') }, i++);
  s.deleteRange({ key: enc('a') }, i++);
  s.put({ key: enc('c'), value: enc('') }, i++);
  return i;
}

describe('hashKV', () => {
  it('equals real etcd on an empty store, after writes and after a compaction', async () => {
    const s = await openStore();
    expect(s.hashKV(0)).toEqual({ hash: 1084519789, compactRevision: -1, revision: 1 });
    const i = etcdSequence(s);
    expect(s.hashKV(0)).toEqual({ hash: 2522524288, compactRevision: -1, revision: 6 });
    await s.compact(4, i).done;
    expect(s.hashKV(0)).toEqual({ hash: 3545813561, compactRevision: 4, revision: 6 });
    await s.commit();
    expect(s.hashKV(0).hash).toBe(3545813561);
  });

  it.each([-1, -Number.MAX_SAFE_INTEGER])('at revision %i hashes nothing but the bucket name, as etcd', async (rev) => {
    const s = await openStore();
    const i = etcdSequence(s);
    expect(s.hashKV(rev)).toEqual({ hash: 1084519789, compactRevision: -1, revision: 6 });
    await s.compact(4, i).done;
    expect(s.hashKV(rev)).toEqual({ hash: 1084519789, compactRevision: 4, revision: 6 });
    expect(await s.hashKVPaced(rev, { entriesPerStep: 2, pause: async () => {} })).toEqual(s.hashKV(rev));
  });

  it('hashes only up to the requested revision', async () => {
    const s = await openStore();
    etcdSequence(s);
    const at3 = s.hashKV(3);
    expect(at3.revision).toBe(6);
    expect(at3.hash).not.toBe(s.hashKV(0).hash);
    expect(s.hashKV(6)).toEqual(s.hashKV(0));
    // A store that stopped at revision 3 hashes the same at its current revision.
    const t = await openStore();
    t.put({ key: enc('a'), value: enc('1') }, 1);
    t.put({ key: enc('b'), value: enc('2') }, 2);
    expect(t.hashKV(0).hash).toBe(at3.hash);
  });

  it('refuses compacted and future revisions', async () => {
    const s = await openStore();
    const i = etcdSequence(s);
    expect(() => s.hashKV(7)).toThrowError(expect.objectContaining({ code: 'future_revision' }));
    await s.compact(4, i).done;
    expect(() => s.hashKV(4)).toThrowError(expect.objectContaining({ code: 'compacted' }));
    expect(s.hashKV(5).compactRevision).toBe(4);
  });
});

describe('hash', () => {
  it('is deterministic and sensitive to content, not to commits or the consistent index', async () => {
    const a = await openStore();
    const b = await openStore();
    etcdSequence(a);
    etcdSequence(b);
    await a.commit();
    expect(a.hash()).toBe(b.hash());
    b.setConsistentIndex(1000);
    expect(a.hash()).toBe(b.hash());
    b.put({ key: enc('x'), value: enc('y') }, 1001);
    expect(a.hash()).not.toBe(b.hash());
    await a.compact(3, 100).done;
    expect(a.hash()).not.toBe(b.hash());
  });
});
