// Progress notifications: periodic ones for watchers that asked (interval made short here), and
// a stream-wide one on request; the same against etcd 3.4.
import { credentials } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@raftkv/testkit';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds; fails after a generous deadline (a wait on an event, not a timing assertion). */
async function until(what: string, done: () => boolean, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in ${limitMs} ms`);
    await sleep(20);
  }
}
const create = (watchId: bigint, progressNotify: boolean): etcdserverpb.WatchRequest => ({
  createRequest: { key: Buffer.from('p/'), rangeEnd: Buffer.from('p0'), startRevision: 0n, progressNotify, filters: [], prevKv: false, watchId, fragment: false },
});

describe('watch progress notifications', () => {
  let servers: ServerProcess[];
  beforeAll(async () => {
    const args = ['--experimental-watch-progress-notify-interval', '400ms'];
    servers = await Promise.all([startEtcd({ args }), startRaftkv({ args })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()));
    for (const s of servers ?? []) removeDir(s.dataDir);
  });

  it('sends periodic progress to watchers that asked, and answers a progress request', async () => {
    const summaries: string[] = [];
    for (const server of servers) {
      const kv = connect(server.endpoint);
      await kv.put({ key: Buffer.from('p/x'), value: Buffer.from('1') });
      const revision = (await kv.status()).header!.revision;
      const client = new WatchClient(server.endpoint, credentials.createInsecure());
      const got: etcdserverpb.WatchResponse[] = [];
      const stream = client.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
      stream.on('error', () => undefined);
      stream.write(create(1n, true));
      stream.write(create(2n, false));
      const periodicSoFar = () => got.filter((r) => !r.created && r.events.length === 0 && r.watchId === 1n).length;
      // Two periodic notifications (every 400 ms here), then the answer to a request.
      await until('two periodic progress notifications', () => periodicSoFar() >= 2);
      stream.write({ progressRequest: {} });
      await until('the answer to the progress request', () => got.some((r) => !r.created && r.events.length === 0 && r.watchId === -1n));
      stream.end();
      client.close();
      kv.close();
      const periodic = got.filter((r) => !r.created && r.events.length === 0 && r.watchId === 1n);
      const requested = got.filter((r) => !r.created && r.events.length === 0 && r.watchId === -1n);
      expect(periodic.length, server.endpoint).toBeGreaterThanOrEqual(2);
      expect(got.some((r) => !r.created && r.watchId === 2n)).toBe(false); // did not ask
      for (const r of [...periodic, ...requested]) expect(r.header!.revision).toBe(revision);
      summaries.push(`created=${got.filter((r) => r.created).length} requested=${requested.length}`);
    }
    expect(summaries[1]).toBe(summaries[0]);
  }, 30_000);
});
