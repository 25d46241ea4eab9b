// Watch and LeaseKeepAlive streams kept as etcd keeps them, and bounded against clients that
// misuse them. Half-close scenarios run against real etcd 3.4 and raftkv and compare what the
// client observes; the flood scenarios run against raftkv and read the server's RSS.
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { credentials, Metadata, status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { LeaseClient, WatchClient, etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type EtcdClient } from '@raftkv/testkit';
import { removeDir, startPair, startRaftkv, type ServerPair, type ServerProcess } from '@raftkv/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds; fails after a generous deadline (a wait on an event, not a timing assertion). */
async function until(what: string, done: () => boolean, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in ${limitMs} ms`);
    await sleep(10);
  }
}

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
      await until(`${s.name}: watch created`, () => seen.includes('watch 0 created'));
      stream.end();
      // A grace period, not a deadline: the time a server that ends half-closed streams (raftkv
      // used to, with OK) gets to do it before the puts.
      await sleep(500);
      seen.push('-- put');
      await s.kv.put({ key: Buffer.from('hc/a'), value: Buffer.from('1') });
      await s.kv.put({ key: Buffer.from('hc/a'), value: Buffer.from('2') });
      await until(`${s.name}: both events`, () => seen.filter((l) => l.startsWith('watch 0 PUT')).length >= 2 || seen.some((l) => l.startsWith('status')));
      seen.push('-- cancel');
      stream.cancel();
      await until(`${s.name}: the stream's status`, () => seen.some((l) => l.startsWith('status')));
      return seen;
    });
    expect(got.etcd).toEqual(['watch 0 created', '-- put', 'watch 0 PUT hc/a=1', 'watch 0 PUT hc/a=2', '-- cancel', 'status CANCELLED']);
    expect(got.raftkv).toEqual(got.etcd);
  });

  it('a half-closed Watch stream with a deadline delivers events, then ends with DEADLINE_EXCEEDED', async () => {
    const got = await onBoth(async (s) => {
      const stream = s.watch.watch(new Metadata(), { deadline: Date.now() + 2_000 });
      const seen = transcribe(stream, showWatch);
      let details = '';
      const ended = new Promise((resolve) => stream.on('status', (st: StatusObject) => { details = st.details; resolve(st); }));
      stream.write(createRequest('hc/b'));
      stream.end();
      await until(`${s.name}: watch created`, () => seen.includes('watch 0 created'));
      await s.kv.put({ key: Buffer.from('hc/b'), value: Buffer.from('x') });
      await ended;
      // The same deadline, seen from the server: etcd ends the stream with its context's error
      // when its copy of the deadline fires, which grpc-go sends as UNKNOWN "context deadline
      // exceeded"; on a loaded machine that can reach the client before its own timer fires.
      return seen.map((l) => (l === 'status UNKNOWN' && /context deadline exceeded/.test(details) ? 'status DEADLINE_EXCEEDED' : l));
    });
    expect(got.etcd).toEqual(['watch 0 created', 'watch 0 PUT hc/b=x', 'status DEADLINE_EXCEEDED']);
    expect(got.raftkv).toEqual(got.etcd);
  });

  it('a Watch stream half-closed before any request stays open (no status) until cancelled', async () => {
    const got = await onBoth(async (s) => {
      const stream = s.watch.watch();
      const seen = transcribe(stream, showWatch);
      stream.end();
      // A grace period for a server that would end the stream (it must not).
      await sleep(800);
      seen.push('-- cancel');
      stream.cancel();
      await until(`${s.name}: the stream's status`, () => seen.some((l) => l.startsWith('status')));
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

/** Resident set size of a process, in bytes (Linux). */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(/(\d+)\s*kB/.exec(line)![1]) * 1024;
}

const MiB = 1024 * 1024;

/** gRPC's length-prefixed framing of one message. */
function grpcMessage(body: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/**
 * A gRPC bidi stream straight over node:http2, with no client library to buffer or pace it:
 * requests are written as fast as HTTP/2 flow control lets them, and responses are not read
 * (the stream is paused, so the server's send window fills) until `readAll`.
 * (A grpc-js client whose call is paused stops sending by itself after about 1 MiB, whatever
 * the server does, so it cannot show whether the server stops reading.)
 */
function rawStream(endpoint: string, path: string, authority = endpoint) {
  const session = http2.connect(`http://${endpoint}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.pause();
  return {
    /**
     * Writes batches of `request(i)` until `max` are written, `budgetMs` has passed, or the
     * stream takes nothing for `stallMs` (the server stopped reading); samples the server's
     * RSS meanwhile. Resolves with the number written and the largest RSS seen.
     */
    async flood(request: (i: number) => Uint8Array, pid: number, opts: { max: number; budgetMs: number; stallMs: number }) {
      let maxRss = rssBytes(pid);
      const sampler = setInterval(() => { maxRss = Math.max(maxRss, rssBytes(pid)); }, 100);
      const until = Date.now() + opts.budgetMs;
      let sent = 0;
      let stalled = false;
      try {
        while (sent < opts.max && Date.now() < until) {
          const batch: Buffer[] = [];
          for (let n = 0; n < 1000 && sent < opts.max; n++) batch.push(grpcMessage(request(sent++)));
          if (stream.write(Buffer.concat(batch))) {
            await new Promise((r) => setImmediate(r));
            continue;
          }
          const drained = await new Promise<boolean>((resolve) => {
            const onDrain = () => { clearTimeout(timer); resolve(true); };
            const timer = setTimeout(() => { stream.off('drain', onDrain); resolve(false); }, opts.stallMs);
            stream.once('drain', onDrain);
          });
          if (!drained) { stalled = true; break; }
        }
        maxRss = Math.max(maxRss, rssBytes(pid));
      } finally {
        clearInterval(sampler);
      }
      return { sent, stalled, maxRss };
    },
    /**
     * Starts reading: every response message goes to `onMessage`; resolves with the grpc-status
     * of the trailers (after `halfClose` when asked).
     */
    readAll(onMessage: (bytes: Buffer) => void, halfClose: boolean): Promise<string | undefined> {
      let pending: Buffer = Buffer.alloc(0);
      stream.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let at = 0;
        while (pending.length >= at + 5 && pending.length >= at + 5 + pending.readUInt32BE(at + 1)) {
          const end = at + 5 + pending.readUInt32BE(at + 1);
          onMessage(pending.subarray(at + 5, end));
          at = end;
        }
        pending = pending.subarray(at);
      });
      const trailers = new Promise<string | undefined>((resolve) => {
        stream.on('trailers', (h) => resolve(h['grpc-status'] as string | undefined));
        stream.on('close', () => resolve(undefined));
      });
      stream.resume();
      if (halfClose) stream.end();
      return trailers;
    },
    close: () => session.destroy(),
  };
}

describe('clients that send and never read (raftkv)', () => {
  let server: ServerProcess | undefined;
  let kv: EtcdClient;
  const closers: Array<{ close(): void }> = [];
  const FLOOD = { max: 2_000_000, budgetMs: 10_000, stallMs: 2_000 };
  // Generous: GC slack and HTTP/2 buffers, not a cost per request (without backpressure the
  // keepalive flood grew the server by ~130 MiB per million requests).
  const RSS_GROWTH_BOUND = 100 * MiB;

  beforeAll(async () => {
    server = await startRaftkv();
    kv = connect(server.endpoint);
    closers.push(kv);
    for (let i = 0; i < 200; i++) await kv.put({ key: Buffer.from(`warm/${i}`), value: Buffer.from('x') });
  }, 60_000);
  afterAll(async () => {
    for (const c of closers) c.close();
    if (server) {
      await server.kill();
      removeDir(server.dataDir);
    }
  });

  /** A Range on a fresh connection: the server still serves others. */
  async function serves(): Promise<void> {
    const other = connect(server!.endpoint);
    try {
      const res = await other.range({ key: Buffer.from('warm/0') });
      expect(res.kvs.map((k) => Buffer.from(k.value).toString())).toEqual(['x']);
    } finally {
      other.close();
    }
  }

  const report = (what: string, baselineRss: number, r: { sent: number; stalled: boolean; maxRss: number }) =>
    console.log(`[streams] ${what} flood: ${r.sent} requests written (${r.stalled ? 'then the server stopped reading' : 'budget used up'}), ` +
      `server RSS ${(baselineRss / MiB).toFixed(0)} MiB before, ${(r.maxRss / MiB).toFixed(0)} MiB at most during`);

  // The URL form of :authority (etcd's Go clients) goes through the client listener's relay.
  it.each([['host:port', false], ['URL', true]] as const)('LeaseKeepAlive flood (%s :authority): the server stops reading instead of growing, then answers every request sent', async (_, url) => {
    const granted = await kv.leaseGrant(0n, 600n);
    const raw = rawStream(server!.endpoint, '/etcdserverpb.Lease/LeaseKeepAlive', url ? `http://${server!.endpoint}` : server!.endpoint);
    closers.push(raw);
    const request = etcdserverpb.LeaseKeepAliveRequest.encode({ ID: granted.ID }).finish();
    const baselineRss = rssBytes(server!.child.pid!);
    const result = await raw.flood(() => request, server!.child.pid!, FLOOD);
    report(`keepalive (${url ? 'URL' : 'host:port'} :authority)`, baselineRss, result);
    expect(result.maxRss - baselineRss).toBeLessThan(RSS_GROWTH_BOUND);
    expect(result.stalled).toBe(true);
    await serves();
    // Reading again: every request written gets its answer, then the half-close ends the stream with OK.
    let answered = 0;
    let wrong = 0;
    const code = await raw.readAll((bytes) => {
      const r = etcdserverpb.LeaseKeepAliveResponse.decode(bytes);
      answered++;
      if (r.ID !== granted.ID || r.TTL !== 600n) wrong++;
    }, true);
    expect({ code, answered, wrong }).toEqual({ code: '0', answered: result.sent, wrong: 0 });
  }, 120_000);

  it('Watch flood of create / cancel / progress requests: the server stops reading instead of growing', async () => {
    const raw = rawStream(server!.endpoint, '/etcdserverpb.Watch/Watch');
    closers.push(raw);
    const create = (id: bigint) => etcdserverpb.WatchRequest.encode({ createRequest: { ...createRequest('flood').createRequest!, watchId: id } }).finish();
    const cancel = (id: bigint) => etcdserverpb.WatchRequest.encode({ cancelRequest: { watchId: id } }).finish();
    const progress = etcdserverpb.WatchRequest.encode({ progressRequest: {} }).finish();
    const idOf = (i: number) => BigInt(Math.floor(i / 3) + 1);
    const request = (i: number) => (i % 3 === 0 ? create(idOf(i)) : i % 3 === 1 ? cancel(idOf(i)) : progress);
    const baselineRss = rssBytes(server!.child.pid!);
    const result = await raw.flood(request, server!.child.pid!, FLOOD);
    report('watch', baselineRss, result);
    expect(result.maxRss - baselineRss).toBeLessThan(RSS_GROWTH_BOUND);
    expect(result.stalled).toBe(true);
    await serves();
    // Reading again: every create and cancel written is answered, in order.
    const last = result.sent - 1;
    const lastAnswer = last % 3 === 0 ? 'created' : 'canceled';
    let creates = 0;
    let cancels = 0;
    const done = new Promise<void>((resolve) => {
      void raw.readAll((bytes) => {
        const r = etcdserverpb.WatchResponse.decode(bytes);
        if (r.created) creates++;
        if (r.canceled) cancels++;
        if (r.watchId === idOf(last) && r[lastAnswer]) resolve();
      }, false);
    });
    await done;
    expect({ creates, cancels }).toEqual({ creates: Math.floor(last / 3) + 1, cancels: Math.floor((last - 1) / 3) + 1 });
  }, 120_000);
});
