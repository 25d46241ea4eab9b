/**
 * Append benchmark: N concurrent appenders of 100-byte entries, each awaiting its own
 * append before issuing the next (as raft proposals waiting for durability do).
 * Prints appends/s, p50/p99 append latency and fdatasyncs/s per concurrency level.
 *
 *   node dist/bench.js            # 1, 16, 128 appenders, 3 s each
 *   BENCH_SECONDS=10 BENCH_CONCURRENCY=1,64 BENCH_SEGMENT_BYTES=1048576 node dist/bench.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { crc32c } from '@raftkv/checksum';
import { Wal } from './wal.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const levels = (process.env.BENCH_CONCURRENCY ?? '1,16,128').split(',').map(Number);
const ENTRY_BYTES = 100;
const segmentSizeBytes = process.env.BENCH_SEGMENT_BYTES ? Number(process.env.BENCH_SEGMENT_BYTES) : undefined;

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function run(concurrency: number): Promise<void> {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'raftkv-wal-bench-'));
  try {
    const wal = await Wal.create(join(root, 'wal'), new Uint8Array(16), segmentSizeBytes ? { segmentSizeBytes } : {});
    const data = new Uint8Array(ENTRY_BYTES).fill(7);
    const latencies: number[] = [];
    let index = 0;
    const syncs0 = wal.stats.syncs;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await wal.append([{ type: 'entry', term: 1, index: ++index, data }]);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const syncs = wal.stats.syncs - syncs0;
    await wal.close();
    const sorted = Float64Array.from(latencies).sort();
    console.log(
      [
        `appenders=${String(concurrency).padStart(3)}`,
        `appends/s=${Math.round(latencies.length / elapsed)}`,
        `p50=${quantile(sorted, 0.5).toFixed(2)}ms`,
        `p99=${quantile(sorted, 0.99).toFixed(2)}ms`,
        `syncs/s=${Math.round(syncs / elapsed)}`,
        `appends/sync=${(latencies.length / Math.max(1, syncs)).toFixed(1)}`,
        `segments cut=${wal.stats.segmentsCut}`,
      ].join('  '),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Time to open (read, verify, replay) a log of 100-byte entries: bounds restart time. */
async function replay(totalEntries: number): Promise<void> {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'raftkv-wal-bench-'));
  try {
    const dir = join(root, 'wal');
    const wal = await Wal.create(dir, new Uint8Array(16), segmentSizeBytes ? { segmentSizeBytes } : {});
    const data = new Uint8Array(ENTRY_BYTES).fill(7);
    for (let i = 0; i < totalEntries; ) {
      const batch = [];
      for (let j = 0; j < 10_000 && i < totalEntries; j++) batch.push({ type: 'entry' as const, term: 1, index: ++i, data });
      await wal.append(batch);
    }
    const bytes = wal.stats.bytesWritten;
    await wal.close();
    const t0 = performance.now();
    const { wal: again, replay } = await Wal.open(dir, segmentSizeBytes ? { segmentSizeBytes } : {});
    const s = (performance.now() - t0) / 1000;
    await again.close();
    if (replay.entries.length !== totalEntries) throw new Error('replay lost entries');
    console.log(
      `replay: ${totalEntries} entries (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${(s * 1000).toFixed(0)} ms = ` +
        `${Math.round(totalEntries / s)} entries/s, ${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function crcSpeed(): void {
  const buf = new Uint8Array(16 * 2 ** 20).fill(0xa5);
  crc32c(buf);
  const t0 = performance.now();
  let c = 0;
  for (let i = 0; i < 8; i++) c = crc32c(buf, c);
  const s = (performance.now() - t0) / 1000;
  console.log(`crc32c: ${((8 * buf.length) / 2 ** 20 / s).toFixed(0)} MiB/s`);
}

console.log(`wal append bench: ${ENTRY_BYTES}-byte entries, ${seconds}s per level, dir ${process.env.BENCH_DIR ?? tmpdir()}`);
for (const c of levels) await run(c);
crcSpeed();
await replay(Number(process.env.BENCH_REPLAY_ENTRIES ?? 500_000));
