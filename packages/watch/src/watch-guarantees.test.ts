import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MvccStore } from '@raftkv/mvcc';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { enc } from './test-support/helpers.js';
import { ModelSource } from './test-support/model-source.js';
import { commands, runScenario, type Driver } from './test-support/scenario.js';

/**
 * The watch guarantees (etcd's names): Ordered, Unique, Atomic (a revision in one
 * response), Reliable (no gap), Resumable (parked watchers continue where they stopped),
 * PrevKV and Filter; checked against the source's own event stream.
 */
function modelDriver(): Driver {
  const m = new ModelSource();
  return {
    source: m,
    put: (k, v) => void m.put(k, v),
    del: (k) => void m.del(k),
    txn: (ops) => void m.txn(ops),
    compact: (rev) => m.compact(rev),
  };
}

/**
 * A follower and its leader, both models: writes reach both until `lag`, then only the
 * leader; `restore` installs the leader's state into the follower in place (a raft
 * snapshot: MvccStore.restore), which the watchable store sees through `onRestore`.
 */
function followerDriver(): Driver {
  const leader = new ModelSource();
  const follower = new ModelSource();
  let lagging = false;
  const apply = (f: (m: ModelSource) => unknown) => {
    f(leader);
    if (!lagging) f(follower);
  };
  return {
    source: follower,
    truth: leader,
    put: (k, v) => apply((m) => m.put(k, v)),
    del: (k) => apply((m) => m.del(k)),
    txn: (ops) => apply((m) => m.txn(ops)),
    compact: (rev) => apply((m) => m.compact(rev)),
    lag: () => {
      lagging = true;
    },
    restore: () => {
      follower.restoreFrom(leader);
      lagging = false;
    },
  };
}

function mvccDriver(store: MvccStore): Driver {
  let index = 0;
  return {
    source: store,
    put: (k, v) => void store.put({ key: enc(k), value: enc(v) }, ++index),
    del: (k) => void store.deleteRange({ key: enc(k) }, ++index),
    txn: (ops) =>
      void store.txn(
        {
          compare: [],
          success: ops.map((o) => ('put' in o ? { put: { key: enc(o.put[0]), value: enc(o.put[1]) } } : { deleteRange: { key: enc(o.del) } })),
          failure: [],
        },
        ++index,
      ),
    compact: (rev) => void store.compact(rev, ++index),
  };
}

describe('watch guarantees on the model source', () => {
  test('every watcher gets exactly its history: ordered, unique, atomic, no gap (slow consumers included)', () => {
    fc.assert(
      fc.property(commands(false), (cmds) => runScenario(modelDriver(), cmds, false)),
      { numRuns: 400 },
    );
  });

  test('with compaction: a gap-free prefix, then compacted only when history is gone', () => {
    fc.assert(
      fc.property(commands(true), (cmds) => runScenario(modelDriver(), cmds, true)),
      { numRuns: 300 },
    );
  });
});

describe('watch guarantees across snapshot installs (a lagging follower restored in place)', () => {
  test.each([false, true])('random scenarios with lag/restore, compaction=%s', (withCompaction) => {
    fc.assert(
      fc.property(commands(withCompaction, true), (cmds) => runScenario(followerDriver(), cmds, withCompaction)),
      { numRuns: 1000 },
    );
  });
});

describe('watch guarantees on the real MvccStore (LMDB, temp dir)', () => {
  test.each([false, true])('random scenarios, compaction=%s', async (withCompaction) => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-test-'));
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(commands(withCompaction), async (cmds) => {
          const store = await MvccStore.open({ dir: join(dir, String(run++)) });
          try {
            runScenario(mvccDriver(store), cmds, withCompaction);
            await store.commit();
          } finally {
            await store.close();
          }
        }),
        { numRuns: 40 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
