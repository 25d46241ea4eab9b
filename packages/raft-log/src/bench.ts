/**
 * Throughput of the raft log on this machine (not a test): one member, then three members in
 * one process over the in-memory network, with a fixed number of proposals in flight. Prints
 * entries/s and entries per WAL sync. Run with `pnpm --filter @raftkv/raft-log bench` (compiled with its test harness into `.bench/`)
 * (env: BENCH_ENTRIES, BENCH_INFLIGHT).
 */
import { TestCluster, removeDir, tempDir } from './test-support/harness.js';

const entries = Number(process.env['BENCH_ENTRIES'] ?? 20_000);
const inflight = Number(process.env['BENCH_INFLIGHT'] ?? 64);

async function run(ids: bigint[], label: string): Promise<void> {
  const cluster = new TestCluster(ids, { snapshotCount: 10_000_000 });
  const dirs: string[] = [];
  for (const id of ids) {
    const d = tempDir('raftkv-raftlog-bench-');
    dirs.push(d);
    await cluster.start(id, d, { voters: ids });
  }
  await cluster.until(() => cluster.leader() !== undefined);
  const leader = cluster.leader()!;
  const syncs0 = leader.log.stats().wal.syncs;
  const data = new Uint8Array(100);
  let proposed = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const done = leader.applied.length;
      if (done >= entries) return resolve();
      while (proposed < entries && proposed - done < inflight) {
        leader.log.propose(data);
        proposed++;
      }
      setImmediate(pump);
    };
    pump();
  });
  const seconds = (performance.now() - start) / 1000;
  const syncs = leader.log.stats().wal.syncs - syncs0;
  console.log(
    `${label}: ${entries} x 100 B, ${inflight} in flight: ${(entries / seconds).toFixed(0)} entries/s, ` +
      `leader WAL syncs ${syncs} (${(entries / syncs).toFixed(1)} entries/sync)`,
  );
  await cluster.closeAll();
  for (const d of dirs) removeDir(d);
}

await run([1n], 'one member');
await run([1n, 2n, 3n], 'three members, one process');
