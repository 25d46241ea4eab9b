// Large watch responses are split into fragments when the watcher asked for it, at
// --max-request-bytes as etcd does; the client reassembles the same events.
import { credentials } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, putRequest, txnRequest } from '@raftkv/testkit';
import { normaliseResponse } from '@raftkv/testkit';
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

describe('watch fragmentation', () => {
  let servers: ServerProcess[];
  beforeAll(async () => {
    servers = await Promise.all([startEtcd(), startRaftkv()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()));
    for (const s of servers ?? []) removeDir(s.dataDir);
  });

  it('splits a 2.4 MB response with prev_kv into fragments carrying the same events as etcd', async () => {
    const results: Array<{ fragments: number; events: unknown[] }> = [];
    for (const server of servers) {
      const kv = connect(server.endpoint);
      const client = new WatchClient(server.endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
      const responses: etcdserverpb.WatchResponse[] = [];
      const stream = client.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => responses.push(r));
      stream.on('error', () => undefined);
      stream.write({ createRequest: { key: Buffer.from('f/'), rangeEnd: Buffer.from('f0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: true, watchId: 0n, fragment: true } });
      await until('the watch is created', () => responses.some((r) => r.created));
      const txn = (v: string) => txnRequest({ success: Array.from({ length: 60 }, (_, i) => ({ requestPut: putRequest({ key: Buffer.from(`f/${i}`), value: Buffer.alloc(20_000, v) }) })) });
      await kv.txn(txn('a'));
      await kv.txn(txn('b'));
      // Both txns' 120 events, in whatever fragments the server chose.
      await until('120 events', () => responses.reduce((n, r) => n + r.events.length, 0) >= 120, 30_000);
      stream.end();
      client.close();
      kv.close();
      const withEvents = responses.filter((r) => r.events.length > 0);
      results.push({
        fragments: withEvents.filter((r) => r.fragment).length,
        events: withEvents.flatMap((r) => (normaliseResponse(r) as { events: unknown[] }).events),
      });
    }
    expect(results[0]!.fragments).toBeGreaterThan(0);
    expect(results[1]!.fragments).toBeGreaterThan(0);
    expect(results[1]!.fragments).toBe(results[0]!.fragments);
    expect(results[1]!.events).toHaveLength(120);
    expect(results[1]!.events).toEqual(results[0]!.events);
    console.log(`fragments: etcd ${results[0]!.fragments}, raftkv ${results[1]!.fragments}`);
  }, 60_000);
});
