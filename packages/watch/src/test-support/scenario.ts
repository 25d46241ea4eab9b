import type { Event } from '@raftkv/mvcc';
import { expect } from 'vitest';
import fc from 'fast-check';
import type { WatchSource } from '../watch-source.js';
import type { WatchResponse } from '../watch-response.js';
import { WatchableStore } from '../watchable-store.js';
import type { WatchStream } from '../watch-stream.js';
import { enc, str } from './helpers.js';

/** The write side of a source under test: the model, or a real MvccStore. */
export interface Driver {
  readonly source: WatchSource;
  /**
   * Where the history every watcher must see comes from (default `source`): a leader
   * whose snapshot `restore` installs into `source`, for drivers that simulate a follower.
   */
  readonly truth?: WatchSource;
  put(key: string, value: string): void;
  del(key: string): void;
  txn(ops: Array<{ put: [string, string] } | { del: string }>): void;
  compact(revision: number): void;
  /** From now on writes and compactions reach only the leader (the follower falls behind). */
  lag?(): void;
  /** Installs the leader's state into `source` in place; writes reach both again. */
  restore?(): void;
}

const KEYS = ['a', 'aa', 'ab', 'b', 'ba', 'c'];
/** [key, rangeEnd]: one key, ranges, from-key ("\0") and everything. */
const RANGES: Array<[string, string | undefined]> = [
  ['a', undefined],
  ['ab', undefined],
  ['a', 'b'],
  ['ab', 'c'],
  ['b', '\0'],
  ['', '\0'],
  ['a', 'ab'],
];

export type Command =
  | { t: 'put'; k: string; v: string }
  | { t: 'del'; k: string }
  | { t: 'txn'; ops: Array<{ put: [string, string] } | { del: string }> }
  | { t: 'compact'; pick: number }
  | { t: 'watch'; s: number; range: number; start: 'now' | 'past' | 'future'; pick: number; noPut: boolean; noDelete: boolean; prevKv: boolean }
  | { t: 'cancel'; s: number; pick: number }
  | { t: 'drain'; s: number; n: number }
  | { t: 'sync'; maxEvents: number }
  | { t: 'progress'; s: number }
  | { t: 'lag' }
  | { t: 'restore' };

const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom('x', 'yy', 'zzz');
const stream = fc.integer({ min: 0, max: 2 });

export function commands(withCompaction: boolean, withRestore = false): fc.Arbitrary<Command[]> {
  const cmd: fc.Arbitrary<Command>[] = [
    fc.record({ t: fc.constant('put' as const), k: key, v: value }),
    fc.record({ t: fc.constant('del' as const), k: key }),
    fc.record({
      t: fc.constant('txn' as const),
      ops: fc
        .uniqueArray(fc.tuple(key, fc.boolean(), value), { selector: (o) => o[0], minLength: 1, maxLength: 4 })
        .map((os) => os.map(([k, isPut, v]) => (isPut ? { put: [k, v] as [string, string] } : { del: k }))),
    }),
    fc.record({
      t: fc.constant('watch' as const),
      s: stream,
      range: fc.integer({ min: 0, max: RANGES.length - 1 }),
      start: fc.constantFrom('now' as const, 'past' as const, 'future' as const),
      pick: fc.nat(1000),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
      prevKv: fc.boolean(),
    }),
    fc.record({ t: fc.constant('cancel' as const), s: stream, pick: fc.nat() }),
    fc.record({ t: fc.constant('drain' as const), s: stream, n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ t: fc.constant('sync' as const), maxEvents: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ t: fc.constant('progress' as const), s: stream }),
  ];
  if (withCompaction) cmd.push(fc.record({ t: fc.constant('compact' as const), pick: fc.nat(1000) }));
  if (withRestore) cmd.push(fc.record({ t: fc.constant('lag' as const) }), fc.record({ t: fc.constant('restore' as const) }));
  return fc.array(fc.oneof(...cmd), { minLength: 1, maxLength: 60 });
}

interface WatcherRecord {
  id: bigint;
  range: [string, string | undefined];
  start: number;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  created: boolean;
  canceled: boolean;
  cancelRequested: boolean;
  compactRevision: number;
  events: Event[];
  /** Revisions already seen in some response (an event revision must not span responses). */
  revisions: Set<number>;
}

function inRange(r: [string, string | undefined], k: string): boolean {
  const [lo, hi] = r;
  const from = lo === '' ? '\0' : lo;
  if (hi === undefined) return k === from;
  if (hi === '\0') return k >= from;
  return k >= from && k < hi;
}

function describe(e: Event, withPrev: boolean): string {
  const kv = e.kv;
  let s = `${e.type} ${str(kv.key)}@${kv.modRevision} c${kv.createRevision} v${kv.version} =${str(kv.value)}`;
  if (withPrev) s += e.prevKv ? ` prev=${str(e.prevKv.value)}@${e.prevKv.modRevision}` : ' prev=none';
  else if (e.prevKv) s += ' UNEXPECTED-PREV';
  return s;
}

/**
 * Runs one random scenario: writes through `driver`, watchers created at random start
 * revisions on three streams (stream 0 drained after every step, 1 and 2 only when the
 * scenario says, with outboxes of 1 to 3 responses), random sync steps and progress
 * requests. Checks as it goes (progress responses) and at the end (after draining and
 * syncing to quiescence) that every watcher got exactly the history of its range from
 * its start revision: no gap, no duplicate, in order, one revision per response, filters
 * and prevKv applied. With compaction, a watcher may instead end with a compacted
 * response, only when its next revision was below the compacted revision, and may miss
 * deletions at exactly a compacted revision (etcd's behaviour). With `lag`/`restore`
 * commands (a driver with a leader), the history is the leader's and the follower's
 * watchers must see it exactly once across snapshot installs.
 */
export function runScenario(driver: Driver, cmds: Command[], withCompaction: boolean): void {
  const src = driver.source;
  const leader = driver.truth ?? src;
  const truth: Event[][] = [];
  leader.onEvents((events, revision) => {
    truth[revision] = events;
  });
  const hub = new WatchableStore(src, { maxWatchersPerSync: 3 });
  const streams: WatchStream[] = [
    hub.newWatchStream(),
    hub.newWatchStream({ maxPendingResponses: 1 }),
    hub.newWatchStream({ maxPendingResponses: 3, maxPendingBytes: 300 }),
  ];
  const records: Array<Map<bigint, WatcherRecord>> = streams.map(() => new Map());
  const compactions: number[] = [];

  const expectedFor = (w: WatcherRecord, upTo: number): Event[] => {
    const out: Event[] = [];
    for (let r = w.start; r <= upTo; r++) {
      for (const e of truth[r] ?? []) {
        if (!inRange(w.range, str(e.kv.key))) continue;
        if (e.type === 'put' ? w.noPut : w.noDelete) continue;
        // What the watcher should see: prevKv only when it asked for it.
        out.push(w.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
      }
    }
    return out;
  };

  /** Delivered must equal expected, except deletions at compacted revisions may be missing. */
  const checkPrefix = (w: WatcherRecord, upTo: number, complete: boolean): void => {
    const want = expectedFor(w, upTo);
    const got = w.events.filter((e) => e.kv.modRevision <= upTo);
    const wantText = want.map((e) => describe(e, w.prevKv));
    const gotText = got.map((e) => describe(e, w.prevKv));
    if (!withCompaction) {
      if (complete) expect(gotText).toEqual(wantText);
      else expect(wantText.slice(0, gotText.length)).toEqual(gotText);
      return;
    }
    // With compaction: compare modulo skippable deletions and prevKv lost to compaction.
    const maxCompact = compactions.length ? Math.max(...compactions) : 0;
    const loose = (e: Event) => describe({ type: e.type, kv: e.kv }, false);
    let i = 0;
    for (const g of got) {
      while (i < want.length && loose(want[i]!) !== loose(g)) {
        expect(want[i]!.type === 'delete' && compactions.includes(want[i]!.kv.modRevision), `missing ${loose(want[i]!)}`).toBe(true);
        i++;
      }
      expect(i < want.length, `unexpected ${loose(g)}`).toBe(true);
      const exp = want[i]!;
      if (w.prevKv && exp.prevKv && !g.prevKv) expect(g.kv.modRevision - 1).toBeLessThan(maxCompact);
      else expect(describe(g, w.prevKv)).toEqual(describe(exp, w.prevKv));
      i++;
    }
    if (complete && w.compactRevision === 0) {
      for (; i < want.length; i++) {
        expect(want[i]!.type === 'delete' && compactions.includes(want[i]!.kv.modRevision), `missing ${loose(want[i]!)}`).toBe(true);
      }
    }
  };

  const consume = (s: number, resp: WatchResponse): void => {
    const recs = records[s]!;
    if (resp.watchId === -1n) {
      expect(resp.created).toBe(false);
      // A requested progress vouches for every event up to its revision on this stream.
      for (const w of recs.values()) if (w.created && !w.canceled && w.compactRevision === 0) checkPrefix(w, resp.revision, true);
      return;
    }
    const w = recs.get(resp.watchId)!;
    expect(w, `response for unknown watcher ${resp.watchId}`).toBeDefined();
    expect(w.canceled).toBe(false);
    if (resp.canceled && resp.compactRevision === 0 && !resp.created) {
      // Also after a compacted response: the id stays taken until cancelled (etcd).
      expect(w.cancelRequested).toBe(true);
      w.canceled = true;
      return;
    }
    expect(w.compactRevision).toBe(0);
    if (resp.created) {
      expect(w.created).toBe(false);
      w.created = true;
      return;
    }
    expect(w.created).toBe(true);
    if (resp.compactRevision !== 0) {
      expect(resp.canceled).toBe(true);
      expect(withCompaction).toBe(true);
      const next = w.events.length ? w.events.at(-1)!.kv.modRevision + 1 : w.start;
      expect(next).toBeLessThan(resp.compactRevision);
      w.compactRevision = resp.compactRevision;
      return;
    }
    expect(resp.events.length).toBeGreaterThan(0);
    let last = w.events.length ? w.events.at(-1)!.kv.modRevision : 0;
    const inThis = new Set<number>();
    for (const e of resp.events) {
      expect(e.kv.modRevision).toBeGreaterThanOrEqual(last);
      if (e.kv.modRevision > last) expect(w.revisions.has(e.kv.modRevision), `revision ${e.kv.modRevision} split or repeated`).toBe(false);
      last = e.kv.modRevision;
      inThis.add(last);
    }
    for (const r of inThis) w.revisions.add(r);
    expect(resp.revision).toBeGreaterThanOrEqual(last);
    w.events.push(...resp.events);
  };

  const drain = (s: number, n = Number.POSITIVE_INFINITY): void => {
    for (const r of streams[s]!.drain(n)) consume(s, r);
  };

  for (const c of cmds) {
    switch (c.t) {
      case 'put':
        driver.put(c.k, c.v);
        break;
      case 'del':
        driver.del(c.k);
        break;
      case 'txn':
        driver.txn(c.ops);
        break;
      case 'compact': {
        const cur = leader.currentRevision;
        const lo = leader.compactedRevision + 1;
        if (lo <= cur) {
          const rev = lo + (c.pick % (cur - lo + 1));
          driver.compact(rev);
          compactions.push(rev);
        }
        break;
      }
      case 'watch': {
        const cur = src.currentRevision;
        const startRevision = c.start === 'now' ? 0 : c.start === 'past' ? 1 + (c.pick % cur) : cur + 1 + (c.pick % 3);
        const [k, end] = RANGES[c.range]!;
        const res = streams[c.s]!.watch({
          key: enc(k),
          ...(end !== undefined ? { rangeEnd: enc(end) } : {}),
          startRevision,
          noPut: c.noPut,
          noDelete: c.noDelete,
          prevKv: c.prevKv,
        });
        expect(res.ok).toBe(true);
        if (!res.ok) break;
        records[c.s]!.set(res.watchId, {
          id: res.watchId,
          range: [k, end],
          start: startRevision === 0 ? cur + 1 : startRevision,
          cancelRequested: false,
          noPut: c.noPut,
          noDelete: c.noDelete,
          prevKv: c.prevKv,
          created: false,
          canceled: false,
          compactRevision: 0,
          events: [],
          revisions: new Set(),
        });
        break;
      }
      case 'cancel': {
        const live = [...records[c.s]!.values()].filter((w) => !w.cancelRequested);
        if (live.length > 0) {
          const w = live[c.pick % live.length]!;
          w.cancelRequested = true;
          expect(streams[c.s]!.cancel(w.id)).toBe(true);
        }
        break;
      }
      case 'drain':
        drain(c.s, c.n);
        break;
      case 'sync':
        hub.syncUnsynced(c.maxEvents);
        break;
      case 'progress':
        streams[c.s]!.requestProgress();
        break;
      case 'lag':
        driver.lag?.();
        break;
      case 'restore':
        driver.restore?.();
        break;
    }
    drain(0);
  }

  // Quiesce: consumers drain, the server runs sync steps, until nothing moves.
  for (let i = 0; i < 10_000; i++) {
    for (let s = 0; s < streams.length; s++) drain(s);
    const st = hub.stats;
    if (st.unsynced === 0 && st.parked === 0 && streams.every((s) => s.pendingResponses === 0)) break;
    hub.syncUnsynced(4);
  }
  expect(hub.stats.unsynced + hub.stats.parked).toBe(0);
  const cur = src.currentRevision;
  for (const recs of records) {
    for (const w of recs.values()) {
      expect(w.created).toBe(true);
      if (w.canceled) checkPrefix(w, cur, false);
      else checkPrefix(w, cur, true);
    }
  }
  hub.close();
}
