// Large watch responses are split into fragments when the watcher asked for it, at
// --max-request-bytes as etcd does; the client reassembles the same events.
import { credentials } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, putRequest, txnRequest } from '@raftkv/testkit';
import { normaliseResponse } from '@raftkv/testkit';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
      await sleep(300);
      const txn = (v: string) => txnRequest({ success: Array.from({ length: 60 }, (_, i) => ({ requestPut: putRequest({ key: Buffer.from(`f/${i}`), value: Buffer.alloc(20_000, v) }) })) });
      await kv.txn(txn('a'));
      await kv.txn(txn('b'));
      await sleep(1500);
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
