import { join } from 'node:path';
import { EntryType, type ConfState, type Entry, type MemoryStorage, type Snapshot } from '@raftkv/raft';
import type { SnapshotStore, Wal } from '@raftkv/wal';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, readyRecords } from './raft-storage.js';
import { SnapshotKeeper, type SnapshotKeeperOptions } from './snapshot-keeper.js';
import { removeDir, tempDir } from './test-support/harness.js';

const confState: ConfState = { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const entries = (from: number, to: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term: 1, type: EntryType.Normal, data: new Uint8Array(10) }));

interface Fixture {
  keeper: SnapshotKeeper;
  storage: MemoryStorage;
  wal: Wal;
  snapshots: SnapshotStore;
  /** What the fake log answers; tests change it between calls. */
  log: { applied: number; maySnapshot: boolean; sendingSnapshot: boolean; stopped: boolean; failures: unknown[] };
  saved: number[];
  /** Releases the held `backendDurable` (each snapshot waits for one). */
  releaseBackend(): void;
}

const opened: Fixture[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const f of opened.splice(0)) await f.wal.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A keeper over a fresh WAL and snapshot dir, with entries 1..lastIndex in the in-memory log. */
async function fixture(lastIndex: number, opts: Partial<SnapshotKeeperOptions> = {}, backend: 'held' | 'fails' = 'held'): Promise<Fixture> {
  const dir = tempDir('raftkv-snapshot-keeper-');
  dirs.push(dir);
  const rec = await openStorage(join(dir, 'wal'), join(dir, 'snap'), new Uint8Array(0));
  rec.memory.append(entries(1, lastIndex));
  const log = { applied: lastIndex, maySnapshot: true, sendingSnapshot: false, stopped: false, failures: [] as unknown[] };
  const saved: number[] = [];
  let release: (() => void) | undefined;
  const keeper = new SnapshotKeeper({
    snapshotCount: 5,
    snapshotCatchUpEntries: 2,
    onSnapshotSaved: (index) => saved.push(index),
    backendDurable: () => backend === 'fails'
      ? Promise.reject(new Error('backend flush failed'))
      : new Promise<void>((resolve) => { release = resolve; }),
    ...opts,
  }, {
    stopped: () => log.stopped,
    maySnapshot: () => log.maySnapshot,
    appliedIndex: () => log.applied,
    confState: () => confState,
    sendingSnapshot: () => log.sendingSnapshot,
    fail: (err) => { log.failures.push(err); log.stopped = true; },
  }, rec.memory, rec.wal, rec.snapshots, 0);
  const f: Fixture = { keeper, storage: rec.memory, wal: rec.wal, snapshots: rec.snapshots, log, saved, releaseBackend: () => release!() };
  opened.push(f);
  return f;
}

describe('SnapshotKeeper', () => {
  it('saves a due snapshot at the applied index once the backend is durable, then keeps only the catch-up entries below it', async () => {
    const f = await fixture(10);
    f.keeper.maybeSnapshot();
    const saving = f.keeper.saving;
    expect(saving).toBeDefined();
    f.keeper.maybeSnapshot(); // one at a time
    expect(f.keeper.saving).toBe(saving);
    await new Promise<void>((r) => setImmediate(r));
    expect(f.keeper.index).toBe(0); // still waiting for the backend
    expect(await f.snapshots.loadLatest()).toBeUndefined();

    f.releaseBackend();
    await saving;
    expect(f.keeper.saving).toBeUndefined();
    expect(f.keeper.index).toBe(10);
    expect(f.saved).toEqual([10]);
    expect(f.keeper.stats()).toEqual({ snapshotsSaved: 1, snapshotsInstalled: 0 });
    expect((await f.snapshots.loadLatest())?.index).toBe(10);
    expect(f.storage.firstIndex()).toBe(9); // entries 9 and 10 kept for a slow follower
    expect(f.log.failures).toEqual([]);
  });

  it('takes none before snapshotCount entries, nor while the log says no; then takes one when asked again', async () => {
    const f = await fixture(10);
    f.log.applied = 4;
    f.keeper.maybeSnapshot();
    expect(f.keeper.saving).toBeUndefined();
    f.log.applied = 10;
    f.log.maySnapshot = false; // closed, or the state machine behind the applied index
    f.keeper.maybeSnapshot();
    expect(f.keeper.saving).toBeUndefined();
    f.log.maySnapshot = true;
    f.keeper.maybeSnapshot();
    expect(f.keeper.saving).toBeDefined();
    f.releaseBackend();
    await f.keeper.saving;
    expect(f.saved).toEqual([10]);
  });

  it('keeps the whole log below a snapshot saved while the leader is sending one', async () => {
    const f = await fixture(10);
    f.log.sendingSnapshot = true;
    f.keeper.maybeSnapshot();
    f.releaseBackend();
    await f.keeper.saving;
    expect(f.keeper.index).toBe(10);
    expect(f.storage.firstIndex()).toBe(1);
  });

  it('does not mark, compact or count a snapshot still being saved when a newer one arrives from the leader', async () => {
    const f = await fixture(10);
    f.keeper.maybeSnapshot(); // at 10, waiting for the backend
    const received: Snapshot = { data: new Uint8Array(0), metadata: { index: 20, term: 1, confState } };
    await f.keeper.saveReceivedFile(received);
    f.keeper.markerAppending(20);
    await f.wal.append(readyRecords(received, [], undefined));
    await f.keeper.received(received);
    f.keeper.installed();
    expect(f.keeper.index).toBe(20);
    expect(f.storage.firstIndex()).toBe(21);

    f.releaseBackend();
    await f.keeper.saving;
    expect(f.keeper.index).toBe(20);
    expect(f.saved).toEqual([]); // the older one stopped at its file: no marker, no release
    expect(f.keeper.stats()).toEqual({ snapshotsSaved: 0, snapshotsInstalled: 1 });
    expect(f.log.failures).toEqual([]);
  });

  it('reports a failed save to the log before `saving` settles, and starts no other', async () => {
    const f = await fixture(10, {}, 'fails');
    f.keeper.maybeSnapshot();
    const saving = f.keeper.saving!;
    let failuresWhenSettled: unknown[] | undefined;
    await saving.then(() => { failuresWhenSettled = [...f.log.failures]; });
    expect(failuresWhenSettled).toEqual([new Error('backend flush failed')]);
    expect(f.keeper.saving).toBeUndefined();
    expect(f.keeper.index).toBe(0);
  });
});
