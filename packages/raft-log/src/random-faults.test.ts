import { afterEach, describe, expect, it } from 'vitest';
import { crashForTesting } from './raft-log.js';
import { TestCluster, removeDir, seededRandom, tempDir, type TestMember } from './test-support/harness.js';

const ids = [1n, 2n, 3n] as const;
const dirs: string[] = [];
const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.closeAll();
  for (const d of dirs.splice(0)) removeDir(d);
});

/**
 * Seeded runs of crashes (no close), restarts, partitions and proposals, with compaction on,
 * over real WALs. Whatever happens, no two members (or incarnations) apply different data at
 * one index, and once faults stop every member converges on the same applied index.
 */
describe('RaftLog under random faults', () => {
  // RAFTLOG_FAULT_SEEDS=N runs seeds 1..N (default 3).
  const seeds = Number(process.env['RAFTLOG_FAULT_SEEDS'] ?? 3);
  for (let seed = 1; seed <= seeds; seed++) {
    it(`seed ${seed}: members never disagree on an applied entry, and converge after faults stop`, async () => {
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const cluster = new TestCluster(ids, {
        snapshotCount: 15,
        snapshotCatchUpEntries: 3,
        maxSnapshots: 2,
        walOptions: { segmentSizeBytes: 4096, preallocate: false },
      });
      clusters.push(cluster);
      const dirOf = new Map<bigint, string>();
      for (const id of ids) {
        const dir = tempDir(`raftkv-raftlog-fault-${id}-`);
        dirs.push(dir);
        dirOf.set(id, dir);
        await cluster.start(id, dir, { voters: [...ids] });
      }
      const incarnations: TestMember[] = [...cluster.running];
      const down = new Set<bigint>();
      const isolated = new Set<bigint>();
      let next = 0;

      for (let step = 0; step < 60; step++) {
        const r = rnd();
        const faulty = down.size + isolated.size;
        if (r < 0.55) {
          const leader = cluster.leader();
          if (leader) {
            for (let i = 0, n = 1 + Math.floor(rnd() * 6); i < n; i++) {
              try {
                leader.log.propose(new Uint8Array(Buffer.from(`e${next++}`)));
              } catch {
                // No leader / dropped: an acceptable answer under faults.
              }
            }
          }
        } else if (r < 0.65 && faulty === 0) {
          const victim = pick(cluster.running);
          await crashForTesting(victim.log);
          cluster.remove(victim.id);
          down.add(victim.id);
        } else if (r < 0.8 && down.size > 0) {
          const id = pick([...down]);
          down.delete(id);
          incarnations.push(await cluster.start(id, dirOf.get(id)!));
        } else if (r < 0.88 && faulty === 0) {
          const id = pick(cluster.running).id;
          cluster.net.isolate(id);
          isolated.add(id);
        } else {
          for (const id of isolated) cluster.net.heal(id);
          isolated.clear();
        }
        for (let t = 0, n = Math.floor(rnd() * 4); t < n; t++) {
          cluster.tickAll();
          await cluster.settle();
        }
        await cluster.settle();
      }

      for (const id of isolated) cluster.net.heal(id);
      for (const id of down) incarnations.push(await cluster.start(id, dirOf.get(id)!));
      await cluster.until(() => cluster.leader() !== undefined, 400);
      cluster.leader()!.log.propose(new Uint8Array(Buffer.from('final')));
      await cluster.until(() => {
        const leader = cluster.leader();
        if (!leader) return false;
        const applied = leader.log.appliedIndex;
        return leader.applied.some((e) => Buffer.from(e.data).toString() === 'final')
          && cluster.running.every((m) => m.log.appliedIndex === applied);
      }, 400);

      const atIndex = new Map<number, string>();
      let observations = 0;
      for (const m of incarnations) {
        expect(m.fatal).toEqual([]);
        let prev = 0;
        for (const e of m.applied) {
          expect(e.index).toBeGreaterThan(prev); // in order, each once per incarnation
          prev = e.index;
          const data = Buffer.from(e.data).toString();
          const seen = atIndex.get(e.index);
          if (seen === undefined) atIndex.set(e.index, data);
          else expect(data).toBe(seen);
          observations++;
        }
      }
      expect(observations).toBeGreaterThan(atIndex.size); // entries were seen by several incarnations
      // Nothing ever applied (acknowledged) was lost: the converged log reaches past all of it.
      expect(cluster.leader()!.log.appliedIndex).toBeGreaterThanOrEqual(Math.max(...atIndex.keys()));
      const installs = incarnations.reduce((n, m) => n + m.snapshotsInstalled.length, 0);
      console.log(`seed ${seed}: ${next} proposed, ${atIndex.size} distinct entries applied, ${incarnations.length} incarnations, ${installs} snapshots installed`);
    });
  }
});
