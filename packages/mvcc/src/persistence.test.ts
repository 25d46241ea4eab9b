import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MvccStore } from './kvstore.js';
import type { RangeResponse } from './kv.js';
import { enc, openStore, tempDir, track } from './test-support/helpers.js';
import { history, observe } from './test-support/history.js';

describe('restart', () => {
  it('recovers exactly what was committed', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    let i = history(s, 1, 60);
    await s.compact(20, i++).done;
    i = history(s, i, 30);
    await s.commit();
    const before = observe(s);
    await s.close();
    const again = track(await MvccStore.open({ dir }));
    expect(observe(again)).toEqual(before);
    // And keeps going with the same revisions as a store that never restarted.
    again.put({ key: enc('after'), value: enc('x') }, i);
    expect(again.currentRevision).toBe(before.current + 1);
  });

  it('after a crash holds exactly the last commit and its consistent index', async () => {
    const dir = tempDir();
    const s = await openStore({ dir });
    history(s, 1, 10);
    await s.commit();
    const committed = observe(s);
    history(s, 11, 10); // applied, not committed
    // A copy of the file now is what a crash would leave behind.
    const crashDir = tempDir();
    copyFileSync(join(dir, 'data.mdb'), join(crashDir, 'data.mdb'));
    const crashed = track(await MvccStore.open({ dir: crashDir }));
    expect(observe(crashed)).toEqual(committed);
    // Replaying the log above the consistent index converges to the same state.
    history(crashed, 1, 10); // all at or below the consistent index: no-ops
    history(crashed, 11, 10);
    expect(crashed.hash()).toBe(s.hash());
    expect(crashed.currentRevision).toBe(s.currentRevision);
  });

  it('reads stay correct while a commit is in flight', async () => {
    const s = await openStore();
    history(s, 1, 30);
    const expected = observe(s);
    const p = s.commit();
    expect(observe(s)).toEqual(expected);
    history(s, 31, 5);
    const next = s.commit();
    await p;
    await next;
    const kvsOnly = (rs: RangeResponse[]) => rs.map((r) => r.kvs);
    expect(kvsOnly(observe(s).reads.slice(0, expected.reads.length))).toEqual(kvsOnly(expected.reads));
  });
});

describe('snapshot', () => {
  it('restores a consistent copy into another directory', async () => {
    const s = await openStore();
    let i = history(s, 1, 40);
    await s.compact(10, i++).done;
    history(s, i, 5); // uncommitted: snapshotTo commits first
    const snap = join(tempDir(), 'snap.mdb');
    await s.snapshotTo(snap);
    const target = tempDir();
    await MvccStore.restoreFrom(snap, target);
    const restored = track(await MvccStore.open({ dir: target }));
    expect(observe(restored)).toEqual(observe(s));
  });

  it('taken during a compaction, restores and finishes it', async () => {
    const s = await openStore({ compactionBatchLimit: 2 });
    let i = history(s, 1, 60);
    const { done } = s.compact(40, i++);
    const snap = join(tempDir(), 'mid.mdb');
    await s.snapshotTo(snap);
    await done;
    const target = tempDir();
    await MvccStore.restoreFrom(snap, target);
    const restored = track(await MvccStore.open({ dir: target }));
    expect(restored.compactedRevision).toBe(40);
    await restored.whenCompacted();
    expect(observe(restored)).toEqual(observe(s));
  });

  it('replaces an existing backend', async () => {
    const a = await openStore();
    history(a, 1, 10);
    const snap = join(tempDir(), 'a.mdb');
    await a.snapshotTo(snap);
    const dir = tempDir();
    const b = await MvccStore.open({ dir });
    history(b, 1, 25);
    await b.close();
    await MvccStore.restoreFrom(snap, dir);
    const restored = track(await MvccStore.open({ dir }));
    expect(observe(restored)).toEqual(observe(a));
  });
});

describe('sizes', () => {
  it('reports the file size and a smaller in-use size', async () => {
    const s = await openStore();
    history(s, 1, 200);
    await s.commit();
    expect(s.dbSizeBytes()).toBeGreaterThan(0);
    expect(s.dbSizeInUseBytes()).toBeGreaterThan(0);
    expect(s.dbSizeInUseBytes()).toBeLessThanOrEqual(s.dbSizeBytes());
  });
});
