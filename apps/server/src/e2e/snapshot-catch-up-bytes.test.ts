// The raft log's byte bounds on real processes: with --snapshot-count at its default (100,000
// entries, never reached here), a member still snapshots once the entries applied since the
// last snapshot hold RAFTKV_SNAPSHOT_BYTES, and keeps at most RAFTKV_SNAPSHOT_CATCH_UP_BYTES of
// entries below it; a follower stopped while more than that was written catches up by the
// leader's snapshot, with every write. (The defaults are 8 MiB and 2 MiB; small ones here keep
// the test quick.)
import { afterEach, describe, expect, it } from 'vitest';
import { connect, findLostWrites, startCluster, waitForConvergence, type AcknowledgedWrite, type Cluster } from '@raftkv/testkit';
import { toSafeNumber } from '@raftkv/api';

const SNAPSHOT_BYTES = 1024 * 1024;
const CATCH_UP_BYTES = 256 * 1024;
/** 400 puts of 8 KiB: ~3.2 MB, several snapshots' worth and far beyond the catch-up window. */
const PUTS = 400;
const VALUE_BYTES = 8192;

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('raft log bounded by bytes (three raftkv members)', () => {
  it('a follower stopped for more than the bytes kept below a snapshot catches up by the leader\'s snapshot', async () => {
    cluster = await startCluster('raftkv', {
      size: 3,
      env: { RAFTKV_SNAPSHOT_BYTES: String(SNAPSHOT_BYTES), RAFTKV_SNAPSHOT_CATCH_UP_BYTES: String(CATCH_UP_BYTES) },
    });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    await follower.stop();
    const outputBefore = follower.output().length;

    const client = connect(leader.endpoint);
    const acked: AcknowledgedWrite[] = [];
    try {
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async (_, w) => {
        for (let n = next++; n < PUTS; n = next++) {
          const key = `big/${n}`;
          const value = `${n}:`.padEnd(VALUE_BYTES, 'v');
          const res = await client.put({ key: Buffer.from(key), value: Buffer.from(value) });
          acked.push({ key, value, revision: toSafeNumber(res.header!.revision, 'revision'), client: `w${w}`, endpoint: leader.endpoint, ackMs: performance.now() });
        }
      }));
    } finally {
      client.close();
    }
    // The leader snapshotted by bytes (the count is 100,000) and released the WAL below.
    expect(leader.output()).toMatch(/saved a snapshot and released WAL segments/);

    await follower.restart();
    const states = await waitForConvergence(cluster.members.map((m) => m.endpoint), { timeoutMs: 30_000 });
    expect(new Set(states.map((s) => s.hash)).size, JSON.stringify(states)).toBe(1);
    const log = follower.output().slice(outputBefore);
    expect(log, `${follower.name} received the leader's snapshot`).toMatch(/receiving a snapshot|restoring the backend from the leader's snapshot/);
    expect(await findLostWrites(follower.endpoint, acked, { concurrency: 32 })).toEqual([]);
  }, 120_000);
});
