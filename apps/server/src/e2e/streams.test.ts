// Watch and LeaseKeepAlive streams kept as etcd keeps them, and bounded against clients that
// misuse them. Half-close scenarios run against real etcd 3.4 and raftkv and compare what the
// client observes; the flood scenarios run against raftkv and read the server's RSS.
import { credentials, Metadata, status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { LeaseClient, WatchClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type EtcdClient } from '../test-support/grpc-client.js';
import { startPair, type ServerPair } from '../test-support/processes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function createRequest(key: string): etcdserverpb.WatchRequest {
  return {
    createRequest: {
      key: Buffer.from(key), rangeEnd: Buffer.alloc(0), startRevision: 0n, progressNotify: false, filters: [],
      prevKv: false, watchId: 0n, fragment: false,
    },
  };
}

/**
 * What a client sees on one stream, in order: responses (as short strings, the same for both
 * servers) and how the stream ended.
 */
function transcribe<Req, Res>(stream: ClientDuplexStream<Req, Res>, show: (r: Res) => string): string[] {
  const seen: string[] = [];
  stream.on('data', (r: Res) => seen.push(show(r)));
  // The status code only: grpc-js reports an empty grpc-message from etcd as '' and
  // grpc-js servers send 'OK'; clients look at the code.
  stream.on('status', (s: StatusObject) => seen.push(`status ${status[s.code]}`));
  stream.on('error', () => undefined);
  return seen;
}

const showWatch = (r: etcdserverpb.WatchResponse): string =>
  `watch ${r.watchId}${r.created ? ' created' : ''}${r.canceled ? ' canceled' : ''}` +
  r.events.map((e) => ` ${e.type === 0 ? 'PUT' : 'DELETE'} ${Buffer.from(e.kv!.key).toString()}=${Buffer.from(e.kv!.value).toString()}`).join('');

describe('half-closed streams (etcd 3.4 and raftkv side by side)', () => {
  let pair: ServerPair | undefined;
  const clients: Array<{ close(): void }> = [];
  let subjects: Array<{ name: string; endpoint: string; kv: EtcdClient; watch: WatchClient; lease: LeaseClient }> = [];
  beforeAll(async () => {
    pair = await startPair();
    subjects = [pair.etcd, pair.raftkv].map((s, i) => {
      const kv = connect(s.endpoint);
      const watch = new WatchClient(s.endpoint, credentials.createInsecure());
      const lease = new LeaseClient(s.endpoint, credentials.createInsecure());
      clients.push(kv, watch, lease);
      return { name: i === 0 ? 'etcd' : 'raftkv', endpoint: s.endpoint, kv, watch, lease };
    });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await pair?.stop();
  });

  /** Runs `scenario` on both servers at once; returns each one's transcript. */
  async function onBoth(scenario: (s: (typeof subjects)[number]) => Promise<string[]>): Promise<{ etcd: string[]; raftkv: string[] }> {
    const [etcd, raftkv] = await Promise.all(subjects.map(scenario));
    return { etcd: etcd!, raftkv: raftkv! };
  }

  it('a Watch stream half-closed after one create request delivers later events until the client cancels', async () => {
    const got = await onBoth(async (s) => {
      const stream = s.watch.watch();
      const seen = transcribe(stream, showWatch);
      stream.write(createRequest('hc/a'));
      await sleep(300);
      stream.end();
      await sleep(500); // raftkv used to end the stream with OK here
      seen.push('-- put');
      await s.kv.put({ key: Buffer.from('hc/a'), value: Buffer.from('1') });
      await s.kv.put({ key: Buffer.from('hc/a'), value: Buffer.from('2') });
      await sleep(500);
      seen.push('-- cancel');
      stream.cancel();
      await sleep(200);
      return seen;
    });
    expect(got.etcd).toEqual(['watch 0 created', '-- put', 'watch 0 PUT hc/a=1', 'watch 0 PUT hc/a=2', '-- cancel', 'status CANCELLED']);
    expect(got.raftkv).toEqual(got.etcd);
  });

  it('a half-closed Watch stream with a deadline delivers events, then ends with DEADLINE_EXCEEDED', async () => {
    const got = await onBoth(async (s) => {
      const stream = s.watch.watch(new Metadata(), { deadline: Date.now() + 2_000 });
      const seen = transcribe(stream, showWatch);
      const ended = new Promise((resolve) => stream.on('status', resolve));
      stream.write(createRequest('hc/b'));
      stream.end();
      await sleep(500);
      await s.kv.put({ key: Buffer.from('hc/b'), value: Buffer.from('x') });
      await ended;
      return seen;
    });
    expect(got.etcd).toEqual(['watch 0 created', 'watch 0 PUT hc/b=x', 'status DEADLINE_EXCEEDED']);
    expect(got.raftkv).toEqual(got.etcd);
  });

  it('a Watch stream half-closed before any request stays open (no status) until cancelled', async () => {
    const got = await onBoth(async (s) => {
      const stream = s.watch.watch();
      const seen = transcribe(stream, showWatch);
      stream.end();
      await sleep(800);
      seen.push('-- cancel');
      stream.cancel();
      await sleep(200);
      return seen;
    });
    expect(got.etcd).toEqual(['-- cancel', 'status CANCELLED']);
    expect(got.raftkv).toEqual(got.etcd);
  });

  it('a half-closed LeaseKeepAlive stream answers every request sent, in order, then ends with OK', async () => {
    const got = await onBoth(async (s) => {
      const granted = await s.kv.leaseGrant(0n, 60n);
      const stream = s.lease.leaseKeepAlive();
      const seen = transcribe(stream, (r: etcdserverpb.LeaseKeepAliveResponse) =>
        `keepalive ${r.ID === granted.ID ? 'granted' : String(r.ID)} ttl ${r.TTL}`);
      const ended = new Promise((resolve) => stream.on('status', resolve));
      const ids = [granted.ID, 4242n, granted.ID, granted.ID, 4243n];
      for (const ID of ids) stream.write({ ID });
      stream.end();
      await ended;
      return seen;
    });
    expect(got.etcd).toEqual([
      'keepalive granted ttl 60', 'keepalive 4242 ttl 0', 'keepalive granted ttl 60', 'keepalive granted ttl 60',
      'keepalive 4243 ttl 0', 'status OK',
    ]);
    expect(got.raftkv).toEqual(got.etcd);
  });
});
