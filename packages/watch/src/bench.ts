/**
 * In-process benchmark of the watchable store over the real MvccStore (LMDB in a temp
 * dir). Prints numbers; asserts nothing. Run: `pnpm --filter @raftkv/watch bench`
 * (add `--expose-gc` through NODE_OPTIONS for steadier memory figures).
 *
 * Scenarios, for 10k and 100k watchers on one prefix, 100 watchers per stream:
 * - live: a steady writer puts into the prefix; every stream is drained after each
 *   write (fast consumers). Reports events delivered per second, including the put.
 * - catch-up: the same watchers created 100 revisions in the past, synced with
 *   syncUnsynced(1000) steps. Reports events per second and the longest step.
 * - slow: half the streams are never drained; reports the parked count and the heap,
 *   which must stay flat while writes continue.
 * - distinct: 100k watchers on distinct keys and ranges, each put matching two of them:
 *   the cost of the hash map and interval tree lookups on the apply path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MvccStore } from '@raftkv/mvcc';
import { WatchableStore, type WatchStream } from './index.js';

const enc = (s: string): Uint8Array => Buffer.from(s);
const gc = (globalThis as { gc?: () => void }).gc;

function heapMiB(): number {
  gc?.();
  return process.memoryUsage().heapUsed / (1 << 20);
}

async function withStore<T>(fn: (store: MvccStore, next: () => number) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'watch-bench-'));
  const store = await MvccStore.open({ dir });
  let index = 0;
  try {
    return await fn(store, () => ++index);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const VALUE = enc('x'.repeat(100));
const PER_STREAM = 100;

function makeStreams(hub: WatchableStore, watchers: number, startRevision: number): WatchStream[] {
  const streams: WatchStream[] = [];
  for (let i = 0; i < watchers / PER_STREAM; i++) {
    const s = hub.newWatchStream();
    for (let j = 0; j < PER_STREAM; j++) s.watch({ key: enc('bench/'), rangeEnd: enc('bench0'), startRevision });
    s.drain();
    streams.push(s);
  }
  return streams;
}

async function live(watchers: number, writes: number): Promise<void> {
  await withStore(async (store, next) => {
    const hub = new WatchableStore(store);
    const before = heapMiB();
    const t0 = performance.now();
    const streams = makeStreams(hub, watchers, 0);
    const createMs = performance.now() - t0;
    const perWatcher = ((heapMiB() - before) * (1 << 20)) / watchers;
    let delivered = 0;
    let worstMs = 0;
    const t1 = performance.now();
    for (let i = 0; i < writes; i++) {
      const w0 = performance.now();
      store.put({ key: enc(`bench/k${i % 1000}`), value: VALUE }, next());
      for (const s of streams) for (const r of s.drain()) delivered += r.events.length;
      worstMs = Math.max(worstMs, performance.now() - w0);
      if (i % 100 === 99) await store.commit();
    }
    const secs = (performance.now() - t1) / 1000;
    console.log(
      `live      watchers=${watchers} writes=${writes}: ${Math.round(delivered / secs).toLocaleString('en')} events/s delivered, ` +
        `${((secs * 1000) / writes).toFixed(2)} ms/write (apply+fan-out+drain), worst ${worstMs.toFixed(1)} ms; ` +
        `create ${Math.round(watchers / (createMs / 1000)).toLocaleString('en')} watchers/s, ~${Math.round(perWatcher)} B/watcher`,
    );
    hub.close();
  });
}

async function catchUp(watchers: number, behind: number): Promise<void> {
  await withStore(async (store, next) => {
    for (let i = 0; i < behind; i++) store.put({ key: enc(`bench/k${i % 1000}`), value: VALUE }, next());
    await store.commit();
    const hub = new WatchableStore(store);
    const streams = makeStreams(hub, watchers, store.currentRevision - behind + 1);
    let delivered = 0;
    let steps = 0;
    let worstMs = 0;
    const t0 = performance.now();
    while (hub.stats.unsynced > 0) {
      const s0 = performance.now();
      hub.syncUnsynced(1000);
      worstMs = Math.max(worstMs, performance.now() - s0);
      steps++;
      for (const s of streams) for (const r of s.drain()) delivered += r.events.length;
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `catch-up  watchers=${watchers} behind=${behind} revisions: ${Math.round(delivered / secs).toLocaleString('en')} events/s, ` +
        `${steps} steps, longest step ${worstMs.toFixed(1)} ms, all synced: ${hub.stats.synced === watchers}`,
    );
    hub.close();
  });
}

async function slow(watchers: number, writes: number): Promise<void> {
  await withStore(async (store, next) => {
    const hub = new WatchableStore(store);
    const streams = makeStreams(hub, watchers, 0);
    const fast = streams.filter((_, i) => i % 2 === 0);
    const heaps: number[] = [];
    for (let i = 0; i < writes; i++) {
      store.put({ key: enc(`bench/k${i % 1000}`), value: VALUE }, next());
      for (const s of fast) s.drain();
      if (i % 100 === 99) {
        await store.commit();
        heaps.push(Math.round(heapMiB()));
      }
    }
    const pending = streams.reduce((n, s) => n + s.pendingResponses, 0);
    console.log(
      `slow      watchers=${watchers} (half never drained) writes=${writes}: parked=${hub.stats.parked}, ` +
        `queued responses=${pending.toLocaleString('en')}, heap MiB every 100 writes: ${heaps.join(' ')}`,
    );
    hub.close();
  });
}

/**
 * 100k watchers on distinct keys and distinct ranges, each put matching two of them: the
 * cost of the hash map and interval tree lookups on the apply path. The same puts
 * without watchers run first, in the same process, as the baseline.
 */
async function distinct(watchers: number, writes: number): Promise<void> {
  const name = (i: number) => `d/${i.toString(36).padStart(4, '0')}`;
  const run = (withWatchers: boolean) =>
    withStore(async (store, next) => {
      const hub = new WatchableStore(store);
      const keys = hub.newWatchStream({ maxPendingResponses: 1 << 20, maxPendingBytes: 1 << 30 });
      const ranges = hub.newWatchStream({ maxPendingResponses: 1 << 20, maxPendingBytes: 1 << 30 });
      for (let i = 0; withWatchers && i < watchers / 2; i++) {
        keys.watch({ key: enc(name(i)) });
        ranges.watch({ key: enc(name(i)), rangeEnd: enc(`${name(i)}~`) });
      }
      keys.drain();
      ranges.drain();
      let delivered = 0;
      const t0 = performance.now();
      for (let i = 0; i < writes; i++) {
        store.put({ key: enc(name((i * 7919) % (watchers / 2))), value: VALUE }, next());
        delivered += keys.drain().length + ranges.drain().length;
        if (i % 1000 === 999) await store.commit();
      }
      hub.close();
      return { putsPerSec: Math.round(writes / ((performance.now() - t0) / 1000)), delivered };
    });
  const base = await run(false);
  const withW = await run(true);
  console.log(
    `distinct  watchers=${watchers} (half single keys, half distinct ranges) writes=${writes}: ` +
      `${withW.putsPerSec.toLocaleString('en')} puts/s incl. matching and ${withW.delivered} responses; ` +
      `without watchers ${base.putsPerSec.toLocaleString('en')} puts/s`,
  );
}

console.log(`node ${process.version}, gc ${gc ? 'exposed' : 'not exposed (heap figures are noisy)'}`);
await live(10_000, 300);
await live(100_000, 30);
await catchUp(10_000, 100);
await catchUp(100_000, 100);
await slow(10_000, 2000);
await distinct(100_000, 20_000);
