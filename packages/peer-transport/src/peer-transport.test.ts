import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, peerServiceDefinition, STREAM_PATH } from './peer-service.js';
import { PeerTransport, type PeerTransportLimits, type PeerTransportOptions } from './peer-transport.js';

const CLUSTER = 0xc1a57e5n;

/** Resolves waiters whenever something happens, so tests await events instead of sleeping. */
class Events {
  private waiters: (() => void)[] = [];
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

interface Member {
  id: bigint;
  t: PeerTransport;
  url: string;
  /** Received messages as text, per sender. */
  got: Map<bigint, string[]>;
  /** Number of frames received, per sender. */
  batches: Map<bigint, number>;
  unreachable: bigint[];
  events: Events;
}

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const fastLimits: Partial<PeerTransportLimits> = { backoffInitialMs: 20, backoffMaxMs: 200, dialTimeoutMs: 2_000 };

async function member(id: bigint, opts: Partial<PeerTransportOptions> & { url?: string; limits?: Partial<PeerTransportLimits> } = {}): Promise<Member> {
  const events = new Events();
  const m: Member = { id, t: undefined as unknown as PeerTransport, url: '', got: new Map(), batches: new Map(), unreachable: [], events };
  m.t = new PeerTransport({
    selfId: id,
    clusterId: CLUSTER,
    onMessages: (from, msgs) => {
      const list = m.got.get(from) ?? [];
      for (const msg of msgs) list.push(Buffer.from(msg).toString());
      m.got.set(from, list);
      m.batches.set(from, (m.batches.get(from) ?? 0) + 1);
      events.notify();
    },
    onSnapshot: async (_from, _meta, data) => {
      for await (const _ of data);
    },
    onUnreachable: (peer) => {
      m.unreachable.push(peer);
      events.notify();
    },
    ...opts,
    limits: { ...fastLimits, ...opts.limits },
  });
  open.push(m.t);
  const [bound] = await m.t.listen([opts.url ?? 'http://127.0.0.1:0']);
  m.url = `http://${bound}`;
  return m;
}

const text = (s: string) => Buffer.from(s);
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
const got = (m: Member, from: bigint) => m.got.get(from) ?? [];
const range = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A loopback URL with nothing listening: bound, then released. */
async function deadUrl(): Promise<string> {
  const t = new PeerTransport({ selfId: 99n, clusterId: CLUSTER, onMessages: () => {}, onSnapshot: async () => {} });
  const [bound] = await t.listen(['http://127.0.0.1:0']);
  await t.close();
  return `http://${bound}`;
}

describe('PeerTransport messages', () => {
  it('refuses a removed member, which is told to stop', async () => {
    let stopped = 0;
    const a = await member(1n, { onRemoved: () => { stopped++; a.events.notify(); } });
    const b = await member(2n, { isRemoved: (id) => id === 1n });
    a.t.addPeer(2n, [b.url]);
    a.t.send(2n, text('hello'));
    await a.events.until(() => stopped > 0);
    expect(got(b, 1n)).toEqual([]);
    expect(b.t.stats().refusedCalls).toBeGreaterThan(0);
  });

  it('speaks the raw stream to a member that serves it, the gRPC stream to one that serves only gRPC (an older build)', async () => {
    const streams: string[] = [];
    const logger = { debug() {}, warn() {}, error() {}, info: (msg: string, f?: Record<string, unknown>) => {
      if (msg === 'peer stream established') streams.push(`${String(f?.['remote-peer-id'])}:${String(f?.['stream'])}`);
    } };
    const a = await member(1n, { logger });
    const b = await member(2n);
    const legacy = new PeerTransport({ selfId: 3n, clusterId: CLUSTER, onMessages: () => {}, onSnapshot: async () => {} });
    open.push(legacy);
    const server = new Server(legacy.serverOptions());
    server.addService(legacy.service().definition, legacy.service().implementation);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    try {
      a.t.addPeer(2n, [b.url]);
      a.t.addPeer(3n, [`http://127.0.0.1:${port}`]);
      a.t.send(2n, text('x'));
      a.t.send(3n, text('y'));
      while (streams.length < 2) await new Promise((r) => setTimeout(r, 5));
      expect(streams.sort()).toEqual(['2:raw', '3:grpc']);
    } finally {
      server.forceShutdown();
    }
  });

  it('delivers messages from A to B in the order sent, across turns', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    const want = range(60, 'm');
    for (let i = 0; i < want.length; i++) {
      a.t.send(2n, text(want[i]!));
      if (i % 7 === 0) await nextTurn();
    }
    await b.events.until(() => got(b, 1n).length === want.length);
    expect(got(b, 1n)).toEqual(want);
    const s = a.t.stats().peers.get(2n)!;
    expect(s.sentMessages).toBe(60);
    expect(s.drops).toBe(0);
    expect(b.t.stats().unknownSenderMessages).toBe(60); // B never added A
  });

  it('serves on a grpc Server the caller owns, through service() and serverOptions()', async () => {
    const a = await member(1n);
    const received: string[] = [];
    const events = new Events();
    const owned = new PeerTransport({
      selfId: 2n,
      clusterId: CLUSTER,
      onMessages: (_from, msgs) => {
        for (const m of msgs) received.push(Buffer.from(m).toString());
        events.notify();
      },
      onSnapshot: async () => {},
    });
    open.push(owned);
    const server = new Server(owned.serverOptions());
    const { definition, implementation } = owned.service();
    server.addService(definition, implementation);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    try {
      a.t.addPeer(2n, [`http://127.0.0.1:${port}`]);
      // A frame above grpc-js's default 4 MiB receive limit: serverOptions() must lift it.
      const big = Buffer.alloc(5 * 1024 * 1024, 0x61);
      a.t.send(2n, text('small'));
      a.t.send(2n, big);
      await events.until(() => received.length === 2);
      expect(received[0]).toBe('small');
      expect(received[1]!.length).toBe(big.byteLength);
    } finally {
      server.forceShutdown();
    }
  });

  it('coalesces 100 sends in one turn into one frame', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    b.t.addPeer(1n, [a.url]);
    a.t.send(2n, text('warm-up'));
    await b.events.until(() => got(b, 1n).length === 1);
    const before = b.batches.get(1n)!;
    const want = range(100, 'x');
    for (const w of want) a.t.send(2n, text(w));
    await b.events.until(() => got(b, 1n).length === 101);
    expect(b.batches.get(1n)! - before).toBe(1);
    expect(got(b, 1n).slice(1)).toEqual(want);
    expect(a.t.stats().peers.get(2n)!.sentBatches).toBe(2);
    expect(b.t.stats().peers.get(1n)).toMatchObject({ receivedBatches: 2, receivedMessages: 101 });
  });

  it('cuts a turn larger than maxMessagesPerFrame into several frames, in order', async () => {
    const a = await member(1n, { limits: { maxMessagesPerFrame: 30 } });
    const b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    const want = range(100, 'y');
    for (const w of want) a.t.send(2n, text(w));
    await b.events.until(() => got(b, 1n).length === 100);
    expect(got(b, 1n)).toEqual(want);
    expect(b.batches.get(1n)).toBe(4);
  });

  it('three members each sending to the other two', async () => {
    const ms = [await member(1n), await member(2n), await member(3n)];
    for (const m of ms) for (const p of ms) if (p !== m) m.t.addPeer(p.id, [p.url]);
    for (let round = 0; round < 5; round++) {
      for (const m of ms) for (const p of ms) if (p !== m) for (let i = 0; i < 4; i++) m.t.send(p.id, text(`${m.id}>${p.id}:${round * 4 + i}`));
      await nextTurn();
    }
    for (const p of ms) {
      await p.events.until(() => ms.every((m) => m === p || got(p, m.id).length === 20));
      for (const m of ms) if (m !== p) expect(got(p, m.id)).toEqual(range(20, `${m.id}>${p.id}:`));
    }
  });

  it('a dead peer (nothing listening) fills its queue and drops, while a live peer gets everything', async () => {
    const a = await member(1n, { limits: { maxQueuedMessages: 8 } });
    const b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    a.t.addPeer(3n, [await deadUrl()]);
    // One message per turn to each: the live peer's queue empties every turn, the dead one's
    // only grows. (A queue must hold one turn's sends: they are flushed together.)
    for (let i = 0; i < 20; i++) {
      expect(a.t.send(3n, text(`d${i}`))).toBe(i < 8);
      a.t.send(2n, text(`l${i}`));
      await nextTurn();
    }
    await b.events.until(() => got(b, 1n).length === 20);
    expect(got(b, 1n)).toEqual(range(20, 'l'));
    await a.events.until(() => a.unreachable.includes(3n));
    // Unreachable is reported in a later turn, never from inside send().
    const reported = a.unreachable.length;
    expect(a.t.send(3n, text('more'))).toBe(false);
    expect(a.unreachable.length).toBe(reported);
    const s = a.t.stats().peers;
    expect(s.get(3n)).toMatchObject({ drops: 13, queuedMessages: 8, sentMessages: 0, active: false });
    expect(s.get(2n)).toMatchObject({ drops: 0, queuedMessages: 0, active: true });
    expect(a.unreachable).not.toContain(2n);
  });

  it('a peer whose server stops mid-way drops; the others keep receiving', async () => {
    const a = await member(1n, { limits: { maxQueuedMessages: 8 } });
    const b = await member(2n);
    const c = await member(3n);
    a.t.addPeer(2n, [b.url]);
    a.t.addPeer(3n, [c.url]);
    for (let i = 0; i < 5; i++) {
      a.t.send(2n, text(`b${i}`));
      a.t.send(3n, text(`c${i}`));
    }
    await c.events.until(() => got(c, 1n).length === 5);
    await c.t.close();
    await a.events.until(() => a.unreachable.includes(3n));
    for (let i = 5; i < 25; i++) {
      a.t.send(2n, text(`b${i}`));
      a.t.send(3n, text(`c${i}`));
      await nextTurn();
    }
    await b.events.until(() => got(b, 1n).length === 25);
    expect(got(b, 1n)).toEqual(range(25, 'b'));
    expect(a.t.stats().peers.get(3n)!.drops).toBe(12);
    expect(a.t.stats().peers.get(2n)!.drops).toBe(0);
  });

  it('a slow peer (accepts, never reads) fills HTTP/2 and then its queue, and drops, while a live peer gets everything', async () => {
    // A peer stuck like a SIGSTOPped process: the stream is accepted, nothing is ever read.
    const stuck = new Server();
    stuck.addService(peerServiceDefinition, {
      Stream: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.sendMetadata(new Metadata());
        call.pause();
      },
      Snapshot: () => {},
    });
    const port = await new Promise<number>((res, rej) => stuck.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    try {
      const a = await member(1n, { limits: { maxQueuedBytes: 2 * 1024 * 1024, maxInflightBytes: 1024 * 1024 } });
      const b = await member(2n);
      a.t.addPeer(2n, [b.url]);
      a.t.addPeer(3n, [`http://127.0.0.1:${port}`]);
      // It serves gRPC only (as an older member): the raw hello is refused first, then the gRPC stream is up.
      while (!a.t.stats().peers.get(3n)!.active) await nextTurn();
      const big = Buffer.alloc(256 * 1024, 1);
      let turns = 0;
      // Bounded: 400 turns × 256 KiB = 100 MiB would be far past any buffer on the way.
      while (a.t.stats().peers.get(3n)!.drops === 0 && turns < 400) {
        a.t.send(3n, big);
        a.t.send(2n, text(`l${turns}`));
        turns++;
        await nextTurn();
      }
      await b.events.until(() => got(b, 1n).length === turns);
      expect(got(b, 1n)).toEqual(range(turns, 'l'));
      const s3 = a.t.stats().peers.get(3n)!;
      console.log(`slow peer: first drop after ${turns} turns (${((turns * big.byteLength) / 2 ** 20).toFixed(1)} MiB offered), ${(s3.sentBytes / 2 ** 20).toFixed(1)} MiB written`);
      expect(s3.drops).toBeGreaterThan(0);
      expect(s3.queuedBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
      expect(s3.active).toBe(true);
      await a.events.until(() => a.unreachable.includes(3n));
      expect(a.t.stats().peers.get(2n)!.drops).toBe(0);
    } finally {
      stuck.forceShutdown();
    }
  });

  it('a peer that accepts TCP but never answers is abandoned after the dial timeout and redialled', async () => {
    const sockets: Socket[] = [];
    let accepted = 0;
    const events = new Events();
    const silent = createServer((sock) => {
      sockets.push(sock);
      accepted++;
      events.notify();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const a = await member(1n, { limits: { dialTimeoutMs: 100 } });
      const port = (silent.address() as { port: number }).port;
      a.t.addPeer(3n, [`http://127.0.0.1:${port}`]);
      a.t.send(3n, text('never'));
      await a.events.until(() => a.unreachable.filter((p) => p === 3n).length >= 2);
      await events.until(() => accepted >= 1);
      expect(a.t.stats().peers.get(3n)).toMatchObject({ active: false, sentMessages: 0, queuedMessages: 1 });
      expect(a.t.stats().peers.get(3n)!.streamFailures).toBeGreaterThanOrEqual(2);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('reconnects after the peer restarts on the same port, delivering what was queued meanwhile', async () => {
    const a = await member(1n);
    let b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    a.t.send(2n, text('before'));
    await b.events.until(() => got(b, 1n).length === 1);
    await b.t.close();
    await a.events.until(() => a.unreachable.includes(2n));
    a.t.send(2n, text('while-down-1'));
    a.t.send(2n, text('while-down-2'));
    b = await member(2n, { url: b.url });
    await b.events.until(() => got(b, 1n).length === 2);
    expect(got(b, 1n)).toEqual(['while-down-1', 'while-down-2']);
    const s = a.t.stats().peers.get(2n)!;
    expect(s.reconnects).toBe(1);
    expect(s.streamFailures).toBeGreaterThanOrEqual(1);
  });

  it('updatePeer moves a peer to new URLs; removePeer stops sending', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.addPeer(2n, [await deadUrl()]);
    a.t.send(2n, text('queued'));
    a.t.updatePeer(2n, [b.url]);
    await b.events.until(() => got(b, 1n).length === 1);
    expect(got(b, 1n)).toEqual(['queued']);
    a.t.removePeer(2n);
    expect(a.t.send(2n, text('gone'))).toBe(false);
    expect(a.t.stats()).toMatchObject({ unknownPeerSends: 1 });
    expect(a.t.stats().peers.has(2n)).toBe(false);
  });

  it('refuses a message that cannot fit in one frame, and bad peer definitions', async () => {
    const a = await member(1n, { limits: { maxFrameBytes: 1024, snapshotChunkBytes: 512 } });
    a.t.addPeer(2n, [await deadUrl()]);
    expect(() => a.t.send(2n, new Uint8Array(1017))).toThrow(RangeError);
    expect(a.t.send(2n, new Uint8Array(1016))).toBe(true);
    expect(() => a.t.addPeer(2n, ['http://127.0.0.1:1'])).toThrow(/already added/);
    expect(() => a.t.addPeer(1n, ['http://127.0.0.1:1'])).toThrow(/self/);
    expect(() => a.t.addPeer(5n, [])).toThrow(TypeError);
    expect(() => a.t.addPeer(5n, ['unix:///tmp/x'])).toThrow(TypeError);
    expect(() => a.t.addPeer(5n, ['https://127.0.0.1:2380'])).toThrow(/credentials/);
    expect(() => new PeerTransport({ selfId: 1n, clusterId: 1n, onMessages() {}, onSnapshot: async () => {}, limits: { maxQueuedMessages: 0 } })).toThrow(RangeError);
  });
});

/** Opens a raw Stream call with the given headers and returns how the receiver ended it. */
function rawStream(url: string, headers: Record<string, string>): Promise<{ code: number; details: string }> {
  const client = new Client(new URL(url).host, credentials.createInsecure());
  const md = new Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const call = client.makeBidiStreamRequest(STREAM_PATH, (b: Buffer) => b, (b: Buffer) => b, md);
  return new Promise((resolve) => {
    call.on('metadata', () => {
      call.cancel();
      resolve({ code: status.OK, details: 'accepted' });
    });
    call.on('error', (e: ServiceError) => resolve({ code: e.code, details: e.details }));
    call.on('data', () => {});
  }).finally(() => client.close()) as Promise<{ code: number; details: string }>;
}

describe('PeerTransport admission', () => {
  it.each([
    ['accepts a member of its cluster', { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: '1', [HEADER_TO]: '2' }, status.OK, 'accepted'],
    ['refuses another cluster', { [HEADER_CLUSTER_ID]: 'beef', [HEADER_FROM]: '1', [HEADER_TO]: '2' }, status.FAILED_PRECONDITION, 'raftkv: cluster ID mismatch'],
    ['refuses a call meant for another member', { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: '1', [HEADER_TO]: '7' }, status.FAILED_PRECONDITION, 'raftkv: to member ID mismatch'],
    ['refuses an unknown sender when checking', { [HEADER_CLUSTER_ID]: CLUSTER.toString(16), [HEADER_FROM]: '9', [HEADER_TO]: '2' }, status.FAILED_PRECONDITION, 'raftkv: unknown sender member ID'],
    ['refuses missing headers', { [HEADER_CLUSTER_ID]: CLUSTER.toString(16) }, status.INVALID_ARGUMENT, 'raftkv: missing or malformed peer header'],
    ['refuses a malformed ID', { [HEADER_CLUSTER_ID]: 'xyz', [HEADER_FROM]: '1', [HEADER_TO]: '2' }, status.INVALID_ARGUMENT, 'raftkv: missing or malformed peer header'],
  ])('%s', async (_name, headers, code, details) => {
    const b = await member(2n, { checkSender: true });
    b.t.addPeer(1n, ['http://127.0.0.1:1']);
    expect(await rawStream(b.url, headers)).toEqual({ code, details });
  });

  it('keeps one inbound stream per sender (a newer one replaces the older) and caps inbound streams', async () => {
    const b = await member(2n, { limits: { maxInboundStreams: 1 } });
    const dial = (from: string) => {
      const client = new Client(new URL(b.url).host, credentials.createInsecure());
      const md = new Metadata();
      md.set(HEADER_CLUSTER_ID, CLUSTER.toString(16));
      md.set(HEADER_FROM, from);
      md.set(HEADER_TO, '2');
      const call = client.makeBidiStreamRequest(STREAM_PATH, (x: Buffer) => x, (x: Buffer) => x, md);
      call.on('data', () => {});
      call.on('error', () => {});
      const accepted = new Promise<void>((r) => call.on('metadata', () => r()));
      const ended = new Promise<{ code: number; details: string }>((r) => call.on('status', (st) => r({ code: st.code, details: st.details })));
      return { accepted, ended, close: () => (call.cancel(), client.close()) };
    };
    const first = dial('1');
    await first.accepted;
    const second = dial('1');
    await second.accepted;
    expect((await first.ended).code).toBe(status.OK);
    const other = dial('3');
    expect(await other.ended).toEqual({ code: status.RESOURCE_EXHAUSTED, details: 'raftkv: too many peer streams' });
    for (const c of [first, second, other]) c.close();
  });

  it('a member of another cluster gets nothing delivered and keeps being refused', async () => {
    const a = await member(1n, { clusterId: 0xbadn });
    const b = await member(2n);
    a.t.addPeer(2n, [b.url]);
    a.t.send(2n, text('hello'));
    await a.events.until(() => a.unreachable.includes(2n));
    expect(b.got.size).toBe(0);
    expect(b.t.stats().refusedCalls).toBeGreaterThanOrEqual(1);
    expect(a.t.stats().peers.get(2n)).toMatchObject({ active: false, sentMessages: 0, queuedMessages: 1 });
  });

  it('a malformed frame ends the stream with INVALID_ARGUMENT', async () => {
    const b = await member(2n);
    const client = new Client(new URL(b.url).host, credentials.createInsecure());
    const md = new Metadata();
    md.set(HEADER_CLUSTER_ID, CLUSTER.toString(16));
    md.set(HEADER_FROM, '1');
    md.set(HEADER_TO, '2');
    const call = client.makeBidiStreamRequest(STREAM_PATH, (x: Buffer) => x, (x: Buffer) => x, md);
    const ended = new Promise<ServiceError>((r) => call.on('error', r));
    call.on('data', () => {});
    call.write(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 1]));
    const err = await ended;
    client.close();
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/runs past the end/);
    expect(b.t.stats().badFrames).toBe(1);
    expect(b.got.size).toBe(0);
  });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('PeerTransport snapshots', () => {
  it('streams a 10 MiB snapshot intact, in chunks of at most 1 MiB', async () => {
    const snapshot = randomBytes(10 * 1024 * 1024);
    const chunks: number[] = [];
    let received: { from: bigint; meta: string; hash: string } | undefined;
    const a = await member(1n);
    const b = await member(2n, {
      onSnapshot: async (from, meta, data) => {
        const parts: Buffer[] = [];
        for await (const c of data) {
          chunks.push(c.byteLength);
          parts.push(Buffer.from(c));
        }
        received = { from, meta: Buffer.from(meta).toString(), hash: sha(Buffer.concat(parts)) };
      },
    });
    a.t.addPeer(2n, [b.url]);
    b.t.addPeer(1n, [a.url]);
    async function* pieces() {
      // Odd piece sizes: the sender re-cuts them into chunks.
      for (let off = 0; off < snapshot.byteLength; off += 700_001) yield snapshot.subarray(off, off + 700_001);
    }
    expect(await a.t.sendSnapshot(2n, text('msgsnap'), pieces())).toBe(true);
    expect(received).toEqual({ from: 1n, meta: 'msgsnap', hash: sha(snapshot) });
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1024 * 1024);
    expect(a.t.stats().peers.get(2n)!.snapshotsSent).toBe(1);
    expect(b.t.stats().peers.get(1n)!.snapshotsReceived).toBe(1);
  });

  it('reads the source only as fast as the receiver consumes (backpressure)', async () => {
    const MiB = 1024 * 1024;
    const piece = Buffer.alloc(MiB, 7);
    const total = 64;
    let pulled = 0;
    let maxAhead = 0;
    const a = await member(1n);
    const b = await member(2n, {
      onSnapshot: async (_from, _meta, data) => {
        let consumed = 0;
        for await (const c of data) {
          consumed += c.byteLength;
          maxAhead = Math.max(maxAhead, pulled * MiB - consumed);
          for (let i = 0; i < 3; i++) await nextTurn(); // a slow consumer
        }
      },
    });
    a.t.addPeer(2n, [b.url]);
    async function* source() {
      for (; pulled < total; ) {
        pulled++;
        yield piece;
      }
    }
    expect(await a.t.sendSnapshot(2n, text('m'), source())).toBe(true);
    console.log(`snapshot backpressure: sender at most ${(maxAhead / MiB).toFixed(1)} MiB ahead of a slow receiver (of ${total} MiB)`);
    // maxInflightBytes (4 MiB by default) + the chunk being written + the one the source yielded.
    expect(maxAhead).toBeLessThanOrEqual(6 * MiB);
  });

  it('fails when the receiver rejects, when the source throws, and for an unknown peer', async () => {
    let sawError: unknown;
    let chunksSeen = 0;
    const a = await member(1n);
    const b = await member(2n, {
      onSnapshot: async (_from, meta, data) => {
        try {
          for await (const _ of data) {
            chunksSeen++;
            b.events.notify();
          }
        } catch (err) {
          sawError = err;
          b.events.notify();
          throw err;
        }
        if (Buffer.from(meta).toString() === 'reject') throw new Error('no thanks');
      },
    });
    a.t.addPeer(2n, [b.url]);
    async function* ok() {
      yield Buffer.from('abc');
    }
    async function* broken() {
      yield Buffer.from('abc');
      // Fail only once the receiver is reading, so it must notice the sender went away.
      await b.events.until(() => chunksSeen > 1);
      throw new Error('disk read failed');
    }
    expect(await a.t.sendSnapshot(2n, text('reject'), ok())).toBe(false);
    expect(await a.t.sendSnapshot(2n, text('m'), broken())).toBe(false);
    await b.events.until(() => sawError !== undefined);
    expect(String(sawError)).toMatch(/stopped before the end|cancel/i);
    expect(await a.t.sendSnapshot(3n, text('m'), ok())).toBe(false);
    expect(await a.t.sendSnapshot(2n, text('m'), ok())).toBe(true);
    expect(a.t.stats().peers.get(2n)).toMatchObject({ snapshotsSent: 1, snapshotsFailed: 2 });
  });
});

describe('TLS between members', () => {
  /** A CA and one certificate for 127.0.0.1 (server and client auth), made by openssl. */
  async function pki(): Promise<{ ca: Buffer; key: Buffer; cert: Buffer; cleanup(): void }> {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'peer-transport-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=peer-ca');
    writeFileSync(join(dir, 'm.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'm.key', '-out', 'm.csr', '-subj', '/CN=member');
    ssl('x509', '-req', '-in', 'm.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'm.crt', '-days', '1', '-extfile', 'm.ext');
    const f = (n: string) => readFileSync(join(dir, n));
    return { ca: f('ca.crt'), key: f('m.key'), cert: f('m.crt'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it('dials https URLs with the credentials (mutual TLS) and http URLs without them', async () => {
    const p = await pki();
    try {
      const creds = {
        channel: credentials.createSsl(p.ca, p.key, p.cert),
        server: ServerCredentials.createSsl(p.ca, [{ private_key: p.key, cert_chain: p.cert }], true),
      };
      const a = await member(1n, { credentials: creds, url: 'https://127.0.0.1:0' });
      const b = await member(2n, { credentials: creds });
      const aUrl = a.url.replace(/^http:/, 'https:');
      a.t.addPeer(2n, [b.url]);
      b.t.addPeer(1n, [aUrl]);
      a.t.send(2n, text('a→b plain'));
      b.t.send(1n, text('b→a tls'));
      await b.events.until(() => got(b, 1n).length === 1);
      await a.events.until(() => got(a, 2n).length === 1);
      expect([got(b, 1n), got(a, 2n)]).toEqual([['a→b plain'], ['b→a tls']]);
      // The https listener refuses a caller without a client certificate.
      const bare = new Client(new URL(aUrl).host, credentials.createSsl(p.ca));
      const refused = await new Promise<ServiceError | undefined>((resolve) => {
        bare.makeUnaryRequest('/x/y', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + 5_000 }, (err) => resolve(err ?? undefined));
      });
      bare.close();
      expect(refused?.code).toBe(status.UNAVAILABLE);
    } finally {
      p.cleanup();
    }
  });
});
