import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MvccStore, type Event } from '@raftkv/mvcc';
import { afterEach, describe, expect, test } from 'vitest';
import { enc, evText, respText, str } from './test-support/helpers.js';
import { WatchableStore } from './watchable-store.js';

const dirs: string[] = [];
const stores: MvccStore[] = [];

async function open(): Promise<MvccStore> {
  const dir = mkdtempSync(join(tmpdir(), 'watch-mvcc-'));
  dirs.push(dir);
  const s = await MvccStore.open({ dir });
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('WatchableStore over the real MvccStore', () => {
  test('catches up 3000 revisions from LMDB in bounded steps, with prevKv, then goes live', async () => {
    const store = await open();
    let index = 0;
    for (let i = 0; i < 3000; i++) store.put({ key: enc(`k${i % 7}`), value: enc(`v${i}`) }, ++index);
    await store.commit();
    const hub = new WatchableStore(store);
    const stream = hub.newWatchStream({ maxPendingResponses: 100_000, maxPendingBytes: 1 << 30 });
    stream.watch({ key: enc('k'), rangeEnd: enc('l'), startRevision: 2, prevKv: true });
    const steps: number[] = [];
    for (let i = 0; i < 100 && hub.stats.unsynced > 0; i++) steps.push(hub.syncUnsynced(1000).eventsRead);
    expect(steps).toEqual([1000, 1000, 1000]);
    store.put({ key: enc('k0'), value: enc('live') }, ++index);
    const events = stream.drain().flatMap((r) => r.events);
    expect(events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 3001 }, (_, i) => i + 2));
    // Each event's prevKv is the key's previous version (none for the first put of a key).
    const last = new Map<string, string>();
    for (const e of events) {
      const k = str(e.kv.key);
      expect(e.prevKv ? str(e.prevKv.value) : undefined).toBe(last.get(k));
      last.set(k, str(e.kv.value));
    }
  });

  test('the store reads previous values only while a synced watcher asks for prev_kv', async () => {
    const store = await open();
    let index = 0;
    const put = (v: string) => store.put({ key: enc('k'), value: enc(v) }, ++index);
    put('v0');
    const hub = new WatchableStore(store);
    // A listener that never asks for prevKv sees the same event objects the hub gets.
    const seen: Event[] = [];
    store.onEvents((events) => seen.push(...events), { wantsPrevKv: () => false });
    const stream = hub.newWatchStream();
    stream.watch({ key: enc('k') });
    put('v1');
    expect(seen.at(-1)!.prevKv).toBeUndefined();
    stream.watch({ key: enc('k'), prevKv: true });
    put('v2');
    expect(str(seen.at(-1)!.prevKv!.value)).toBe('v1');
    const delivered = stream.drain().flatMap((r) => r.events.map((e) => `${r.watchId}:${str(e.kv.value)}<${e.prevKv ? str(e.prevKv.value) : '-'}`));
    expect(delivered).toEqual(['0:v1<-', '0:v2<-', '1:v2<v1']);
    expect(stream.cancel(1n)).toBe(true);
    put('v3');
    expect(seen.at(-1)!.prevKv).toBeUndefined();
  });

  test('a txn of the real store arrives as one response; a delete range as one revision', async () => {
    const store = await open();
    const hub = new WatchableStore(store);
    const stream = hub.newWatchStream();
    stream.watch({ key: enc('a'), rangeEnd: enc('\0') });
    store.txn(
      {
        compare: [],
        success: [{ put: { key: enc('a1'), value: enc('1') } }, { put: { key: enc('a2'), value: enc('2') } }],
        failure: [],
      },
      1,
    );
    store.deleteRange({ key: enc('a'), rangeEnd: enc('b') }, 2);
    expect(stream.drain().map(respText)).toEqual([
      'id=0 rev=1 created',
      'id=0 rev=2 [put a1@2, put a2@2]',
      'id=0 rev=3 [delete a1@3, delete a2@3]',
    ]);
  });

  test('compaction by the real store: compacted below it, served at it', async () => {
    const store = await open();
    for (let i = 1; i <= 6; i++) store.put({ key: enc('k'), value: enc(`v${i}`) }, i);
    store.compact(5, 7);
    const hub = new WatchableStore(store);
    const stream = hub.newWatchStream();
    stream.watch({ key: enc('k'), startRevision: 4 });
    stream.watch({ key: enc('k'), startRevision: 5 });
    hub.syncUnsynced();
    expect(stream.drain().map(respText)).toEqual([
      'id=0 rev=7 created',
      'id=0 rev=0 canceled compact=5',
      'id=1 rev=7 created',
      'id=1 rev=7 [put k@5, put k@6, put k@7]',
    ]);
    await store.whenCompacted();
  });

  test('a parked watcher resumes from LMDB after the writes were committed', async () => {
    const store = await open();
    const hub = new WatchableStore(store);
    const stream = hub.newWatchStream({ maxPendingResponses: 2 });
    stream.watch({ key: enc('k') });
    for (let i = 1; i <= 50; i++) store.put({ key: enc('k'), value: enc(`v${i}`) }, i);
    await store.commit();
    expect(hub.stats.parked).toBe(1);
    const got: string[] = [];
    for (let i = 0; i < 200 && (hub.stats.parked > 0 || hub.stats.unsynced > 0 || stream.pendingResponses > 0); i++) {
      for (const r of stream.drain()) got.push(...r.events.map(evText));
      hub.syncUnsynced(7);
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `put k@${i + 2}`));
  });
});
