import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { MvccError } from './errors.js';
import type { Event } from './kv.js';
import { MvccStore } from './kvstore.js';
import { dec, enc, openStore, tempDir, track } from './test-support/helpers.js';
import { history, observe } from './test-support/history.js';

/** A snapshot file of `s` (made by snapshotTo, as a leader makes it). */
async function snapshotOf(s: MvccStore): Promise<string> {
  const path = join(tempDir(), 'snap.mdb');
  await s.snapshotTo(path);
  return path;
}

/** What a store freshly opened on the snapshot shows: the reference for an in-place restore. */
async function freshView(snap: string, settle = true): Promise<ReturnType<typeof observe>> {
  const dir = tempDir();
  await MvccStore.restoreFrom(snap, dir);
  const s = track(await MvccStore.open({ dir }));
  if (settle) await s.whenCompacted();
  return observe(s);
}

const records = (s: MvccStore, bucket: string) => [...s.bucket(bucket).loadAll()].map((r) => `${dec(r.key)}=${dec(r.value)}`);

/** Files of `dir` this process holds open or mapped, as the kernel names them (Linux). */
function heldFiles(dir: string): string[] {
  const fds = readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return []; // closed while listing
    }
  });
  const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/).slice(5).join(' '));
  return [...fds, ...maps].filter((p) => p.startsWith(dir));
}

describe('restore in place', () => {
  it('takes the state of a source with more history, compaction and later writes: equal to a fresh open', async () => {
    const source = await openStore();
    let i = history(source, 1, 80);
    await source.compact(30, i++).done;
    i = history(source, i, 25);
    source.bucket('lease').put(enc('7'), enc('source lease'));
    const snap = await snapshotOf(source);

    const target = await openStore();
    history(target, 1, 12);
    target.bucket('lease').put(enc('1'), enc('target lease'));
    await target.commit();
    await target.restore(snap);

    const want = await freshView(snap);
    expect(observe(target)).toEqual(want);
    expect(target.consistentIndex).toBe(i - 1);
    expect(target.compactedRevision).toBe(30);
    expect(records(target, 'lease')).toEqual(['7=source lease']);
    // The snapshot file is left for the caller.
    expect(existsSync(snap)).toBe(true);
  });

  it('rebuilds the index in steps when paced, serving reads of the old state between them, to the same result', async () => {
    const source = await openStore();
    let i = history(source, 1, 80);
    await source.compact(30, i++).done;
    history(source, i, 25);
    const snap = await snapshotOf(source);

    const target = await openStore();
    history(target, 1, 12);
    await target.commit();
    const before = observe(target);
    let pauses = 0;
    const seenBetween: unknown[] = [];
    await target.restore(snap, {
      entriesPerStep: 10,
      pause: async () => {
        pauses++;
        seenBetween.push(observe(target));
        await new Promise<void>((resolve) => setImmediate(resolve));
      },
    });
    expect(pauses).toBeGreaterThan(5);
    for (const seen of seenBetween) expect(seen).toEqual(before);
    expect(observe(target)).toEqual(await freshView(snap));
  });

  it('accepts a snapshot with a lower consistent index (an older state of the same store)', async () => {
    const s = await openStore();
    let i = history(s, 1, 20);
    const older = await snapshotOf(s);
    const olderView = observe(s);
    i = history(s, i, 40);
    await s.compact(s.currentRevision - 5, i++).done;
    await s.commit();
    expect(s.consistentIndex).toBeGreaterThan(olderView.ci);

    await s.restore(older);
    expect(observe(s)).toEqual(olderView);
    expect(observe(s)).toEqual(await freshView(older));
  });

  it('keeps going after a restore: the next write takes the snapshot\'s next revision; commit and reopen keep it', async () => {
    const source = await openStore();
    const i = history(source, 1, 30);
    const snap = await snapshotOf(source);

    const dir = tempDir();
    const target = await MvccStore.open({ dir });
    history(target, 1, 50);
    await target.restore(snap);
    const r = target.put({ key: enc('after'), value: enc('x') }, i);
    expect(r.revision).toBe(source.currentRevision + 1);
    const mirror = source.put({ key: enc('after'), value: enc('x') }, i);
    expect(mirror.revision).toBe(r.revision);
    await target.commit();
    expect(target.hash()).toBe(source.hash());
    await target.close();

    const reopened = track(await MvccStore.open({ dir }));
    expect(observe(reopened)).toEqual(observe(source));
  });

  it('discards writes applied before the restore and not committed', async () => {
    const source = await openStore();
    history(source, 1, 10);
    const snap = await snapshotOf(source);
    const target = await openStore();
    history(target, 1, 10);
    await target.commit();
    target.put({ key: enc('uncommitted'), value: enc('x') }, 500);
    target.bucket('lease').put(enc('u'), enc('staged'));
    await target.restore(snap);
    expect(target.range({ key: enc('uncommitted') }).kvs).toEqual([]);
    await target.commit();
    expect(records(target, 'lease')).toEqual([]);
    expect(observe(target)).toEqual(observe(source));
  });

  it('resumes a compaction the snapshot had scheduled and not finished', async () => {
    const source = await openStore({ compactionBatchLimit: 2 });
    const i = history(source, 1, 60);
    const { done } = source.compact(40, i);
    const snap = await snapshotOf(source); // taken after the first batch, before the rest
    await done;

    const target = await openStore();
    history(target, 1, 5);
    await target.restore(snap);
    expect(target.compactedRevision).toBe(40);
    await target.whenCompacted();
    expect(observe(target)).toEqual(observe(source));
    expect(observe(target)).toEqual(await freshView(snap));
    // The backend was compacted too: the oldest revisions are gone from LMDB.
    expect(() => target.range({ key: enc('key/0'), revision: 39 })).toThrow(MvccError);
  });

  it('stops a compaction running on the replaced state and is not disturbed by it', async () => {
    const source = await openStore();
    history(source, 1, 30);
    const snap = await snapshotOf(source);

    const target = await openStore({ compactionBatchLimit: 1 });
    const i = history(target, 1, 300);
    await target.commit();
    const { done } = target.compact(250, i);
    const restored = target.restore(snap);
    await restored;
    await done; // stopped at a batch boundary, not failed
    await target.whenCompacted();
    expect(observe(target)).toEqual(observe(source));
  });
});

describe('restore keeps what was obtained from the store', () => {
  it('buckets obtained before read the snapshot\'s records and write to the new backend', async () => {
    const source = await openStore();
    source.bucket('lease').put(enc('a'), enc('from snapshot'));
    source.bucket('lease').put(enc('b'), enc('from snapshot'));
    history(source, 1, 3);
    const snap = await snapshotOf(source);

    const dir = tempDir();
    const target = await MvccStore.open({ dir });
    const leases = target.bucket('lease');
    const other = target.bucket('other');
    leases.put(enc('z'), enc('old'));
    other.put(enc('z'), enc('old'));
    await target.commit();
    expect(records(target, 'lease')).toEqual(['z=old']);

    await target.restore(snap);
    expect([...leases.loadAll()].map((r) => `${dec(r.key)}=${dec(r.value)}`)).toEqual(['a=from snapshot', 'b=from snapshot']);
    expect([...other.loadAll()]).toEqual([]);
    leases.delete(enc('a'));
    leases.put(enc('c'), enc('after restore'));
    target.setConsistentIndex(target.consistentIndex + 1);
    await target.commit();
    await target.close();
    const reopened = track(await MvccStore.open({ dir }));
    expect(records(reopened, 'lease')).toEqual(['b=from snapshot', 'c=after restore']);
  });

  it('event listeners stay registered; the restore itself emits no event; onRestore runs once, after the swap', async () => {
    const source = await openStore();
    const i = history(source, 1, 40);
    const snap = await snapshotOf(source);

    const target = await openStore();
    const seen: Array<{ revision: number; events: Event[] }> = [];
    target.onEvents((events, revision) => seen.push({ revision, events }));
    history(target, 1, 3);
    expect(seen.map((e) => e.revision)).toEqual([2, 3, 4]);
    seen.length = 0;

    const calls: Array<{ current: number; ci: number; leases: string[] }> = [];
    const off = target.onRestore(() => {
      // Runs with the new state in place and writes allowed (the lessor reloads here).
      calls.push({ current: target.currentRevision, ci: target.consistentIndex, leases: records(target, 'lease') });
      target.bucket('lease').put(enc('from-listener'), enc('1'));
    });
    await target.restore(snap);
    expect(seen).toEqual([]);
    expect(calls).toEqual([{ current: source.currentRevision, ci: source.consistentIndex, leases: [] }]);

    target.put({ key: enc('key/1'), value: enc('live') }, i);
    expect(seen.map((e) => e.revision)).toEqual([source.currentRevision + 1]);
    // prevKv comes from the restored history.
    expect(dec(seen[0]!.events[0]!.prevKv!.value)).toBe(dec(source.range({ key: enc('key/1') }).kvs[0]!.value));

    off();
    await target.restore(snap);
    expect(calls).toHaveLength(1);
  });
});

describe('while a restore runs', () => {
  it('reads see the old state, writes are refused, commit/flushed/close wait for it, a second restore is refused', async () => {
    const source = await openStore();
    history(source, 1, 20);
    const snap = await snapshotOf(source);

    const target = await openStore();
    const i = history(target, 1, 7);
    await target.commit();
    const before = observe(target);
    const p = target.restore(snap);
    expect(observe(target)).toEqual(before);
    const closed = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof MvccError && err.code === 'closed';
      }
      return false;
    };
    expect(closed(() => target.put({ key: enc('x'), value: enc('y') }, i))).toBe(true);
    expect(closed(() => target.txn({ compare: [], success: [], failure: [] }, i))).toBe(true);
    expect(closed(() => target.deleteRange({ key: enc('key/1') }, i))).toBe(true);
    expect(closed(() => target.compact(3, i))).toBe(true);
    expect(closed(() => target.setConsistentIndex(i))).toBe(true);
    expect(closed(() => target.bucket('lease').put(enc('a'), enc('b')))).toBe(true);
    await expect(target.restore(snap)).rejects.toThrow(/already running/);
    // They resolve once the snapshot's state is installed (possibly before restore's own
    // promise, which still closes the old environment), and act on the new backend.
    const seenAt: number[] = [];
    const committed = target.commit().then(() => seenAt.push(target.consistentIndex));
    const flushed = target.flushed().then(() => seenAt.push(target.consistentIndex));
    await p;
    await committed;
    await flushed;
    expect(seenAt).toEqual([source.consistentIndex, source.consistentIndex]);
    expect(observe(target)).toEqual(observe(source));
    // close waits too, and then closes for good.
    const again = target.restore(snap);
    await target.close();
    await again;
    expect(() => target.range({ key: enc('a') })).toThrow(MvccError);
  });
});

describe('a bad snapshot file', () => {
  async function bad(make: (path: string) => void | Promise<void>): Promise<void> {
    const dir = tempDir();
    const target = await MvccStore.open({ dir });
    track(target);
    const i = history(target, 1, 15);
    target.bucket('lease').put(enc('k'), enc('v'));
    await target.commit();
    history(target, i, 3); // applied, not committed: survives a failed restore
    const before = observe(target);
    let calls = 0;
    target.onRestore(() => calls++);
    const path = join(tempDir(), 'bad.mdb');
    await make(path);
    await expect(target.restore(path)).rejects.toThrow();
    expect(calls).toBe(0);
    expect(observe(target)).toEqual(before);
    expect(records(target, 'lease')).toEqual(['k=v']);
    // Still writable and durable; the copy was cleaned up.
    target.put({ key: enc('after'), value: enc('1') }, i + 3);
    await target.commit();
    expect(readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb']);
  }

  it.each([
    { name: 'missing', make: () => undefined },
    { name: 'empty', make: (p: string) => writeFileSync(p, '') },
    { name: 'not LMDB', make: (p: string) => writeFileSync(p, Buffer.alloc(20_000, 7)) },
    { name: 'one page of LMDB', make: (p: string, good: string) => writeFileSync(p, readFileSync(good).subarray(0, 4096)) },
    {
      name: 'truncated',
      make: async (p: string, good: string) => {
        await copyFile(good, p);
        truncateSync(p, 3 * 4096);
      },
    },
    {
      name: 'LMDB without a consistent index',
      make: async (p: string) => {
        const env = openLmdb({ path: p, noSubdir: true });
        await env.openDB({ name: 'meta', encoding: 'binary', keyEncoding: 'binary' }).put(Buffer.from('x'), Buffer.from('y'));
        await env.close();
        rmSync(`${p}-lock`);
      },
    },
  ])('is refused when $name, before the store is touched', async ({ make }) => {
    const s = await openStore();
    history(s, 1, 200);
    const good = await snapshotOf(s);
    expect(statSync(good).size).toBeGreaterThan(3 * 4096);
    await bad((p) => make(p, good));
  });
});

describe('LMDB reopen in the same process', () => {
  it('leaves no descriptor or map of the replaced file after many restores', async () => {
    const a = await openStore();
    history(a, 1, 50);
    const snapA = await snapshotOf(a);
    const b = await openStore();
    history(b, 1, 90);
    const snapB = await snapshotOf(b);

    const dir = tempDir();
    const target = track(await MvccStore.open({ dir }));
    history(target, 1, 10);
    await target.commit();
    const baseline = process.platform === 'linux' ? heldFiles(dir).length : 0;
    for (let n = 0; n < 20; n++) {
      await target.restore(n % 2 === 0 ? snapA : snapB);
      target.range({ key: enc('key/1') });
    }
    expect(observe(target)).toEqual(observe(b));
    if (process.platform === 'linux') {
      const held = heldFiles(dir);
      expect(held.filter((f) => f.endsWith('(deleted)'))).toEqual([]);
      expect(held.length).toBe(baseline);
    }
  });
});
