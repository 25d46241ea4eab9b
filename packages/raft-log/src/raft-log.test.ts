import { EtcdErrors } from '@raftkv/api';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSnapshot } from '@raftkv/raft';
import { SnapshotStore, Wal } from '@raftkv/wal';
import { afterEach, describe, expect, it } from 'vitest';
import { crashForTesting } from './raft-log.js';
import { RaftLogErrors } from './proposal-errors.js';
import { TestCluster, removeDir, tempDir, type TestMember } from './test-support/harness.js';
import { SyncGate } from './test-support/sync-gate.js';

const dirs: string[] = [];
const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.closeAll();
  for (const d of dirs.splice(0)) removeDir(d);
});

function single(): { cluster: TestCluster; dir: string } {
  const dir = tempDir('raftkv-raftlog-');
  dirs.push(dir);
  const cluster = new TestCluster([1n], {});
  clusters.push(cluster);
  return { cluster, dir };
}

const text = (m: TestMember): string[] => m.applied.map((e) => Buffer.from(e.data).toString());
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

describe('RaftLog, one member', () => {
  it('bootstraps, leads at term 2 at once, and applies proposals in order after they are durable', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    expect(m.log.status()).toMatchObject({ isLeader: true, term: 2, lead: 1n });
    expect(m.log.term).toBe(2);
    expect(m.confChanges).toEqual([1]); // the bootstrap ConfChange at index 1

    for (let i = 0; i < 20; i++) m.log.propose(bytes(`p${i}`));
    expect(m.applied).toHaveLength(0); // nothing applied before the WAL sync
    await cluster.settle();
    // Index 2 is the new leader's empty entry: counted as applied, never handed to apply.
    expect(m.applied.map((e) => [e.index, e.term])).toEqual(Array.from({ length: 20 }, (_, i) => [i + 3, 2]));
    expect(text(m)).toEqual(Array.from({ length: 20 }, (_, i) => `p${i}`));
    expect(m.log.commitIndex).toBe(22);
    expect(m.log.appliedIndex).toBe(22);
  });

  it('replays the same committed sequence after a restart, then continues after it at a higher term', async () => {
    const { cluster, dir } = single();
    const first = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    for (let i = 0; i < 30; i++) {
      first.log.propose(bytes(`a${i}`));
      if (i % 7 === 0) await cluster.settle(); // several Readies, several WAL appends
    }
    await cluster.settle();
    const before = first.applied.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]);
    await first.log.close();
    cluster.remove(1n);

    // No voters on restart: membership comes back from the log.
    const second = await cluster.start(1n, dir);
    await cluster.settle();
    expect(second.confChanges).toEqual([1]); // re-applied from the log
    expect(second.applied.map((e) => [e.index, e.term, Buffer.from(e.data).toString()])).toEqual(before);
    expect(second.log.status()).toMatchObject({ isLeader: true, term: 3 });

    second.log.propose(bytes('after'));
    await cluster.settle();
    const last = second.applied[second.applied.length - 1]!;
    expect(Buffer.from(last.data).toString()).toBe('after');
    // After the entries of term 2 and the term-3 leader's empty entry.
    expect(last.index).toBe(before[before.length - 1]![0] as number + 2);
    expect(last.term).toBe(3);
  });

  it('keeps every proposal whose apply callback fired when the process dies without close', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    const acknowledged: string[] = [];
    let crash: Promise<void> | undefined;
    // Crash from inside apply once 25 entries were acknowledged, with more proposals in flight.
    const origApply = m.applied.push.bind(m.applied);
    m.applied.push = (...entries) => {
      for (const e of entries) acknowledged.push(Buffer.from(e.data).toString());
      if (acknowledged.length >= 25 && !crash) crash = crashForTesting(m.log);
      return origApply(...entries);
    };
    let n = 0;
    while (!crash) {
      for (let j = 0; j < 4; j++) m.log.propose(bytes(`c${n++}`));
      await new Promise<void>((r) => setImmediate(r));
    }
    await crash;
    cluster.remove(1n);
    expect(n).toBeGreaterThan(acknowledged.length); // some proposals were still in flight

    const again = await cluster.start(1n, dir);
    await cluster.settle();
    const recovered = text(again);
    expect(recovered.slice(0, acknowledged.length)).toEqual(acknowledged);
    // Whatever else was recovered is a contiguous continuation of what was proposed.
    expect(recovered).toEqual(Array.from({ length: recovered.length }, (_, i) => `c${i}`));
    expect(again.log.status().isLeader).toBe(true);
  });

  it('fsyncs once per Ready that carries entries, not once per entry (group commit)', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    const before = m.log.stats();
    const syncs0 = before.wal.syncs;
    for (let i = 0; i < 200; i++) m.log.propose(bytes(`g${i}`)); // one event-loop turn
    await cluster.settle();
    const after = m.log.stats();
    expect(m.applied).toHaveLength(200);
    expect(after.persistedEntries - before.persistedEntries).toBe(200);
    // One Ready persists the 200 entries; the commit index rides the next sync or waits.
    expect(after.syncedReadies - before.syncedReadies).toBe(1);
    expect(after.wal.syncs - syncs0).toBe(after.syncedReadies - before.syncedReadies);

    // Proposals arriving while a sync is in flight ride the next one.
    const mid = m.log.stats();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) m.log.propose(bytes(`h${round}-${i}`));
      await new Promise<void>((r) => setImmediate(r));
    }
    await cluster.settle();
    const end = m.log.stats();
    expect(m.applied).toHaveLength(400);
    const syncs = end.wal.syncs - mid.wal.syncs;
    expect(syncs).toBe(end.syncedReadies - mid.syncedReadies);
    expect(syncs).toBeLessThanOrEqual(20);
    console.log(`group commit: 200 entries in ${syncs} WAL syncs (${(200 / syncs).toFixed(1)} entries/sync)`);
  });

  it('applies a durable batch while the next batch is being synced (its write issued first), and nothing before its own sync', async () => {
    const gate = new SyncGate();
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n], walOptions: gate.walOptions });
    await cluster.settle();
    gate.close();
    m.log.propose(bytes('a'));
    await gate.waitHeld(1); // a's append is syncing
    m.log.propose(bytes('b')); // rides the next Ready, with a's commit
    expect(text(m)).toEqual([]); // a is not durable yet
    const heldAtApply: number[] = [];
    m.onApply = () => { heldAtApply.push(gate.heldCount); };
    gate.releaseOne();
    await gate.waitHeld(1); // b's append is syncing
    expect(text(m)).toEqual(['a']); // a was applied without waiting for b's sync
    expect(heldAtApply).toEqual([1]); // b's write was issued (and held by the gate) before a was applied
    gate.open();
    await cluster.settle();
    expect(text(m)).toEqual(['a', 'b']);
  });

  it('snapshots every snapshotCount entries only once the backend is durable, and restarts from the snapshot', async () => {
    const { cluster, dir } = single();
    let releaseBackend: (() => void) | undefined;
    let backendWaits = 0;
    const m = await cluster.start(1n, dir, {
      voters: [1n],
      snapshotCount: 20,
      snapshotCatchUpEntries: 5,
      maxSnapshots: 1,
      backendDurable: () => {
        backendWaits++;
        return new Promise<void>((r) => { releaseBackend = r; });
      },
    });
    await cluster.settle();
    const snapFiles = (): string[] => readdirSync(join(dir, 'snap')).filter((n) => n.endsWith('.snap'));
    const pending = (async () => {
      for (let i = 0; i < 30; i++) {
        m.log.propose(bytes(`s${i}`));
        await new Promise<void>((r) => setImmediate(r));
      }
    })();
    await pending;
    // The snapshot waits for the backend: no file, no marker, nothing compacted yet.
    // Poll (not settle: settling would wait for the held snapshot) until all 30 are applied.
    while (m.applied.length < 30) await new Promise<void>((r) => setTimeout(r, 1));
    expect(backendWaits).toBe(1);
    expect(existsSync(join(dir, 'snap')) ? snapFiles() : []).toEqual([]);
    expect(m.log.status().snapshotIndex).toBe(0);
    releaseBackend!();
    await cluster.settle();
    const snapIndex = m.log.status().snapshotIndex;
    expect(snapIndex).toBeGreaterThanOrEqual(20);
    expect(snapFiles()).toHaveLength(1);
    expect(m.log.stats().snapshotsSaved).toBe(1);
    const before = m.applied.map((e) => [e.index, Buffer.from(e.data).toString()]);
    releaseBackend = undefined;
    await m.log.close();
    cluster.remove(1n);

    // Restart: ConfState from the snapshot, only entries above it applied again.
    const again = await cluster.start(1n, dir, { snapshotCount: 1000 });
    await cluster.settle();
    expect(again.confChanges).toEqual([]);
    expect(again.log.status()).toMatchObject({ isLeader: true, snapshotIndex: snapIndex, confState: { voters: [1n] } });
    expect(again.applied.map((e) => [e.index, Buffer.from(e.data).toString()])).toEqual(before.filter(([i]) => (i as number) > snapIndex));
    again.log.propose(bytes('next'));
    await cluster.settle();
    expect(Buffer.from(again.applied[again.applied.length - 1]!.data).toString()).toBe('next');
  });

  it('also snapshots once the entries applied since the last snapshot hold snapshotBytes, and keeps at most snapshotCatchUpBytes below it', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, {
      voters: [1n],
      snapshotCount: 100_000, // the count alone would never trigger here
      snapshotBytes: 4000,
      snapshotCatchUpEntries: 100,
      snapshotCatchUpBytes: 1600,
    });
    await cluster.settle();
    const entry = (i: number): Uint8Array => bytes(`b${String(i).padStart(3, '0')}`.padEnd(500, '.'));
    for (let i = 0; i < 7; i++) {
      m.log.propose(entry(i));
      await cluster.settle();
    }
    // 3,500 bytes applied: below the budget.
    expect(m.log.stats().snapshotsSaved).toBe(0);
    m.log.propose(entry(7));
    await cluster.settle();
    // 4,000 bytes: a snapshot at the applied index, then only the 3 newest entries (1,500 bytes) kept below it.
    expect(m.log.stats().snapshotsSaved).toBe(1);
    const snapIndex = m.log.status().snapshotIndex;
    expect(snapIndex).toBe(m.log.appliedIndex);
    const storage = m.log['storage'];
    expect(storage.firstIndex()).toBe(snapIndex - 2);
    // The budget starts again at the snapshot: 7 more entries do not trigger another.
    for (let i = 8; i < 15; i++) {
      m.log.propose(entry(i));
      await cluster.settle();
    }
    expect(m.log.stats().snapshotsSaved).toBe(1);
    m.log.propose(entry(15));
    await cluster.settle();
    expect(m.log.stats().snapshotsSaved).toBe(2);
    expect(storage.firstIndex()).toBe(m.log.status().snapshotIndex - 2);
    const applied = m.applied.map((e) => Buffer.from(e.data).toString());
    await m.log.close();
    cluster.remove(1n);

    // A restart replays only what is above the latest snapshot (the WAL below it was released).
    const again = await cluster.start(1n, dir, { snapshotBytes: 4000, snapshotCatchUpBytes: 1600 });
    await cluster.settle();
    expect(again.log.status().snapshotIndex).toBe(snapIndex + 8);
    expect(again.applied).toEqual([]);
    expect(applied).toEqual(Array.from({ length: 16 }, (_, i) => Buffer.from(entry(i)).toString()));
  });

  it('compacts below a snapshot by entry count when that is the tighter bound, and by bytes when one entry exceeds them', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n], snapshotCount: 10, snapshotCatchUpEntries: 2, snapshotCatchUpBytes: 1 << 20 });
    await cluster.settle();
    for (let i = 0; i < 10; i++) {
      m.log.propose(bytes(`c${i}`));
      await cluster.settle();
    }
    expect(m.log.stats().snapshotsSaved).toBe(1);
    expect(m.log['storage'].firstIndex()).toBe(m.log.status().snapshotIndex - 1);
    await m.log.close();
    cluster.remove(1n);

    const big = await cluster.start(1n, dir, { snapshotCount: 100, snapshotBytes: 1000, snapshotCatchUpBytes: 999 });
    await cluster.settle();
    big.log.propose(bytes('x'.repeat(1000)));
    await cluster.settle();
    expect(big.log.stats().snapshotsSaved).toBe(1);
    // Nothing kept: the newest entry alone is over the catch-up budget.
    expect(big.log['storage'].firstIndex()).toBe(big.log.status().snapshotIndex + 1);
  });

  it('restarts from a snapshot file whose WAL marker was never written (crash between the two)', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    for (let i = 0; i < 10; i++) m.log.propose(bytes(`k${i}`));
    await cluster.settle();
    const before = m.applied.map((e) => [e.index, Buffer.from(e.data).toString()]);
    await crashForTesting(m.log);
    cluster.remove(1n);
    // What a crash right after the snapshot file's rename leaves: the file, no marker.
    const snapIndex = 7;
    await new SnapshotStore(join(dir, 'snap')).save({ index: snapIndex, term: 2 }, encodeSnapshot({
      data: new Uint8Array(0),
      metadata: { index: snapIndex, term: 2, confState: { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    }));
    const again = await cluster.start(1n, dir);
    await cluster.settle();
    expect(again.log.status()).toMatchObject({ isLeader: true, snapshotIndex: snapIndex });
    expect(again.confChanges).toEqual([]);
    expect(again.applied.map((e) => [e.index, Buffer.from(e.data).toString()])).toEqual(before.filter(([i]) => (i as number) > snapIndex));
    await again.log.close();
    cluster.remove(1n);
    // Open appended the missing marker, so the WAL alone now agrees with the file.
    const { replay, wal } = await Wal.open(join(dir, 'wal'));
    expect(replay.snapshot).toEqual({ index: snapIndex, term: 2 });
    await wal.close();
  });

  it('answers ReadIndex on the leader once applied reaches the read point', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    m.log.propose(bytes('x'));
    const rs = m.log.readIndex(bytes('req-1'));
    await cluster.settle();
    const state = await rs;
    expect(Buffer.from(state.requestCtx).toString()).toBe('req-1');
    expect(state.index).toBeGreaterThanOrEqual(2);
    expect(m.log.appliedIndex).toBeGreaterThanOrEqual(state.index);
    await expect(m.log.readIndex(new Uint8Array(2048))).rejects.toThrow(RangeError);
  });

  it('keeps the applied index, and so reads, below entries the state machine has not applied yet (a write in steps)', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    m.log.propose(bytes('a'));
    await cluster.settle();
    const before = m.log.appliedIndex;
    let finish: (() => void) | undefined;
    m.onApply = () => new Promise<void>((resolve) => { finish = resolve; });
    m.log.propose(bytes('big'));
    await cluster.settle();
    expect(text(m).at(-1)).toBe('big'); // handed to the state machine
    expect(m.log.commitIndex).toBe(before + 1);
    expect(m.log.appliedIndex).toBe(before); // ... but not applied by it
    expect(m.log.readPointNow()).toBeUndefined();
    let released = false;
    const read = m.log.readIndex(bytes('r')).then((s) => { released = true; return s; });
    await cluster.settle();
    expect(released).toBe(false);
    m.onApply = undefined;
    finish!();
    const state = await read;
    expect(state.index).toBe(before + 1);
    expect(m.log.appliedIndex).toBe(before + 1);
    expect(m.log.readPointNow()).toBe(before + 1);
  });

  it('a single voter answers ReadIndex at its commit index without a Ready cycle', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    m.log.propose(bytes('x'));
    await cluster.settle();
    const readies = m.log.stats().readies;
    const state = await m.log.readIndex(bytes('req-2'));
    expect(state.index).toBe(m.log.commitIndex);
    expect(m.log.appliedIndex).toBe(state.index);
    expect(m.log.stats().readies).toBe(readies);
  });

  it('a single voter has a read point now once it leads and has applied its commit index, none after close', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    expect(m.log.readPointNow()).toBeUndefined(); // not leader yet
    await cluster.settle();
    m.log.propose(bytes('x'));
    await cluster.settle();
    expect(m.log.readPointNow()).toBe(m.log.commitIndex);
    expect(m.log.appliedIndex).toBe(m.log.commitIndex);
    await m.log.close();
    expect(m.log.readPointNow()).toBeUndefined();
  });

  it('refuses proposals and reads after close with etcd\'s "server stopped"', async () => {
    const { cluster, dir } = single();
    const m = await cluster.start(1n, dir, { voters: [1n] });
    await cluster.settle();
    await m.log.close();
    expect(() => m.log.propose(bytes('late'))).toThrow(EtcdErrors.Stopped);
    await expect(m.log.readIndex(bytes('r'))).rejects.toBe(RaftLogErrors.Stopped);
  });
});
