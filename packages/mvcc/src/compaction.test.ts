import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { MvccStore } from './kvstore.js';
import type { RangeResponse } from './kv.js';
import { decodeRevision } from './revision.js';
import { enc, openStore, tempDir, track } from './test-support/helpers.js';

const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

/** 3 keys rewritten in turns, one deleted and recreated: revisions 2..21. */
function workload(s: MvccStore, firstIndex = 1): number {
  let i = firstIndex;
  for (let n = 0; n < 18; n++) {
    const k = enc(`k${n % 3}`);
    if (n === 7) s.deleteRange({ key: k }, i++);
    else s.put({ key: k, value: enc(`v${n}`) }, i++);
  }
  s.txn({ compare: [], success: [{ put: { key: enc('t'), value: enc('1') } }, { deleteRange: { key: enc('k2') } }], failure: [] }, i++);
  s.put({ key: enc('k2'), value: enc('again') }, i++);
  return i;
}

function readsFrom(s: MvccStore, from: number): RangeResponse[] {
  const out: RangeResponse[] = [];
  for (let rev = from; rev <= s.currentRevision; rev++) out.push(s.range({ ...ALL, revision: rev }));
  return out;
}

/** Revision keys present in the LMDB file of a closed store. */
async function backendRevisions(dir: string): Promise<string[]> {
  const env = open({ path: dir, maxDbs: 4, readOnly: false });
  const db = env.openDB<Buffer, Buffer>({ name: 'key', keyEncoding: 'binary', encoding: 'binary' });
  const out: string[] = [];
  for (const k of db.getKeys({})) {
    const { rev, tombstone } = decodeRevision(k);
    out.push(`${rev.main}_${rev.sub}${tombstone ? 't' : ''}`);
  }
  await env.close();
  return out;
}

describe('compaction', () => {
  it('refuses compacted and future revisions', async () => {
    const s = await openStore();
    workload(s);
    expect(() => s.compact(s.currentRevision + 1, 100)).toThrowError(expect.objectContaining({ code: 'future_revision' }));
    await s.compact(5, 101).done;
    expect(s.compactedRevision).toBe(5);
    expect(() => s.compact(5, 102)).toThrowError(expect.objectContaining({ code: 'compacted' }));
    expect(() => s.compact(4, 103)).toThrowError(expect.objectContaining({ code: 'compacted' }));
    expect(s.consistentIndex).toBe(103);
  });

  it.each([-1, -2, -Number.MAX_SAFE_INTEGER])('refuses revision %i as compacted, as etcd does, even on a store never compacted', async (rev) => {
    const s = await openStore();
    workload(s);
    expect(() => s.compact(rev, 100)).toThrowError(expect.objectContaining({ code: 'compacted' }));
    expect(s.consistentIndex).toBe(100);
    await s.compact(0, 101).done; // etcd accepts 0 once on a fresh store
    expect(() => s.compact(rev, 102)).toThrowError(expect.objectContaining({ code: 'compacted' }));
  });

  it.each([2, 5, 9, 10, 15, 20, 21])('at %i leaves reads at and above it unchanged', async (c) => {
    const s = await openStore();
    workload(s);
    const before = readsFrom(s, c);
    const { done } = s.compact(c, 1000);
    expect(readsFrom(s, c)).toEqual(before); // index side is immediate
    await done;
    expect(readsFrom(s, c)).toEqual(before);
    if (c > 2) expect(() => s.range({ ...ALL, revision: c - 1 })).toThrowError(expect.objectContaining({ code: 'compacted' }));
  });

  it('deletes exactly the unreachable revisions from LMDB', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    workload(s);
    await s.compact(12, 1000).done;
    await s.close();
    const revs = await backendRevisions(dir);
    // Kept: the newest revision <= 12 of each live key; everything above 12.
    expect(revs.filter((r) => Number(r.split('_')[0]) <= 12)).toEqual(['10_0', '11_0', '12_0']);
    expect(revs.filter((r) => Number(r.split('_')[0]) > 12).length).toBe(21 - 12 + 1); // the txn has two changes
  });

  it('drops keys whose last generation ended at or before the compaction', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    s.put({ key: enc('gone'), value: enc('x') }, 1); // 2
    s.deleteRange({ key: enc('gone') }, 2); // 3
    s.put({ key: enc('live'), value: enc('y') }, 3); // 4
    await s.compact(3, 4).done;
    expect(s.range({ ...ALL, revision: 3 }).kvs).toEqual([]);
    await s.compact(4, 5).done;
    await s.close();
    expect(await backendRevisions(dir)).toEqual(['4_0']);
  });

  it('is resumed after a close in the middle, with the same reads', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir, compactionBatchLimit: 2 });
    workload(s);
    const reads = readsFrom(s, 15);
    const hash = s.hashKV(0);
    const done = s.compact(15, 1000).done;
    await s.close(); // stops after the first batch
    await done;
    const mid = await backendRevisions(dir);
    expect(mid.filter((r) => Number(r.split('_')[0]) <= 15).length).toBeGreaterThan(3);

    const again = track(await MvccStore.open({ dir, compactionBatchLimit: 2 }));
    expect(again.compactedRevision).toBe(15);
    expect(readsFrom(again, 15)).toEqual(reads);
    await again.whenCompacted();
    expect(again.hashKV(0)).toEqual({ ...hash, compactRevision: 15, hash: again.hashKV(0).hash });
    await again.close();
    const after = await backendRevisions(dir);
    expect(after.filter((r) => Number(r.split('_')[0]) <= 15)).toEqual(['13_0', '14_0', '15_0']);
  });

  it('never loses the newest version of a live key', async () => {
    const s = await openStore();
    workload(s);
    const live = s.range(ALL).kvs;
    await s.compact(s.currentRevision, 1000).done;
    expect(s.range(ALL).kvs).toEqual(live);
    expect(s.range({ ...ALL, revision: s.currentRevision }).kvs).toEqual(live);
  });
});
