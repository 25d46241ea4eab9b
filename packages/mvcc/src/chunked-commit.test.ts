import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { encodeKeyValue } from './key-value.js';
import { MvccStore } from './kvstore.js';
import { encodeRevision } from './revision.js';
import { enc, openStore, tempDir, track } from './test-support/helpers.js';
import { history, observe } from './test-support/history.js';

// A commit of more entries than fit in one LMDB transaction is written in several, keeping each
// short; only the last moves the mark of the last whole commit (with the consistent index), so
// what a crash leaves of an unfinished one is ignored and dropped, never loaded.

const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

/** Writes, as an interrupted commit would have, `subs` entries of revision `main` straight into LMDB. */
async function leaveUnfinishedCommit(dir: string, main: number, subs: number): Promise<void> {
  const env = openLmdb({ path: dir, noSubdir: false, maxDbs: 8 });
  const keyDb = env.openDB<Buffer, Buffer>({ name: 'key', keyEncoding: 'binary', encoding: 'binary' });
  await env.transaction(() => {
    for (let sub = 0; sub < subs; sub++) {
      const kv = { key: enc(`ghost/${sub}`), createRevision: main, modRevision: main, version: 1, value: enc('x'), lease: 0n };
      keyDb.put(Buffer.from(encodeRevision({ main, sub })), Buffer.from(encodeKeyValue(kv)));
    }
  });
  await env.close();
}

describe('a commit in several LMDB transactions', () => {
  it('stores what one transaction would, and reads stay right between its transactions', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir, commitEntriesPerTxn: 3 });
    history(s, 1, 40);
    s.txn({ compare: [], success: Array.from({ length: 50 }, (_, i) => ({ put: { key: enc(`big/${i}`), value: enc(`${i}`) } })), failure: [] }, 41);
    const want = observe(s);
    let done = false;
    let turns = 0;
    const committing = s.commit().then(() => {
      done = true;
    });
    while (!done) {
      expect(observe(s)).toEqual(want);
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    await committing;
    expect(turns).toBeGreaterThan(1);
    await s.close();
    const reopened = track(await MvccStore.open({ dir }));
    expect(observe(reopened)).toEqual(want);
    expect(reopened.consistentIndex).toBe(41);
  });

  it('a commit asked for during one never moves the mark past entries not yet written', async () => {
    const s = await openStore({ commitEntriesPerTxn: 2 });
    history(s, 1, 10);
    await s.commit();
    const n = 40;
    s.txn({ compare: [], success: Array.from({ length: n }, (_, i) => ({ put: { key: enc(`big/${i}`), value: enc('v') } })), failure: [] }, 11);
    const bigRev = s.currentRevision;
    const first = s.commit();
    s.put({ key: enc('small'), value: enc('s') }, 12);
    let done = false;
    const both = Promise.all([first, s.commit()]).then(() => {
      done = true;
    });
    const backend = (s as unknown as { backend: { committedRevisionMark(): number | undefined; durableEntries(): Iterable<{ rev: { main: number } }> } }).backend;
    // Counted as they go by: durableEntries changes one object at each step.
    const lmdbEntriesAt = (main: number) => {
      let n = 0;
      for (const e of backend.durableEntries()) if (e.rev.main === main) n++;
      return n;
    };
    while (!done) {
      // Whenever the mark covers the big write, all of it is in LMDB.
      if ((backend.committedRevisionMark() ?? 0) >= bigRev) expect(lmdbEntriesAt(bigRev)).toBe(n);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await both;
    expect(lmdbEntriesAt(bigRev)).toBe(n);
  });

  it('what an interrupted one left is ignored and deleted on open', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir, commitEntriesPerTxn: 3 });
    history(s, 1, 30);
    s.txn({ compare: [], success: Array.from({ length: 10 }, (_, i) => ({ put: { key: enc(`big/${i}`), value: enc('v') } })), failure: [] }, 31);
    await s.commit();
    const committed = observe(s);
    const next = s.currentRevision + 1;
    await s.close();
    // A crash in the middle of the next commit: part of revision `next` is in LMDB, the mark is not.
    await leaveUnfinishedCommit(dir, next, 6);
    const reopened = track(await MvccStore.open({ dir }));
    expect(observe(reopened)).toEqual(committed);
    // The replay writes revision `next` again, smaller this time: no leftover sub may survive.
    reopened.put({ key: enc('replayed'), value: enc('r') }, 32);
    await reopened.commit();
    const after = observe(reopened);
    await reopened.close();
    const again = track(await MvccStore.open({ dir }));
    expect(observe(again)).toEqual(after);
    expect(again.range({ key: enc('ghost/'), rangeEnd: enc('ghost0') }).count).toBe(0);
  });

  it('a snapshot copied during one restores to the last whole commit', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir, commitEntriesPerTxn: 3 });
    history(s, 1, 30);
    await s.commit();
    const committed = observe(s);
    const next = s.currentRevision + 1;
    await s.close();
    await leaveUnfinishedCommit(dir, next, 6);
    const snapshot = join(tempDir(), 'snap.mdb');
    copyFileSync(join(dir, 'data.mdb'), snapshot);
    const target = await openStore();
    await target.restore(snapshot);
    expect(observe(target)).toEqual(committed);
    expect(target.range(ALL).kvs.some((kv) => Buffer.from(kv.key).toString().startsWith('ghost/'))).toBe(false);
  });
});
