import { describe, expect, test } from 'vitest';
import { ModelSource } from './test-support/model-source.js';
import { enc, evText, respText, str } from './test-support/helpers.js';
import { WatchableStore, type WatchableStoreOptions, type WatchStreamOptions } from './watchable-store.js';

function setup(opts: WatchableStoreOptions = {}, streamOpts: WatchStreamOptions = {}) {
  const src = new ModelSource();
  const hub = new WatchableStore(src, opts);
  const stream = hub.newWatchStream(streamOpts);
  const take = () => stream.drain().map(respText);
  /** Runs sync steps until nothing is left to catch up (bounded, so a bug cannot hang the test). */
  const syncAll = (maxEvents?: number) => {
    for (let i = 0; i < 1000 && hub.stats.unsynced > 0; i++) hub.syncUnsynced(maxEvents);
  };
  return { src, hub, stream, take, syncAll };
}

describe('creating watchers', () => {
  test('queues "created" with the current revision; ids are auto-assigned from 0, skipping taken ones', () => {
    const { src, stream, take } = setup();
    src.put('a', '1');
    expect(stream.watch({ key: enc('a'), watchId: 1n })).toEqual({ ok: true, watchId: 1n });
    expect(stream.watch({ key: enc('a') })).toEqual({ ok: true, watchId: 0n });
    expect(stream.watch({ key: enc('a'), watchId: 0n })).toEqual({ ok: true, watchId: 2n });
    expect(take()).toEqual(['id=1 rev=2 created', 'id=0 rev=2 created', 'id=2 rev=2 created']);
  });

  test.each([
    { name: 'duplicate id', req: { key: enc('a'), watchId: 7n }, reason: 'mvcc: duplicate watch ID provided on the WatchStream' },
    { name: 'range end equal to key', req: { key: enc('b'), rangeEnd: enc('b') }, reason: 'mvcc: watcher range is empty' },
    { name: 'range end below key', req: { key: enc('b'), rangeEnd: enc('a') }, reason: 'mvcc: watcher range is empty' },
    { name: 'negative start revision', req: { key: enc('a'), startRevision: -1 }, reason: 'raftkv: start revision must be a non-negative safe integer' },
  ])('refuses $name with created+canceled, watch id -1 and etcd\'s reason', ({ req, reason }) => {
    const { stream, take } = setup();
    stream.watch({ key: enc('x'), watchId: 7n });
    take();
    expect(stream.watch(req)).toEqual({ ok: false, cancelReason: reason });
    expect(take()).toEqual([`id=-1 rev=1 created canceled reason=${reason}`]);
    expect(stream.watcherCount).toBe(1);
  });

  test('enforces the per-stream and the store-wide watcher limits', () => {
    const { hub, stream } = setup({ maxWatchers: 3 }, { maxWatchers: 2 });
    expect(stream.watch({ key: enc('a') }).ok).toBe(true);
    expect(stream.watch({ key: enc('a') }).ok).toBe(true);
    expect(stream.watch({ key: enc('a') })).toEqual({ ok: false, cancelReason: 'raftkv: too many watchers on this watch stream' });
    const other = hub.newWatchStream();
    expect(other.watch({ key: enc('a') }).ok).toBe(true);
    expect(other.watch({ key: enc('a') })).toEqual({ ok: false, cancelReason: 'raftkv: too many watchers' });
    other.cancel(0n);
    expect(other.watch({ key: enc('a') }).ok).toBe(true);
  });
});

describe('live delivery to synced watchers', () => {
  test.each([
    { name: 'one key', key: 'b', end: undefined, want: ['b'] },
    { name: '[b, d)', key: 'b', end: 'd', want: ['b', 'c', 'cz'] },
    { name: 'from b ("\\0")', key: 'b', end: '\0', want: ['b', 'c', 'cz', 'd', 'z\xff'] },
    { name: 'everything (empty key, "\\0")', key: '', end: '\0', want: ['\0', 'a', 'b', 'c', 'cz', 'd', 'z\xff'] },
    { name: 'the empty key means "\\0"', key: '', end: undefined, want: ['\0'] },
  ])('$name', ({ key, end, want }) => {
    const { src, stream, take } = setup();
    stream.watch({ key: enc(key), ...(end !== undefined ? { rangeEnd: Buffer.from(end, 'latin1') } : {}) });
    take();
    for (const k of ['\0', 'a', 'b', 'c', 'cz', 'd', 'z\xff']) src.put(k, 'v');
    const got = stream.drain().flatMap((r) => r.events.map((e) => str(e.kv.key)));
    expect(got).toEqual(want);
  });

  test('a txn arrives as one response holding only the watched keys, in txn order', () => {
    const { src, stream, take } = setup();
    src.put('a2', 'x');
    stream.watch({ key: enc('a'), rangeEnd: enc('b') });
    stream.watch({ key: enc('a2') });
    take();
    src.txn([{ put: ['a3', '1'] }, { put: ['zz', '1'] }, { del: 'a2' }, { put: ['a1', '1'] }]);
    expect(take()).toEqual(['id=0 rev=3 [put a3@3, delete a2@3, put a1@3]', 'id=1 rev=3 [delete a2@3]']);
  });

  test('filters: noPut and noDelete drop events; a revision left empty sends nothing', () => {
    const { src, stream, take } = setup();
    stream.watch({ key: enc('k'), noPut: true });
    stream.watch({ key: enc('k'), noDelete: true });
    take();
    src.put('k', '1');
    src.del('k');
    src.txn([{ put: ['k', '2'] }]);
    expect(take()).toEqual(['id=1 rev=2 [put k@2]', 'id=0 rev=3 [delete k@3]', 'id=1 rev=4 [put k@4]']);
  });

  test('prevKv: the previous version on overwrite and delete, none on create; absent unless asked', () => {
    const { src, stream } = setup();
    stream.watch({ key: enc('k'), prevKv: true });
    stream.watch({ key: enc('k') });
    stream.drain();
    src.put('k', 'one');
    src.put('k', 'two');
    src.del('k');
    const rs = stream.drain();
    const withPrev = rs.filter((r) => r.watchId === 0n).map((r) => r.events[0]!.prevKv);
    expect(withPrev.map((p) => (p ? `${str(p.value)}@${p.modRevision}` : 'none'))).toEqual(['none', 'one@2', 'two@3']);
    const without = rs.filter((r) => r.watchId === 1n).flatMap((r) => r.events);
    expect(without).toHaveLength(3);
    for (const e of without) expect('prevKv' in e).toBe(false);
  });

  test('a future start revision skips the revisions before it', () => {
    const { src, stream, take } = setup();
    stream.watch({ key: enc('k'), startRevision: 4 });
    take();
    for (let i = 0; i < 4; i++) src.put('k', String(i));
    expect(take()).toEqual(['id=0 rev=4 [put k@4]', 'id=0 rev=5 [put k@5]']);
  });

  test('watchers on the same key or range in several streams each get their copy', () => {
    const { src, hub, stream, take } = setup();
    const other = hub.newWatchStream();
    stream.watch({ key: enc('a'), rangeEnd: enc('b') });
    other.watch({ key: enc('a'), rangeEnd: enc('b') });
    other.watch({ key: enc('ab') });
    take();
    other.drain();
    src.put('ab', '1');
    expect(take()).toEqual(['id=0 rev=2 [put ab@2]']);
    // Across watchers of one revision the order is unspecified.
    expect(other.drain().map(respText).sort()).toEqual(['id=0 rev=2 [put ab@2]', 'id=1 rev=2 [put ab@2]']);
  });
});

describe('catching up from history', () => {
  test('a past start revision replays history in one response, then goes live', () => {
    const { src, hub, stream, take } = setup();
    src.put('a', '1');
    src.put('b', '1');
    src.put('a', '2');
    stream.watch({ key: enc('a'), startRevision: 2 });
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 1 });
    expect(take()).toEqual(['id=0 rev=4 created']);
    expect(hub.syncUnsynced()).toEqual({ unsynced: 0, parked: 0, eventsRead: 3 });
    expect(hub.stats).toMatchObject({ synced: 1, unsynced: 0 });
    src.put('a', '3');
    expect(take()).toEqual(['id=0 rev=4 [put a@2, put a@4]', 'id=0 rev=5 [put a@5]']);
  });

  test('steps read at most maxEvents events (whole revisions) and move each watcher forward', () => {
    const { src, hub, stream, take, syncAll } = setup();
    for (let i = 0; i < 20; i++) src.put('k', String(i));
    src.txn(Array.from({ length: 8 }, (_, i) => ({ put: [`t${i}`, 'x'] as [string, string] })));
    stream.watch({ key: enc('k'), startRevision: 2, prevKv: true });
    stream.watch({ key: enc('t'), rangeEnd: enc('u'), startRevision: 10 });
    take();
    const first = hub.syncUnsynced(5);
    expect(first.eventsRead).toBe(5);
    expect(first.unsynced).toBe(2);
    syncAll(5);
    for (const r of src.reads) expect(r.limit).toBeLessThanOrEqual(5);
    // The 8-event txn exceeded the limit but was still read whole.
    expect(src.reads.some((r) => r.returned === 8)).toBe(true);
    const rs = stream.drain();
    const ks = rs.filter((r) => r.watchId === 0n).flatMap((r) => r.events);
    expect(ks.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(ks.slice(1).every((e) => e.prevKv !== undefined)).toBe(true);
    const ts = rs.filter((r) => r.watchId === 1n);
    expect(ts.map(respText)).toEqual(['id=1 rev=22 [' + Array.from({ length: 8 }, (_, i) => `put t${i}@22`).join(', ') + ']']);
    // Header revision of a partial catch-up response is the last revision read.
    for (const r of rs) expect(r.revision).toBeGreaterThanOrEqual(r.events.at(-1)!.kv.modRevision);
    expect(hub.stats).toMatchObject({ synced: 2, unsynced: 0 });
  });

  test('maxWatchersPerSync bounds one step; every unsynced watcher gets a turn', () => {
    const { src, hub, stream, take } = setup({ maxWatchersPerSync: 2 });
    src.put('k', '1');
    for (let i = 0; i < 5; i++) stream.watch({ key: enc('k'), startRevision: 2 });
    take();
    expect(hub.syncUnsynced().unsynced).toBe(3);
    expect(hub.syncUnsynced().unsynced).toBe(1);
    expect(hub.syncUnsynced().unsynced).toBe(0);
    expect(take().sort()).toEqual([0, 1, 2, 3, 4].map((id) => `id=${id} rev=2 [put k@2]`));
  });

  test('onSyncNeeded fires once per step while there is catch-up work', () => {
    let calls = 0;
    const { src, hub, stream } = setup({ onSyncNeeded: () => calls++ });
    for (let i = 0; i < 10; i++) src.put('k', String(i));
    stream.watch({ key: enc('k') });
    expect(calls).toBe(0);
    stream.watch({ key: enc('k'), startRevision: 2 });
    stream.watch({ key: enc('k'), startRevision: 3 });
    expect(calls).toBe(1);
    hub.syncUnsynced(3);
    expect(calls).toBe(2);
    for (let i = 0; i < 10 && hub.stats.unsynced > 0; i++) hub.syncUnsynced(3);
    const settled = calls;
    src.put('k', 'x');
    expect(calls).toBe(settled);
  });
});

describe('compaction', () => {
  test('a step that only finds compacted watchers still asks for the next step', () => {
    let calls = 0;
    const { src, hub, stream, take } = setup({ maxWatchersPerSync: 2, onSyncNeeded: () => calls++ });
    for (let i = 0; i < 5; i++) src.put('k', String(i));
    for (const start of [4, 4, 2, 2, 4]) stream.watch({ key: enc('k'), startRevision: start });
    src.compact(3);
    expect(calls).toBe(1);
    hub.syncUnsynced(); // the first two catch up
    expect(calls).toBe(2);
    hub.syncUnsynced(); // only compacted watchers: nothing read, one watcher left
    expect(calls).toBe(3);
    hub.syncUnsynced();
    expect(hub.stats).toMatchObject({ unsynced: 0, synced: 3 });
    expect(take().filter((r) => r.includes('compact=3'))).toHaveLength(2);
  });

  test('start below the compacted revision: created, then compacted+canceled; the id stays taken until cancelled', () => {
    const { src, stream, take } = setup();
    for (let i = 0; i < 5; i++) src.put('k', String(i));
    src.compact(4);
    expect(stream.watch({ key: enc('k'), startRevision: 3, watchId: 9n }).ok).toBe(true);
    expect(take()).toEqual(['id=9 rev=6 created', 'id=9 rev=0 canceled compact=4']);
    src.put('k', 'later');
    expect(take()).toEqual([]);
    expect(stream.watch({ key: enc('k'), watchId: 9n }).ok).toBe(false);
    take();
    expect(stream.cancel(9n)).toBe(true);
    expect(take()).toEqual(['id=9 rev=7 canceled']);
    expect(stream.watch({ key: enc('k'), watchId: 9n }).ok).toBe(true);
  });

  test('start at the compacted revision is served (etcd: compacted only when start < compactRev)', () => {
    const { src, hub, stream, take } = setup();
    for (let i = 0; i < 5; i++) src.put('k', String(i));
    src.compact(4);
    stream.watch({ key: enc('k'), startRevision: 4 });
    hub.syncUnsynced();
    expect(take()).toEqual(['id=0 rev=6 created', 'id=0 rev=6 [put k@4, put k@5, put k@6]']);
  });

  test('compaction overtaking a watcher mid catch-up: history so far, then compacted', () => {
    const { src, hub, stream, take } = setup();
    for (let i = 0; i < 10; i++) src.put('k', String(i));
    stream.watch({ key: enc('k'), startRevision: 2 });
    hub.syncUnsynced(3);
    src.compact(8);
    hub.syncUnsynced(3);
    expect(take()).toEqual(['id=0 rev=11 created', 'id=0 rev=4 [put k@2, put k@3, put k@4]', 'id=0 rev=0 canceled compact=8']);
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 0, parked: 0 });
  });

  test('compaction overtaking a parked watcher: compacted when it resumes', () => {
    const { src, hub, stream, take } = setup({}, { maxPendingResponses: 2 });
    stream.watch({ key: enc('k') });
    for (let i = 0; i < 6; i++) src.put('k', String(i));
    expect(hub.stats.parked).toBe(1);
    src.compact(6);
    expect(take()).toEqual(['id=0 rev=1 created', 'id=0 rev=2 [put k@2]']);
    hub.syncUnsynced();
    expect(take()).toEqual(['id=0 rev=0 canceled compact=6']);
  });
});

describe('slow consumers', () => {
  test('a full outbox parks the watcher; it resumes where it stopped: no gap, no duplicate, in order', () => {
    const { src, hub, stream } = setup({}, { maxPendingResponses: 4 });
    const fast = hub.newWatchStream();
    stream.watch({ key: enc('k') });
    fast.watch({ key: enc('k') });
    const got: string[] = [];
    const pull = (n: number) => {
      for (const r of stream.drain(n)) got.push(...r.events.map(evText));
    };
    for (let i = 0; i < 10; i++) src.put('k', String(i));
    expect(stream.pendingResponses).toBe(4);
    expect(stream.parkedCount).toBe(1);
    expect(hub.stats).toMatchObject({ parked: 1, synced: 1 });
    // The other stream is not held back.
    expect(fast.drain().flatMap((r) => r.events).length).toBe(10);
    pull(1); // 3 left: above the low-water mark, still parked
    expect(stream.parkedCount).toBe(1);
    pull(1); // 2 left: resumes as unsynced
    expect(hub.stats).toMatchObject({ parked: 0, unsynced: 1 });
    for (let i = 10; i < 13; i++) src.put('k', String(i));
    for (let i = 0; i < 100 && (hub.stats.unsynced > 0 || hub.stats.parked > 0 || stream.pendingResponses > 0); i++) {
      hub.syncUnsynced(2);
      pull(1);
    }
    src.put('k', 'last');
    pull(100);
    expect(got).toEqual(Array.from({ length: 14 }, (_, i) => `put k@${i + 2}`));
  });

  test('apply never reads history: live delivery and parking cost no eventsBetween call', () => {
    const { src, hub, stream } = setup({}, { maxPendingResponses: 2 });
    for (let i = 0; i < 50; i++) stream.watch({ key: enc('k'), rangeEnd: enc('l') });
    for (let i = 0; i < 200; i++) src.put(`k${i % 5}`, String(i));
    expect(src.reads).toEqual([]);
    expect(stream.pendingResponses).toBeLessThanOrEqual(2 + 50); // 50 "created" + at most 2 event responses
    expect(hub.stats).toMatchObject({ synced: 0, parked: 50 });
  });

  test('the outbox respects its byte limit; a single response larger than it still goes out alone', () => {
    const { src, hub, stream } = setup({}, { maxPendingBytes: 500 });
    stream.watch({ key: enc('k') });
    stream.drain();
    src.put('k', 'x'.repeat(2000));
    expect(stream.pendingResponses).toBe(1);
    src.put('k', 'small');
    expect(stream.pendingResponses).toBe(1);
    expect(hub.stats.parked).toBe(1);
    expect(stream.isFull).toBe(true);
    expect(stream.drain().map((r) => r.events[0]!.kv.modRevision)).toEqual([2]);
    hub.syncUnsynced();
    expect(stream.drain().map((r) => r.events.map((e) => e.kv.modRevision))).toEqual([[3]]);
  });

  test('catch-up into a nearly full outbox delivers the whole revisions that fit and parks at the next', () => {
    const { src, hub, stream } = setup({}, { maxPendingBytes: 400 });
    for (let i = 0; i < 6; i++) src.put('k', 'v'.repeat(40));
    stream.watch({ key: enc('k'), startRevision: 2 });
    // "created" is in the outbox, so the admission rule applies to the history.
    hub.syncUnsynced();
    const first = stream.drain();
    expect(first[0]!.created).toBe(true);
    const revs = first.slice(1).flatMap((r) => r.events.map((e) => e.kv.modRevision));
    expect(revs.length).toBeGreaterThan(0);
    expect(revs.length).toBeLessThan(6);
    expect(hub.stats.unsynced).toBe(1);
    hub.syncUnsynced();
    const rest = stream.drain().flatMap((r) => r.events.map((e) => e.kv.modRevision));
    expect([...revs, ...rest]).toEqual([2, 3, 4, 5, 6, 7]);
  });

  test('onReadable fires when the outbox becomes non-empty, once until drained', () => {
    let readable = 0;
    const { src, stream } = setup({}, { onReadable: () => readable++ });
    stream.watch({ key: enc('k') });
    expect(readable).toBe(1);
    src.put('k', '1');
    src.put('k', '2');
    expect(readable).toBe(1);
    stream.drain();
    src.put('k', '3');
    expect(readable).toBe(2);
  });

  test('fragment: a large response is split into pieces under maxResponseBytes', () => {
    const { src, stream, take } = setup({}, { maxResponseBytes: 300 });
    stream.watch({ key: enc('a'), rangeEnd: enc('b'), fragment: true });
    stream.watch({ key: enc('a'), rangeEnd: enc('b') });
    take();
    src.txn(Array.from({ length: 6 }, (_, i) => ({ put: [`a${i}`, 'v'.repeat(80)] as [string, string] })));
    const rs = stream.drain();
    const frag = rs.filter((r) => r.watchId === 0n);
    expect(frag.length).toBeGreaterThan(1);
    expect(frag.map((r) => r.fragment)).toEqual([...frag.slice(1).map(() => true), false]);
    expect(frag.flatMap((r) => r.events.map(evText))).toEqual(rs.find((r) => r.watchId === 1n)!.events.map(evText));
  });
});

describe('progress', () => {
  test('requested progress: answered at once when every watcher is synced', () => {
    const { src, stream, take } = setup();
    stream.watch({ key: enc('k') });
    src.put('x', '1');
    take();
    stream.requestProgress();
    expect(take()).toEqual(['id=-1 rev=2']);
  });

  test('requested progress waits for catching-up watchers and follows their events; repeats collapse', () => {
    const { src, hub, stream, take } = setup();
    src.put('k', '1');
    stream.watch({ key: enc('k'), startRevision: 2 });
    stream.watch({ key: enc('j') });
    take();
    stream.requestProgress();
    stream.requestProgress();
    expect(take()).toEqual([]);
    hub.syncUnsynced();
    expect(take()).toEqual(['id=0 rev=2 [put k@2]', 'id=-1 rev=2']);
  });

  test('a stream without watchers is answered at once', () => {
    const { stream, take } = setup();
    stream.requestProgress();
    expect(take()).toEqual(['id=-1 rev=1']);
  });

  test('progress_notify ticks are dropped, not queued, when the outbox is full', () => {
    const { src, hub, stream, take } = setup({}, { maxPendingResponses: 2 });
    stream.watch({ key: enc('k'), progressNotify: true });
    stream.watch({ key: enc('j') });
    take();
    src.put('j', '1');
    src.put('j', '2');
    hub.progressAll();
    expect(take()).toEqual(['id=1 rev=2 [put j@2]', 'id=1 rev=3 [put j@3]']);
    hub.progressAll();
    expect(take()).toEqual(['id=0 rev=3']);
  });

  test('progress_notify ticks: only idle, synced watchers that asked for it', () => {
    const { src, hub, stream, take } = setup();
    src.put('k', '0');
    stream.watch({ key: enc('k'), progressNotify: true });
    stream.watch({ key: enc('j'), progressNotify: true });
    stream.watch({ key: enc('i') });
    stream.watch({ key: enc('k'), progressNotify: true, startRevision: 2 });
    take();
    src.put('k', '1');
    take();
    hub.progressAll();
    // id 0 had events since the last tick (elided), id 2 did not ask, id 3 is unsynced.
    expect(take()).toEqual(['id=1 rev=3']);
    hub.progressAll();
    expect(take()).toEqual(['id=0 rev=3', 'id=1 rev=3']);
  });
});

describe('cancel and close', () => {
  test('cancel: "canceled" response, no more events; unknown id: false and nothing queued', () => {
    const { src, hub, stream, take } = setup();
    stream.watch({ key: enc('k') });
    src.put('k', '1');
    expect(stream.cancel(0n)).toBe(true);
    expect(stream.cancel(0n)).toBe(false);
    expect(stream.cancel(42n)).toBe(false);
    src.put('k', '2');
    expect(take()).toEqual(['id=0 rev=1 created', 'id=0 rev=2 [put k@2]', 'id=0 rev=2 canceled']);
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 0, parked: 0 });
  });

  test('close drops every watcher of the stream and its outbox; other streams continue', () => {
    const { src, hub, stream } = setup({}, { maxPendingResponses: 1 });
    const other = hub.newWatchStream();
    other.watch({ key: enc('k') });
    stream.watch({ key: enc('k') });
    stream.watch({ key: enc('k'), startRevision: 1 });
    src.put('k', '1');
    stream.close();
    stream.close();
    expect(stream.closed).toBe(true);
    expect(stream.pendingResponses).toBe(0);
    expect(stream.watch({ key: enc('k') }).ok).toBe(false);
    expect(hub.stats).toMatchObject({ streams: 1, synced: 1, unsynced: 0, parked: 0 });
    hub.close();
    expect(hub.stats.streams).toBe(0);
    src.put('k', '2');
    expect(other.pendingResponses).toBe(0);
  });
});

describe('restore (a new source after a snapshot install)', () => {
  test('synced watchers continue from the new source without a gap; compacted if its history starts too late', () => {
    const { src, hub, stream, take, syncAll } = setup();
    stream.watch({ key: enc('k') });
    src.put('k', '1');
    take();
    // The snapshot: a source that is further ahead, with revisions 3..5 in its history.
    const next = new ModelSource();
    next.put('k', '1');
    next.put('k', '2');
    next.put('x', '2');
    next.put('k', '3');
    hub.restore(next);
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 1 });
    syncAll();
    src.put('k', 'old source: ignored');
    next.put('k', '4');
    expect(take()).toEqual(['id=0 rev=5 [put k@3, put k@5]', 'id=0 rev=6 [put k@6]']);

    const later = new ModelSource();
    for (let i = 0; i < 8; i++) later.put('k', String(i));
    later.compact(8);
    hub.restore(later);
    syncAll();
    expect(take()).toEqual(['id=0 rev=0 canceled compact=8']);
  });
  test('a source restored in place (onRestore): synced watchers resume at their next revision; unsynced, parked and future ones keep theirs', () => {
    const { src, hub, stream, take, syncAll } = setup();
    const slow = hub.newWatchStream({ maxPendingResponses: 1 });
    stream.watch({ key: enc('k') }); // synced
    src.put('k', '1');
    stream.watch({ key: enc('k'), startRevision: 2 }); // unsynced
    stream.watch({ key: enc('k'), startRevision: 9 }); // future: waits for 9
    slow.watch({ key: enc('k') });
    src.put('k', '2');
    src.put('k', '3'); // the slow watcher parked at 3 (its outbox holds 'created'); the synced one's next is 5
    take();
    expect(hub.stats).toMatchObject({ synced: 2, unsynced: 1, parked: 1 });
    // The leader: the same first three revisions, then 4..7.
    const leader = new ModelSource();
    for (const v of ['1', '2', '3', '4', '5']) leader.put('k', v);
    leader.put('x', '6');
    leader.put('k', '7');
    src.restoreFrom(leader);
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 3, parked: 1 });
    syncAll();
    // Follower at 4 (k@2..k@4); the leader's k@5, k@6, k@8 are new; x@7 is not watched.
    expect(take()).toEqual(['id=1 rev=8 [put k@2, put k@3, put k@4, put k@5, put k@6, put k@8]', 'id=0 rev=8 [put k@5, put k@6, put k@8]']);
    expect(slow.drain().map(respText)).toEqual(['id=0 rev=2 created']);
    syncAll();
    expect(slow.drain().map(respText)).toEqual(['id=0 rev=8 [put k@3, put k@4, put k@5, put k@6, put k@8]']);
    src.put('k', '9');
    src.put('k', '10');
    const live = take();
    expect(live.filter((r) => r.startsWith('id=2'))).toEqual(['id=2 rev=9 [put k@9]', 'id=2 rev=10 [put k@10]']);
    expect(live.filter((r) => !r.startsWith('id=2')).sort()).toEqual(['id=0 rev=10 [put k@10]', 'id=0 rev=9 [put k@9]', 'id=1 rev=10 [put k@10]', 'id=1 rev=9 [put k@9]']);
  });

  test('in place with a compacted history: watchers below it get the compacted response once', () => {
    const { src, hub, stream, take, syncAll } = setup();
    stream.watch({ key: enc('k') });
    src.put('k', '1');
    take();
    const leader = new ModelSource();
    for (let i = 0; i < 6; i++) leader.put('k', String(i));
    leader.compact(5);
    src.restoreFrom(leader);
    syncAll();
    expect(take()).toEqual(['id=0 rev=0 canceled compact=5']);
    expect(hub.stats).toMatchObject({ synced: 0, unsynced: 0 });
    src.put('k', 'later');
    expect(take()).toEqual([]);
  });
});

describe('stats for metrics', () => {
  test('counts every event queued to a stream, live and caught up, once per watcher', () => {
    const { src, hub, stream, syncAll } = setup();
    src.put('a', '1');
    src.put('b', '1');
    stream.watch({ key: enc('a') });
    stream.watch({ key: enc(''), rangeEnd: enc('\0') });
    stream.watch({ key: enc('a'), startRevision: 1 }); // catches up on history: 1 event
    expect(hub.stats).toMatchObject({ streams: 1, synced: 2, unsynced: 1, eventsSent: 0 });
    syncAll();
    expect(hub.stats).toMatchObject({ synced: 3, unsynced: 0, eventsSent: 1 });
    src.put('a', '2'); // to three watchers
    src.put('c', '1'); // to one
    expect(hub.stats.eventsSent).toBe(5);
  });
});
