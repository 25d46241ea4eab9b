// The counters and hooks /metrics reads: etcd's mvcc op counters (etcd_mvcc_*_total), its live
// key gauge (etcd_debugging_mvcc_keys_total) and the backend commit it times.
import { describe, expect, it } from 'vitest';
import type { MvccStore } from './kvstore.js';
import { enc, openStore, track } from './test-support/helpers.js';
import { MvccStore as Store } from './kvstore.js';

const put = (k: string) => ({ put: { key: enc(k), value: enc('v') } });
const pacing = { entriesPerStep: 2, pause: () => new Promise<void>((resolve) => setImmediate(resolve)) };

function counts(s: MvccStore) {
  return { ...s.opCounts };
}

describe('opCounts, as etcd counts them', () => {
  it.each([
    ['a put', (s: MvccStore) => s.put({ key: enc('a'), value: enc('v') }, 10), { ranges: 0, puts: 1, deletes: 0, txns: 0 }],
    ['a delete (of nothing too)', (s: MvccStore) => s.deleteRange({ key: enc('zz') }, 10), { ranges: 0, puts: 0, deletes: 1, txns: 0 }],
    ['a range', (s: MvccStore) => s.range({ key: enc('a') }), { ranges: 1, puts: 0, deletes: 0, txns: 0 }],
    ['a txn of one put: a put, not a txn', (s: MvccStore) => s.txn({ compare: [], success: [put('x')], failure: [] }, 10), { ranges: 0, puts: 1, deletes: 0, txns: 0 }],
    ['a txn of a put and a range', (s: MvccStore) => s.txn({ compare: [], success: [put('x'), { range: { key: enc('x') } }], failure: [] }, 10), { ranges: 1, puts: 1, deletes: 0, txns: 1 }],
    ['a nested txn: its ops count, the whole is one txn', (s: MvccStore) => s.txn({
      compare: [], success: [{ txn: { compare: [], success: [put('x'), { deleteRange: { key: enc('a') } }], failure: [] } }], failure: [],
    }, 10), { ranges: 0, puts: 1, deletes: 1, txns: 1 }],
    ['the branch not taken does not count', (s: MvccStore) => s.txn({
      compare: [{ key: enc('a'), target: 'version', result: 'equal', version: 99 }], success: [put('x'), put('y')], failure: [put('z')],
    } as never, 10), { ranges: 0, puts: 1, deletes: 0, txns: 0 }],
    ['a read-only txn of two ranges', (s: MvccStore) => s.readTxn({ compare: [], success: [{ range: { key: enc('a') } }, { range: { key: enc('b') } }], failure: [] }), { ranges: 2, puts: 0, deletes: 0, txns: 1 }],
    ['a write already applied (index <= consistent index) counts nothing', (s: MvccStore) => s.put({ key: enc('a'), value: enc('v') }, 1), { ranges: 0, puts: 0, deletes: 0, txns: 0 }],
  ] as const)('%s', async (_name, op, want) => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('v') }, 1);
    const before = counts(s);
    op(s);
    const after = counts(s);
    expect({
      ranges: after.ranges - before.ranges, puts: after.puts - before.puts, deletes: after.deletes - before.deletes, txns: after.txns - before.txns,
    }).toEqual(want);
  });

  it('writes and reads in steps count as the plain ones', async () => {
    const s = await openStore();
    s.txn({ compare: [], success: Array.from({ length: 10 }, (_, i) => put(`k/${i}`)), failure: [] }, 1);
    const before = counts(s);
    const d = s.deleteRangeInSteps({ key: enc('k/'), rangeEnd: enc('k0') }, 2, pacing);
    if (!d.done) await d.response;
    const t = s.txnInSteps({ compare: [], success: [put('p'), { deleteRange: { key: enc('p') } }, put('q')], failure: [] }, 3, pacing);
    if (!t.done) await t.response;
    await s.rangePaced({ key: enc('q') }, pacing);
    const after = counts(s);
    expect(after.deletes - before.deletes).toBe(2);
    expect(after.puts - before.puts).toBe(2);
    expect(after.txns - before.txns).toBe(1);
    expect(after.ranges - before.ranges).toBe(1);
  });
});

describe('keyCount', () => {
  it('counts keys that exist now: puts create, deletes remove, a recreated key counts again', async () => {
    const s = await openStore();
    s.txn({ compare: [], success: [put('a'), put('b'), put('c')], failure: [] }, 1);
    expect(s.keyCount).toBe(3);
    s.put({ key: enc('a'), value: enc('v2') }, 2);
    expect(s.keyCount).toBe(3);
    s.deleteRange({ key: enc('a'), rangeEnd: enc('c') }, 3);
    expect(s.keyCount).toBe(1);
    s.put({ key: enc('a'), value: enc('v3') }, 4);
    expect(s.keyCount).toBe(2);
    s.txn({ compare: [], success: [{ deleteRange: { key: enc('a') } }, put('a')], failure: [] }, 5);
    expect(s.keyCount).toBe(2);
    s.compact(s.currentRevision, 6);
    expect(s.keyCount).toBe(2);
  });

  it('is counted from the index on open and in steps as in one go', async () => {
    const s = await openStore();
    s.txn({ compare: [], success: Array.from({ length: 10 }, (_, i) => put(`k/${i}`)), failure: [] }, 1);
    const d = s.deleteRangeInSteps({ key: enc('k/'), rangeEnd: enc('k/5') }, 2, pacing);
    if (!d.done) await d.response;
    expect(s.keyCount).toBe(5);
    await s.commit();
    const dir = (s as unknown as { dir: string }).dir;
    await s.close();
    const again = track(await Store.open({ dir }));
    expect(again.keyCount).toBe(5);
  });
});

describe('onBackendCommit', () => {
  it('is handed each commit (each writes the consistent index), and its promise settles when the commit did', async () => {
    const writes: Array<Promise<void>> = [];
    const s = await openStore({ onBackendCommit: (w) => writes.push(w) });
    await s.commit();
    expect(writes.length).toBe(1);
    s.put({ key: enc('a'), value: enc('v') }, 1);
    const c = s.commit();
    s.put({ key: enc('b'), value: enc('v') }, 2);
    await Promise.all([c, s.commit()]);
    expect(writes.length).toBe(3);
    await expect(Promise.all(writes)).resolves.toBeDefined();
  });
});

describe('onHash, onCompactionStep, onCompaction', () => {
  it('are handed each paced hash, each compaction pause (with the backend keys deleted) and each backend compaction', async () => {
    const s = await openStore();
    const hashes: string[] = [];
    const steps: Array<{ kind: string; keys: number }> = [];
    const compactions: Array<Promise<void>> = [];
    s.onHash = (kind, done) => { void done.then(() => hashes.push(kind)); };
    s.onCompactionStep = (kind, done) => { void done.then((keys) => steps.push({ kind, keys })); };
    s.onCompaction = (done) => { compactions.push(done); };
    for (let i = 0; i < 5; i++) s.put({ key: enc('a'), value: enc(`v${i}`) }, 10 + i);
    await s.hashPaced(pacing);
    await s.hashKVPaced(0, pacing);
    await s.compact(4, 20).done;
    const c = s.compactInSteps(5, 21, pacing);
    await (c.done ? c.response : await c.response).done;
    expect(hashes).toEqual(['hash', 'hashKV']);
    expect(compactions.length).toBe(2);
    await Promise.all(compactions);
    expect(steps.filter((x) => x.kind === 'index').length).toBeGreaterThanOrEqual(2);
    // Revisions 2 and 3 of `a` go in the first compaction, 4 in the second.
    expect(steps.filter((x) => x.kind === 'db').reduce((n, x) => n + x.keys, 0)).toBe(3);
  });
});

describe('opCounts.putBytes, as etcd\'s total_put_size', () => {
  it('adds key and stored value bytes of each put, in txns too; an ignore_value put counts the value it kept', async () => {
    const s = await openStore();
    s.put({ key: enc('ab'), value: enc('value') }, 10);
    s.txn({ compare: [], success: [{ put: { key: enc('c'), value: enc('12') } }, { range: { key: enc('c') } }], failure: [] }, 11);
    s.put({ key: enc('ab'), value: enc(''), ignoreValue: true }, 12);
    s.deleteRange({ key: enc('c') }, 13);
    expect(s.opCounts.putBytes).toBe((2 + 5) + (1 + 2) + (2 + 5));
  });
});
