// Crash safety: many concurrent puts, kill -9 at a random moment, restart on the same data dir.
// Every acknowledged put must be there, the revision must never go back, the server must start.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, rangeRequest } from '@raftkv/testkit';
import { removeDir, startRaftkv, tempDir, type ServerProcess } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';

const ROUNDS = Number(process.env['RAFTKV_CRASH_ROUNDS'] ?? 8);
const WRITERS = 32;
// Snapshots every 300 entries over 64 KiB WAL segments: crashes also land around WAL releases.
const SERVER = { args: ['--snapshot-count', '300'], env: { RAFTKV_WAL_SEGMENT_BYTES: '65536' } };

describe('kill -9 during writes', () => {
  const dataDir = tempDir('raftkv-crash-');
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    removeDir(dataDir);
  });

  it(`keeps every acknowledged put across ${ROUNDS} crashes`, async () => {
    const rnd = new Random(Number(process.env['RAFTKV_CRASH_SEED'] ?? 7));
    const acked = new Map<string, string>();
    let highestAckedRevision = 0n;
    let totalAcked = 0;
    let released = false;
    for (let round = 0; round < ROUNDS; round++) {
      server = await startRaftkv({ dataDir, ...SERVER });
      const client = connect(server.endpoint);
      // Everything acknowledged in earlier lives is still there, and the revision did not go back.
      const all = await client.range(rangeRequest({ key: Buffer.from('k/'), rangeEnd: Buffer.from('k0') }));
      expect(all.header!.revision).toBeGreaterThanOrEqual(highestAckedRevision);
      const found = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
      for (const [k, v] of acked) expect(found.get(k), `acknowledged ${k} after crash ${round}`).toBe(v);

      let stop = false;
      // Set just before the kill: a put that fails earlier is a failure of the test, not a crash.
      let killing = false;
      const failedBeforeKill: string[] = [];
      let ackedThisRound = 0;
      const writer = async (w: number) => {
        for (let seq = 0; !stop; seq++) {
          const key = `k/${round}/${w}/${seq}`;
          const value = `v${round}.${w}.${seq}`;
          try {
            const res = await client.put({ key: Buffer.from(key), value: Buffer.from(value) });
            acked.set(key, value);
            totalAcked++;
            ackedThisRound++;
            if (res.header!.revision > highestAckedRevision) highestAckedRevision = res.header!.revision;
          } catch (err) {
            if (!killing) failedBeforeKill.push(`${key}: ${(err as Error).message}`);
            return; // after the kill: the server died under us, not acknowledged
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      // Let some puts be acknowledged first, then crash at a random moment after that.
      const until = Date.now() + 30_000;
      while (ackedThisRound === 0 && failedBeforeKill.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100 + rnd.int(1000)));
      killing = true;
      await server.kill();
      released ||= server.output().includes('released WAL segments');
      stop = true;
      await Promise.all(writers);
      client.close();
      server = undefined;
      expect(failedBeforeKill, `puts that failed while the server was up, round ${round}`).toEqual([]);
      expect(ackedThisRound, `puts acknowledged in round ${round}`).toBeGreaterThan(0);
    }
    server = await startRaftkv({ dataDir, ...SERVER });
    const client = connect(server.endpoint);
    const all = await client.range(rangeRequest({ key: Buffer.from('k/'), rangeEnd: Buffer.from('k0') }));
    const found = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    for (const [k, v] of acked) expect(found.get(k), `acknowledged ${k}`).toBe(v);
    expect(all.header!.revision).toBeGreaterThanOrEqual(highestAckedRevision);
    client.close();
    expect(released, 'some WAL segments were released along the way').toBe(true);
    console.log(`crash test: ${ROUNDS} kill -9 rounds, ${totalAcked} acknowledged puts, all present`);
  }, 600_000);
});
