// Prints throughput figures for the store; never asserts on time (machines are shared).
// Run with `pnpm --filter @raftkv/mvcc bench` after a build.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MvccStore } from './kvstore.js';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const enc = (s: string): Uint8Array => Buffer.from(s);

function report(name: string, ops: number, ms: number): void {
  console.log(`${name.padEnd(44)} ${String(Math.round((ops / ms) * 1000)).padStart(9)} ops/s  (${ops} in ${ms.toFixed(1)} ms)`);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-bench-'));
  const keys = Number(process.env.BENCH_KEYS ?? 100_000);
  const value = new Uint8Array(100).fill(0x61);
  let index = 1;
  let store = await MvccStore.open({ dir });
  try {
    // Warm up the JIT on a few thousand puts first.
    for (let i = 0; i < 5000; i++) store.put({ key: enc(`warm/${i}`), value }, index++);
    await store.commit();

    let t = nowMs();
    for (let i = 0; i < keys; i++) store.put({ key: enc(`key/${String(i).padStart(8, '0')}`), value }, index++);
    report('put, new keys, applied in memory', keys, nowMs() - t);
    t = nowMs();
    await store.commit();
    report(`commit of ${keys} puts (one LMDB txn)`, keys, nowMs() - t);

    t = nowMs();
    for (let i = 0; i < keys; i++) store.put({ key: enc(`key/${String(i).padStart(8, '0')}`), value }, index++);
    report('put, existing keys, applied in memory', keys, nowMs() - t);
    await store.commit();

    const commitMs: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 1000; i++) store.put({ key: enc(`key/${String((round * 1000 + i) % keys).padStart(8, '0')}`), value }, index++);
      t = nowMs();
      await store.commit();
      commitMs.push(nowMs() - t);
    }
    console.log(`${'commit of 1000 puts, 50 rounds'.padEnd(44)} p50 ${percentile(commitMs, 50).toFixed(2)} ms, p99 ${percentile(commitMs, 99).toFixed(2)} ms`);

    const gets = 100_000;
    t = nowMs();
    for (let i = 0; i < gets; i++) store.range({ key: enc(`key/${String((i * 7919) % keys).padStart(8, '0')}`) });
    report('range single key (from LMDB)', gets, nowMs() - t);

    t = nowMs();
    const ranges = 2000;
    for (let i = 0; i < ranges; i++) {
      const start = (i * 7919) % (keys - 100);
      store.range({ key: enc(`key/${String(start).padStart(8, '0')}`), rangeEnd: enc(`key/${String(start + 100).padStart(8, '0')}`) });
    }
    report('range of 100 keys', ranges, nowMs() - t);

    t = nowMs();
    const txns = 50_000;
    for (let i = 0; i < txns; i++) {
      const k = enc(`key/${String(i % keys).padStart(8, '0')}`);
      store.txn({ compare: [{ key: k, target: 'version', result: 'greater', version: 0 }], success: [{ put: { key: k, value } }], failure: [] }, index++);
    }
    report('txn (compare version + put)', txns, nowMs() - t);
    await store.commit();

    t = nowMs();
    await store.compact(store.currentRevision - 1000, index++).done;
    report('compact (index + backend), revisions', store.currentRevision, nowMs() - t);

    t = nowMs();
    store.hashKV(0);
    console.log(`${'hashKV'.padEnd(44)} ${(nowMs() - t).toFixed(1)} ms`);

    await store.close();
    t = nowMs();
    store = await MvccStore.open({ dir });
    console.log(`${`reopen (index rebuild, ${keys} keys)`.padEnd(44)} ${(nowMs() - t).toFixed(1)} ms`);
    console.log(`${'db size / in use'.padEnd(44)} ${(store.dbSizeBytes() / 1e6).toFixed(1)} MB / ${(store.dbSizeInUseBytes() / 1e6).toFixed(1)} MB`);

    // A follower installing this store's snapshot in place (raft snapshot catch-up).
    const snap = join(dir, 'snap.mdb');
    t = nowMs();
    await store.snapshotTo(snap);
    console.log(`${'snapshotTo'.padEnd(44)} ${(nowMs() - t).toFixed(1)} ms`);
    const follower = await MvccStore.open({ dir: join(dir, 'follower') });
    try {
      for (let i = 0; i < 1000; i++) follower.put({ key: enc(`old/${i}`), value }, i + 1);
      await follower.commit();
      t = nowMs();
      await follower.restore(snap);
      console.log(`${`restore in place (${keys} keys)`.padEnd(44)} ${(nowMs() - t).toFixed(1)} ms`);
      if (follower.hash() !== store.hash()) throw new Error('restored hash differs');
    } finally {
      await follower.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
