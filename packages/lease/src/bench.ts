// Lessor benchmark: `pnpm --filter @raftkv/lease bench` (builds first). Prints numbers; asserts
// nothing. The store discards writes so the figures are the lessor's own cost; the real
// server adds its LMDB writes on grant/revoke/checkpoint (renewals never touch the store).
import { Lessor } from './lessor.js';
import type { Clock, LeaseStore } from './lease-store.js';

const N = Number(process.env.LEASES ?? 100_000);
const KEYS_PER_LEASE = Number(process.env.KEYS_PER_LEASE ?? 1);

class BenchClock implements Clock {
  ms = 1_000_000;
  nowMs(): number {
    return this.ms;
  }
}

const discard: LeaseStore = {
  put() {},
  delete() {},
  loadAll: () => [],
};

const gc = (globalThis as { gc?: () => void }).gc;
function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function time(label: string, count: number, fn: () => void): void {
  const start = performance.now();
  fn();
  const ms = performance.now() - start;
  const rate = Math.round((count / ms) * 1000);
  console.log(`${label.padEnd(44)} ${String(count).padStart(8)} ops ${ms.toFixed(1).padStart(9)} ms ${String(rate).padStart(10)} /s`);
}

// A cheap deterministic PRNG so runs are comparable.
let seed = 42;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

function main(): void {
  if (!gc) console.log('(run with node --expose-gc for exact memory figures)');
  const clock = new BenchClock();
  const ids: bigint[] = [];
  for (let i = 0; i < N; i++) ids.push((BigInt(i + 1) * 0x9e3779b97f4a7c15n) & 0x7fffffffffffffffn);

  const before = heapUsed();
  const lessor = new Lessor({ clock, store: discard, minTtlSeconds: 2, checkpointIntervalMs: 60_000 });
  lessor.promote(0);
  time(`grant (primary, TTL 30..330 s)`, N, () => {
    for (const id of ids) lessor.grant(id, 30 + rand(300));
  });
  const afterLeases = heapUsed();

  const keys: Uint8Array[] = [];
  for (let i = 0; i < N * KEYS_PER_LEASE; i++) keys.push(new TextEncoder().encode(`/registry/services/endpoints/ns-${i % 97}/svc-${i}`));
  const keyBytes = keys.reduce((n, k) => n + k.length, 0);
  const beforeKeys = heapUsed();
  time(`attach (${KEYS_PER_LEASE} key/lease, avg ${Math.round(keyBytes / keys.length)} B)`, keys.length, () => {
    for (let i = 0; i < keys.length; i++) lessor.attach(ids[i % N]!, keys[i]!);
  });
  const afterKeys = heapUsed();
  const estimated = lessor.stats().estimatedBytes;

  const renewals = 5 * N;
  time('renew (random lease, clock +1 ms each 1000)', renewals, () => {
    for (let i = 0; i < renewals; i++) {
      if (i % 1000 === 0) clock.ms += 1;
      lessor.renew(ids[rand(N)]!);
    }
  });

  time('timeToLive (no keys)', N, () => {
    for (let i = 0; i < N; i++) lessor.timeToLive(ids[rand(N)]!);
  });

  clock.ms += 60_000;
  let cps = 0;
  time('checkpoints(1000) drain + applyCheckpoint', N, () => {
    for (;;) {
      const batch = lessor.checkpoints(1000);
      if (batch.length === 0) break;
      lessor.applyCheckpoint(batch);
      cps += batch.length;
    }
  });
  console.log(`  checkpoints produced: ${cps}`);

  lessor.demote();
  time(`promote (${N} leases, spread at 1000/s)`, N, () => lessor.promote(1_000));

  time('leases() list', N, () => {
    lessor.leases();
  });

  clock.ms += 400 * 1000 + 10_000_000; // everything is past expiry
  let expired = 0;
  time('expired(500) + revoke each (expiry processing)', N, () => {
    for (;;) {
      const batch = lessor.expired(500);
      if (batch.length === 0) break;
      for (const id of batch) lessor.revoke(id);
      expired += batch.length;
    }
  });
  if (expired !== N) throw new Error(`expired ${expired} of ${N}`);

  const stats = lessor.stats();
  console.log('');
  console.log(`memory: ${N} leases, no keys:     ${((afterLeases - before) / 1e6).toFixed(1)} MB  (${Math.round((afterLeases - before) / N)} B/lease)`);
  console.log(
    `memory: ${keys.length} attached keys:      ${((afterKeys - beforeKeys) / 1e6).toFixed(1)} MB  (${Math.round((afterKeys - beforeKeys) / keys.length)} B/key incl. ${Math.round(keyBytes / keys.length)} B of key)`,
  );
  console.log(
    `stats().estimatedBytes with keys:   ${(estimated / 1e6).toFixed(1)} MB vs measured ${((afterKeys - beforeKeys + afterLeases - before) / 1e6).toFixed(1)} MB`,
  );
  console.log(`stats after revoking all: ${JSON.stringify(stats)}`);
}

main();
