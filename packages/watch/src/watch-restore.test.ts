import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MvccStore, type Event } from '@raftkv/mvcc';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { enc, str } from './test-support/helpers.js';
import type { WatchResponse } from './watch-response.js';
import type { WatchCreateRequest, WatchStream } from './watch-stream.js';
import { WatchableStore } from './watchable-store.js';

/**
 * A follower's WatchableStore over a real MvccStore that installs a leader's snapshot in
 * place (MvccStore.restore): both stores apply the same raft log, the follower lags, so
 * revisions agree, and the leader's own event stream is the truth every watcher on the
 * follower must see exactly once, in order.
 */

const dirs: string[] = [];
const stores: MvccStore[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'watch-restore-'));
  dirs.push(d);
  return d;
}

async function open(): Promise<MvccStore> {
  const s = await MvccStore.open({ dir: tempDir() });
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Raft log entry `i` as a write: puts, a ranged delete every 7th, a two-key txn every 11th. */
function applyEntry(s: MvccStore, i: number): void {
  const k = enc(`k${i % 5}`);
  if (i % 7 === 0) s.deleteRange({ key: enc(`k${i % 5}`), rangeEnd: enc(`k${(i % 5) + 2}`) }, i);
  else if (i % 11 === 0) {
    s.txn({ compare: [], success: [{ put: { key: k, value: enc(`t${i}`) } }, { put: { key: enc(`j${i % 3}`), value: enc(`t${i}`) } }], failure: [] }, i);
  } else s.put({ key: k, value: enc(`v${i}`) }, i);
}

function applyLog(from: number, to: number, ...to_: MvccStore[]): void {
  for (let i = from; i <= to; i++) for (const s of to_) applyEntry(s, i);
}

/** One watcher under test: its request, where it starts, what it received. */
interface Tracked {
  stream: number;
  id: bigint;
  req: WatchCreateRequest;
  start: number;
  events: Event[];
  compactRevision: number;
  /** Revisions seen per response, to catch a revision split over two responses. */
  responses: number[][];
}

class Harness {
  readonly truth: Event[][] = [];
  readonly hub: WatchableStore;
  readonly streams: WatchStream[];
  readonly watchers: Tracked[] = [];

  constructor(
    leader: MvccStore,
    private readonly follower: MvccStore,
  ) {
    leader.onEvents((events, revision) => {
      this.truth[revision] = events;
    });
    this.hub = new WatchableStore(follower, { maxWatchersPerSync: 2 });
    // Stream 0 is drained often; stream 1 has a one-response outbox, so its watchers park.
    this.streams = [this.hub.newWatchStream(), this.hub.newWatchStream({ maxPendingResponses: 1 })];
  }

  watch(stream: number, req: WatchCreateRequest): Tracked {
    const res = this.streams[stream]!.watch(req);
    if (!res.ok) throw new Error(res.cancelReason);
    const start = !req.startRevision ? this.follower.currentRevision + 1 : req.startRevision;
    const t: Tracked = { stream, id: res.watchId, req, start, events: [], compactRevision: 0, responses: [] };
    this.watchers.push(t);
    return t;
  }

  drain(stream: number): void {
    for (const r of this.streams[stream]!.drain()) this.consume(stream, r);
  }

  private consume(stream: number, r: WatchResponse): void {
    if (r.created || r.watchId === -1n) return;
    const t = this.watchers.find((w) => w.stream === stream && w.id === r.watchId)!;
    expect(t.compactRevision, 'response after the compacted cancel').toBe(0);
    if (r.compactRevision) {
      expect(r.canceled).toBe(true);
      t.compactRevision = r.compactRevision;
      return;
    }
    t.events.push(...r.events);
    t.responses.push([...new Set(r.events.map((e) => e.kv.modRevision))]);
  }

  /** Drains and runs catch-up steps until nothing moves (bounded). */
  settle(): void {
    for (let i = 0; i < 1000; i++) {
      this.drain(0);
      this.drain(1);
      const st = this.hub.stats;
      if (st.unsynced === 0 && st.parked === 0 && this.streams.every((s) => s.pendingResponses === 0)) return;
      this.hub.syncUnsynced(5);
    }
    throw new Error('watchers did not settle');
  }

  /** The leader's history of `t`'s range from its start to `upTo`, filtered as it asked. */
  expectedEvents(t: Tracked, upTo: number): Event[] {
    const key = str(t.req.key);
    const end = t.req.rangeEnd ? str(t.req.rangeEnd) : undefined;
    const out: Event[] = [];
    for (let r = t.start; r <= upTo; r++) {
      for (const e of this.truth[r] ?? []) {
        const k = str(e.kv.key);
        if (end === undefined ? k !== key : k < key || (end !== '\0' && k >= end)) continue; // "\0": no upper bound
        if (e.type === 'put' ? t.req.noPut : t.req.noDelete) continue;
        out.push(t.req.prevKv ? e : { type: e.type, kv: e.kv });
      }
    }
    return out;
  }

  expected(t: Tracked, upTo: number): string[] {
    return this.expectedEvents(t, upTo).map((e) => text(e, t.req.prevKv === true));
  }

  got(t: Tracked): string[] {
    // A revision in two responses would be a duplicate or a torn txn.
    const revs = t.responses.flat();
    expect(new Set(revs).size, `revision repeated across responses of watcher ${t.id}`).toBe(revs.length);
    return t.events.map((e) => text(e, t.req.prevKv === true));
  }
}

function text(e: Event, withPrev: boolean): string {
  let s = `${e.type} ${str(e.kv.key)}@${e.kv.modRevision} =${str(e.kv.value)}`;
  if (withPrev) s += e.prevKv ? ` prev=${str(e.prevKv.value)}@${e.prevKv.modRevision}` : '';
  else if (e.prevKv) s += ' UNEXPECTED-PREV';
  return s;
}

async function snapshotOf(s: MvccStore): Promise<string> {
  const path = join(tempDir(), 'snap.mdb');
  await s.snapshotTo(path);
  return path;
}

const prefix = (p: string, extra: Partial<WatchCreateRequest> = {}): WatchCreateRequest => ({
  key: enc(p),
  rangeEnd: enc(String.fromCharCode(p.charCodeAt(0) + 1)),
  ...extra,
});

describe('watchers across an in-place restore of the real MvccStore', () => {
  test('a snapshot with more history: every watcher gets each revision exactly once, in order', async () => {
    const leader = await open();
    const follower = await open();
    const h = new Harness(leader, follower);
    applyLog(1, 10, leader, follower);
    applyLog(11, 40, leader); // the follower falls behind
    const snapRev = leader.currentRevision;

    const synced = h.watch(0, prefix('k'));
    const past = h.watch(0, { key: enc('k1'), startRevision: 3, prevKv: true });
    const future = h.watch(0, prefix('k', { startRevision: snapRev + 3 }));
    const all = h.watch(0, { key: enc('\0'), rangeEnd: enc('\0'), startRevision: 2, noPut: true });
    const slow = h.watch(1, prefix('k', { prevKv: true }));
    for (let i = 11; i <= 15; i++) {
      applyLog(i, i, follower);
      h.drain(0);
    }
    expect(h.hub.stats.parked).toBe(1);
    expect(follower.currentRevision).toBeLessThan(snapRev);
    const late = h.watch(0, { key: enc('j0'), prevKv: true });
    h.hub.syncUnsynced(4); // `past` and `all` part-way through their catch-up
    h.drain(0);

    await follower.restore(await snapshotOf(leader));
    expect(follower.currentRevision).toBe(snapRev);
    applyLog(41, 50, leader, follower);
    h.settle();

    const cur = leader.currentRevision;
    for (const t of [synced, past, future, all, slow, late]) {
      expect(t.compactRevision).toBe(0);
      expect(h.got(t), `watcher ${t.stream}/${t.id}`).toEqual(h.expected(t, cur));
    }
    expect(h.got(future).length).toBeGreaterThan(0);
    expect(future.events[0]!.kv.modRevision).toBeGreaterThanOrEqual(snapRev + 3);
  });

  test('a compacted snapshot: watchers below its compaction get the compacted cancel, the others their history', async () => {
    const leader = await open();
    const follower = await open();
    const h = new Harness(leader, follower);
    applyLog(1, 12, leader, follower);
    applyLog(13, 50, leader);
    const compactAt = leader.currentRevision - 10;
    await leader.compact(compactAt, 51).done;
    applyLog(52, 55, leader);

    const synced = h.watch(0, prefix('k'));
    const parked = h.watch(1, prefix('k'));
    const behind = h.watch(0, { key: enc('k2'), startRevision: 2 });
    const atCompaction = h.watch(0, prefix('k', { startRevision: compactAt, prevKv: true }));
    const aboveCompaction = h.watch(0, prefix('j', { startRevision: compactAt + 2 }));
    applyLog(13, 15, follower);
    h.drain(0);
    expect(h.hub.stats.parked).toBe(1);
    const syncedBefore = h.got(synced);

    await follower.restore(await snapshotOf(leader));
    expect(follower.compactedRevision).toBe(compactAt);
    applyLog(56, 60, leader, follower);
    h.settle();

    const cur = leader.currentRevision;
    for (const t of [synced, parked, behind]) {
      expect(t.compactRevision, `watcher ${t.stream}/${t.id}`).toBe(compactAt);
      // What came before the cancel is the start of its history, nothing after.
      const got = h.got(t);
      expect(got).toEqual(h.expected(t, cur).slice(0, got.length));
    }
    expect(h.got(synced)).toEqual(syncedBefore);
    expect(h.got(behind)).toEqual([]);
    // At the compacted revision itself history is served, as for any compaction (only a
    // deletion exactly there is gone, and that revision here is a put).
    for (const t of [atCompaction, aboveCompaction]) {
      expect(t.compactRevision).toBe(0);
      expect(h.got(t), `watcher ${t.stream}/${t.id}`).toEqual(h.expected(t, cur));
    }
    expect(h.truth[compactAt]!.every((e) => e.type === 'put')).toBe(true);
    expect(h.got(atCompaction).length).toBeGreaterThan(0);
  });

  test('an older snapshot (lower revision): watchers ahead of it wait, re-applied revisions are not delivered twice', async () => {
    const follower = await open();
    const h = new Harness(follower, follower);
    applyLog(1, 20, follower);
    const older = await snapshotOf(follower);
    const olderRev = follower.currentRevision;
    applyLog(21, 30, follower);
    const beforeRev = follower.currentRevision;

    const synced = h.watch(0, prefix('k', { prevKv: true }));
    const unsynced = h.watch(0, prefix('k', { startRevision: olderRev + 4 }));
    const old = h.watch(0, prefix('k', { startRevision: 2 }));
    h.drain(0);

    const record = [...h.truth];
    await follower.restore(older);
    expect(follower.currentRevision).toBe(olderRev);
    h.settle();
    expect(h.got(synced)).toEqual([]);
    expect(h.got(unsynced)).toEqual([]);
    // The raft log is replayed from the snapshot's index: the same revisions again.
    applyLog(21, 40, follower);
    h.settle();
    for (let r = olderRev + 1; r <= beforeRev; r++) {
      expect(h.truth[r]!.map((e) => text(e, true))).toEqual(record[r]!.map((e) => text(e, true)));
    }

    const cur = follower.currentRevision;
    expect(synced.events[0]!.kv.modRevision).toBe(beforeRev + 1);
    for (const t of [synced, unsynced, old]) {
      expect(h.got(t), `watcher ${t.stream}/${t.id}`).toEqual(h.expected(t, cur));
    }
  });
});

/**
 * `got` against `want` where compaction at `compactAt` may have removed what etcd's
 * compaction removes: deletions at exactly `compactAt`, and prevKv of events whose
 * previous revision is below it. `complete`: nothing else may be missing at the end.
 */
function expectLooseMatch(got: Event[], want: Event[], compactAt: number, prevKv: boolean, complete: boolean): void {
  const bare = (e: Event) => text({ type: e.type, kv: e.kv }, false);
  const droppable = (e: Event) => e.type === 'delete' && e.kv.modRevision === compactAt;
  let i = 0;
  for (const g of got) {
    while (i < want.length && bare(want[i]!) !== bare(g)) {
      expect(droppable(want[i]!), `missing ${bare(want[i]!)}`).toBe(true);
      i++;
    }
    expect(i < want.length, `unexpected ${bare(g)}`).toBe(true);
    const w = want[i]!;
    if (!prevKv) expect(g.prevKv).toBeUndefined();
    else if (g.prevKv) expect(text(g, true)).toBe(text(w, true));
    else expect(w.prevKv === undefined || g.kv.modRevision - 1 < compactAt, `prevKv lost on ${bare(g)}`).toBe(true);
    i++;
  }
  if (complete) for (; i < want.length; i++) expect(droppable(want[i]!), `missing ${bare(want[i]!)}`).toBe(true);
}

const RANGES: Array<[string, string | undefined]> = [
  ['k1', undefined],
  ['k', 'l'],
  ['j', 'k'],
  ['\0', '\0'],
  ['k2', 'k4'],
];

const scenario = fc.record({
  common: fc.integer({ min: 1, max: 20 }),
  leaderAhead: fc.integer({ min: 0, max: 30 }),
  followerAhead: fc.integer({ min: 0, max: 10 }),
  compactPick: fc.option(fc.nat(1000)),
  leaderAfterCompaction: fc.integer({ min: 0, max: 4 }),
  after: fc.integer({ min: 0, max: 8 }),
  syncSteps: fc.integer({ min: 0, max: 3 }),
  watchers: fc.array(
    fc.record({
      early: fc.boolean(),
      stream: fc.integer({ min: 0, max: 1 }),
      range: fc.integer({ min: 0, max: RANGES.length - 1 }),
      start: fc.constantFrom('now' as const, 'past' as const, 'future' as const),
      pick: fc.nat(1000),
      prevKv: fc.boolean(),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});

describe('watchers across in-place restores, randomised (fast-check, real stores)', () => {
  test('lag points, watchers of every kind, an optional compaction in the snapshot: exactly-once or compacted', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (p) => {
        const leader = await MvccStore.open({ dir: tempDir() });
        const follower = await MvccStore.open({ dir: tempDir() });
        try {
          const h = new Harness(leader, follower);
          applyLog(1, p.common, leader, follower);
          let index = p.common;
          applyLog(index + 1, index + p.leaderAhead, leader);
          const followerTo = index + Math.min(p.followerAhead, p.leaderAhead);
          index += p.leaderAhead;
          let compactAt = 0;
          if (p.compactPick !== null && leader.currentRevision > 1) {
            compactAt = 1 + (p.compactPick % leader.currentRevision);
            await leader.compact(compactAt, ++index).done;
            applyLog(index + 1, index + p.leaderAfterCompaction, leader);
            index += p.leaderAfterCompaction;
          }
          const watch = (w: (typeof p.watchers)[number]) => {
            const cur = follower.currentRevision;
            const startRevision = w.start === 'now' ? 0 : w.start === 'past' ? 1 + (w.pick % cur) : cur + 1 + (w.pick % 40);
            const [key, end] = RANGES[w.range]!;
            h.watch(w.stream, { key: enc(key), ...(end ? { rangeEnd: enc(end) } : {}), startRevision, prevKv: w.prevKv, noPut: w.noPut, noDelete: w.noDelete });
          };
          for (const w of p.watchers) if (w.early) watch(w);
          for (let i = p.common + 1; i <= followerTo; i++) {
            applyLog(i, i, follower);
            h.drain(0);
          }
          for (const w of p.watchers) if (!w.early) watch(w);
          for (let i = 0; i < p.syncSteps; i++) h.hub.syncUnsynced(3);
          h.drain(0);

          await follower.restore(await snapshotOf(leader));
          applyLog(index + 1, index + p.after, leader, follower);
          h.settle();

          const cur = leader.currentRevision;
          expect(follower.currentRevision).toBe(cur);
          for (const t of h.watchers) {
            h.got(t); // no revision repeated across responses
            const want = h.expectedEvents(t, cur);
            if (t.compactRevision !== 0) {
              expect(t.compactRevision).toBe(compactAt);
              const next = t.events.length > 0 ? t.events.at(-1)!.kv.modRevision + 1 : t.start;
              expect(next).toBeLessThan(compactAt);
              expectLooseMatch(t.events, want, compactAt, t.req.prevKv === true, false);
            } else {
              expectLooseMatch(t.events, want, compactAt, t.req.prevKv === true, true);
            }
          }
          h.hub.close();
        } finally {
          await follower.close();
          await leader.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
