import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { credentials, Metadata, Server, ServerCredentials, type ServerUnaryCall } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorityOfUrl, listenForClients, type ClientListener } from './client-listener.js';
import { encodeHeaderBlock, HeaderBlockDecoder, type HeaderField } from './hpack/header-block.js';
import { notImplemented, unary } from './unary.js';

const run = promisify(execFile);

/** Maintenance with Status and HashKV only; records every request's :authority as the server saw it. */
function tinyMaintenance(authorities: string[]): etcdserverpb.MaintenanceServer {
  const header = { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n };
  const seen = <Req>(call: ServerUnaryCall<Req, unknown>): void => { authorities.push(call.getHost()); };
  return {
    status: (call, cb) => {
      seen(call);
      unary(() => ({
        header, version: '3.4.23', dbSize: 4096n, dbSizeInUse: 4096n, leader: 2n, raftIndex: 9n, raftTerm: 3n,
        raftAppliedIndex: 9n, errors: [], isLearner: false, storageVersion: '', dbSizeQuota: 0n, downgradeInfo: undefined,
      }))(call, cb);
    },
    hashKv: (call, cb) => {
      seen(call);
      unary(() => ({ header, hash: 1234, compactRevision: 0n, hashRevision: 7n }))(call, cb);
    },
    alarm: notImplemented('Maintenance.Alarm'),
    hash: notImplemented('Maintenance.Hash'),
    defragment: notImplemented('Maintenance.Defragment'),
    snapshot: (call) => call.destroy(new Error('not implemented')),
    moveLeader: notImplemented('Maintenance.MoveLeader'),
    downgrade: notImplemented('Maintenance.Downgrade'),
  } as etcdserverpb.MaintenanceServer;
}

async function etcdctl(...args: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', ['--dial-timeout', '5s', '--command-timeout', '10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  return stdout;
}

function statusOver(client: etcdserverpb.MaintenanceClient): Promise<etcdserverpb.StatusResponse> {
  return new Promise((resolve, reject) => client.status({}, (err, res) => (err ? reject(err) : resolve(res))));
}

/** One HTTP/2 frame: 9-byte header then payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/**
 * A hand-written HTTP/2 client: sends `requests` (header blocks, already framed by the
 * caller) each followed by an empty gRPC message, acknowledges SETTINGS, and resolves with
 * the grpc-status of each stream's trailers, decoded with the server's HPACK context.
 */
function rawGrpc(port: number, requests: Array<{ stream: number; frames: Buffer[] }>): Promise<Map<number, string>> {
  return new Promise((resolve, reject) => {
    const statuses = new Map<number, string>();
    const decoder = new HeaderBlockDecoder();
    let pending = Buffer.alloc(0);
    let sent = false;
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed with statuses ${JSON.stringify([...statuses])}`)));
    s.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const length = pending.readUIntBE(0, 3);
        const [type, flags] = [pending[3]!, pending[4]!];
        const stream = pending.readUInt32BE(5);
        const payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type === 4 && (flags & 1) === 0) {
          s.write(frame(4, 1, 0, Buffer.alloc(0)));
          if (!sent) {
            sent = true;
            for (const r of requests) s.write(Buffer.concat([...r.frames, frame(0, 1, r.stream, Buffer.from([0, 0, 0, 0, 0]))]));
          }
        }
        if (type === 3) { s.destroy(); reject(new Error(`stream ${stream} reset with code ${payload.readUInt32BE(0)}`)); }
        if (type === 1) { // the server sends neither padding nor priority, nor blocks over one frame here
          for (const f of decoder.decode(payload)) if (f.name === 'grpc-status') statuses.set(stream, f.value);
          if (statuses.size === requests.length) { s.removeAllListeners('close'); s.destroy(); resolve(statuses); }
        }
      }
    });
  });
}

describe('listenForClients with real etcdctl', () => {
  const authorities: string[] = [];
  let server: Server;
  let listener: ClientListener;
  let port: number;

  beforeAll(async () => {
    server = new Server({ 'grpc.max_metadata_size': 64 * 1024 });
    server.addService(etcdserverpb.MaintenanceService, tinyMaintenance(authorities));
    // One member whose client URL is this listener: what `endpoint status --cluster` dials.
    server.addService(etcdserverpb.ClusterService, {
      memberList: unary(() => ({
        header: { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n },
        members: [{ ID: 2n, name: 'm1', peerURLs: ['http://127.0.0.1:1'], clientURLs: [`http://127.0.0.1:${port}`], isLearner: false }],
      })),
      memberAdd: notImplemented('Cluster.MemberAdd'),
      memberRemove: notImplemented('Cluster.MemberRemove'),
      memberUpdate: notImplemented('Cluster.MemberUpdate'),
      memberPromote: notImplemented('Cluster.MemberPromote'),
    } as etcdserverpb.ClusterServer);
    listener = await listenForClients(server, [new URL('http://127.0.0.1:0')], ServerCredentials.createInsecure());
    port = Number(listener.endpoints[0]!.split(':')[1]);
  });
  afterAll(async () => {
    await listener.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('reports host:boundPort for port 0', () => {
    expect(listener.endpoints).toEqual([`127.0.0.1:${port}`]);
    expect(port).toBeGreaterThan(0);
  });

  it('serves etcdctl endpoint status with a URL endpoint (slow path), the server seeing host:port', async () => {
    authorities.length = 0;
    const out = JSON.parse(await etcdctl('--endpoints', `http://127.0.0.1:${port}`, 'endpoint', 'status', '-w', 'json'));
    expect(out).toHaveLength(1);
    expect(out[0].Endpoint).toBe(`http://127.0.0.1:${port}`);
    expect(out[0].Status.version).toBe('3.4.23');
    expect(out[0].Status.raftTerm).toBe(3);
    expect(authorities).toEqual([`127.0.0.1:${port}`]);
  });

  it('serves etcdctl endpoint status with a host:port endpoint (fast path)', async () => {
    authorities.length = 0;
    const out = JSON.parse(await etcdctl('--endpoints', `127.0.0.1:${port}`, 'endpoint', 'status', '-w', 'json'));
    expect(out[0].Status.version).toBe('3.4.23');
    expect(authorities).toEqual([`127.0.0.1:${port}`]);
  });

  it('serves etcdctl endpoint status --cluster (members\' client URLs)', async () => {
    authorities.length = 0;
    const out = JSON.parse(await etcdctl('--endpoints', `127.0.0.1:${port}`, 'endpoint', 'status', '--cluster', '-w', 'json'));
    expect(out.map((e: { Endpoint: string }) => e.Endpoint)).toEqual([`http://127.0.0.1:${port}`]);
    expect(out[0].Status.version).toBe('3.4.23');
    expect(authorities).toEqual([`127.0.0.1:${port}`]);
  });

  it('serves endpoint hashkv and status over several URL endpoints in one etcdctl call', async () => {
    authorities.length = 0;
    const eps = [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `127.0.0.1:${port}`].join(',');
    const hashes = JSON.parse(await etcdctl('--endpoints', eps, 'endpoint', 'hashkv', '-w', 'json'));
    expect(hashes.map((h: { HashKV: { hash: number } }) => h.HashKV.hash)).toEqual([1234, 1234, 1234]);
    const statuses = JSON.parse(await etcdctl('--endpoints', eps, 'endpoint', 'status', '-w', 'json'));
    expect(statuses).toHaveLength(3);
    expect(authorities.filter((a) => a.includes('://'))).toEqual([]);
    expect(authorities).toContain(`localhost:${port}`);
  });

  it('rewrites every request of one long-lived URL-authority connection (dynamic table in use)', async () => {
    authorities.length = 0;
    // grpc-js sends the channel's default authority as :authority, so this client behaves like etcdctl's.
    const client = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
      'grpc.default_authority': `http://127.0.0.1:${port}`,
    });
    try {
      for (let i = 0; i < 50; i++) expect((await statusOver(client)).version).toBe('3.4.23');
      // Many in flight at once: header blocks interleave with DATA frames of other streams.
      const many = await Promise.all(Array.from({ length: 200 }, () => statusOver(client)));
      expect(many.every((r) => r.raftIndex === 9n)).toBe(true);
    } finally {
      client.close();
    }
    expect(authorities).toHaveLength(250);
    expect(new Set(authorities)).toEqual(new Set([`127.0.0.1:${port}`]));
  });

  it('re-frames a header block larger than one frame as HEADERS + CONTINUATION', async () => {
    authorities.length = 0;
    const client = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
      'grpc.default_authority': `http://127.0.0.1:${port}`,
    });
    try {
      const md = new Metadata();
      // Random so HPACK cannot shrink it below one 16 KiB frame (the block grows a little when re-encoded).
      md.set('x-big', randomBytes(24_000).toString('base64').slice(0, 7_000));
      md.set('x-big-2', randomBytes(24_000).toString('base64').slice(0, 7_000));
      md.set('x-big-3', randomBytes(24_000).toString('base64').slice(0, 7_000));
      const res = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
        client.status({}, md, (err, r) => (err ? reject(err) : resolve(r))));
      expect(res.version).toBe('3.4.23');
      expect(await statusOver(client)).toMatchObject({ version: '3.4.23' });
    } finally {
      client.close();
    }
    expect(authorities).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
  });

  it('rewrites padded and prioritised HEADERS and blocks that use the client dynamic table (hand-built frames)', async () => {
    authorities.length = 0;
    const url = `http://127.0.0.1:${port}`;
    const str = (v: string): Buffer => Buffer.concat([Buffer.from([v.length]), Buffer.from(v, 'latin1')]);
    const field = (name: string, value: string): HeaderField => ({ name, value, neverIndex: false });
    const pseudo = encodeHeaderBlock([field(':method', 'POST'), field(':scheme', 'http'), field(':path', '/etcdserverpb.Maintenance/Status')]);
    const regular = encodeHeaderBlock([field('content-type', 'application/grpc'), field('te', 'trailers')]);
    const common = Buffer.concat([pseudo, regular]);
    // Stream 1: :authority as "literal with incremental indexing" (enters the dynamic table at
    // index 62), sent in a HEADERS frame with PADDED and PRIORITY (4 bytes of padding).
    const block1 = Buffer.concat([pseudo, Buffer.from([0x40]), str(':authority'), str(url), regular]);
    const headers1 = Buffer.concat([Buffer.from([4]), Buffer.from([0, 0, 0, 0, 15]), block1, Buffer.alloc(4)]);
    // Stream 3: :authority is just "indexed 62", split over HEADERS + CONTINUATION.
    const block3 = Buffer.concat([Buffer.from([0x80 | 62]), common]);
    const requests = [
      { stream: 1, frames: [frame(1, 0x4 | 0x8 | 0x20, 1, headers1)] },
      { stream: 3, frames: [frame(1, 0, 3, block3.subarray(0, 5)), frame(9, 0x4, 3, block3.subarray(5))] },
    ];
    const statuses = await rawGrpc(port, requests);
    expect([...statuses]).toEqual([[1, '0'], [3, '0']]);
    expect(authorities).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
  });

  it('survives garbage connections and still serves afterwards', async () => {
    const garbage = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.alloc(100_000, 0xff),
      // A valid preface then a HEADERS frame whose block is malformed HPACK (index 0x7f+ out of range).
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 2, 1, 5, 0, 0, 0, 1, 0xff, 0x7f])]),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00'),
    ];
    for (const bytes of garbage) {
      await new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.write(bytes); s.end(); });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    }
    const out = JSON.parse(await etcdctl('--endpoints', `http://127.0.0.1:${port}`, 'endpoint', 'status', '-w', 'json'));
    expect(out[0].Status.version).toBe('3.4.23');
  });
});

describe('HPACK header blocks', () => {
  // RFC 7541 C.4.1 and C.4.2: a request with Huffman-coded literals, then one that refers to
  // the dynamic table entry the first one added.
  it('decodes the RFC 7541 Huffman examples, keeping the dynamic table between blocks', () => {
    const d = new HeaderBlockDecoder();
    const first = d.decode(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex'));
    expect(first.map((f) => [f.name, f.value])).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    const second = d.decode(Buffer.from('828684be5886a8eb10649cbf', 'hex'));
    expect(second.map((f) => [f.name, f.value])).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
  });

  it('the re-encoding round-trips any fields and leaves the receiver table empty', () => {
    const byteString = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
    fc.assert(fc.property(fc.array(fc.record({ name: byteString, value: byteString, neverIndex: fc.boolean() }), { maxLength: 20 }),
      (fields: HeaderField[]) => {
        const d = new HeaderBlockDecoder();
        expect(d.decode(encodeHeaderBlock(fields))).toEqual(fields);
        // Nothing was indexed: a block referring to the first dynamic entry (62) must fail.
        expect(() => d.decode(Buffer.from([0x80 | 62]))).toThrow();
      }));
  });

  it('decoding arbitrary bytes returns or throws an Error, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        new HeaderBlockDecoder().decode(Buffer.from(bytes));
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
      }
    }), { numRuns: 2000 });
  });

  it.each([
    ['http://127.0.0.1:2379', '127.0.0.1:2379'],
    ['https://[::1]:2379', '[::1]:2379'],
    ['http://user@host:1/path?q', 'host:1'],
    ['unix://sock', 'sock'],
  ])('authority of %s is %s', (url, expected) => {
    expect(authorityOfUrl(url)).toBe(expected);
  });
});

describe('listener lifecycle', () => {
  it('listens on unix sockets and refuses TLS URLs', async () => {
    const server = new Server();
    server.addService(etcdserverpb.MaintenanceService, tinyMaintenance([]));
    const path = `/tmp/raftkv-client-listener-${process.pid}.sock`;
    const listener = await listenForClients(server, [new URL(`unix:${path}`)], ServerCredentials.createInsecure());
    expect(listener.endpoints).toEqual([`unix:${path}`]);
    const client = new etcdserverpb.MaintenanceClient(`unix:${path}`, credentials.createInsecure());
    expect((await statusOver(client)).version).toBe('3.4.23');
    client.close();
    await expect(listenForClients(server, [new URL('https://127.0.0.1:0')], ServerCredentials.createInsecure())).rejects.toThrow(/only http/);
    await listener.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('close() then tryShutdown completes with fast- and slow-path connections still open', async () => {
    const server = new Server();
    server.addService(etcdserverpb.MaintenanceService, tinyMaintenance([]));
    const listener = await listenForClients(server, [new URL('http://127.0.0.1:0')], ServerCredentials.createInsecure());
    const endpoint = listener.endpoints[0]!;
    const fast = new etcdserverpb.MaintenanceClient(endpoint, credentials.createInsecure());
    const slow = new etcdserverpb.MaintenanceClient(endpoint, credentials.createInsecure(), { 'grpc.default_authority': `http://${endpoint}` });
    await statusOver(fast);
    await statusOver(slow);
    await listener.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    // Nothing listens any more: a new connection is refused.
    await expect(new Promise((resolve, reject) => {
      const s = net.connect(Number(endpoint.split(':')[1]), '127.0.0.1', () => { s.destroy(); resolve('connected'); });
      s.on('error', reject);
    })).rejects.toThrow(/ECONNREFUSED/);
    fast.close();
    slow.close();
  });

  it('reports a bind error and closes what it opened', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    const server = new Server();
    await expect(listenForClients(server, [new URL('http://127.0.0.1:0'), new URL(`http://127.0.0.1:${taken}`)], ServerCredentials.createInsecure()))
      .rejects.toThrow(/EADDRINUSE/);
    blocker.close();
    server.forceShutdown();
  });
});

describe('fast path cost (printed, not asserted)', () => {
  it('unary calls through listenForClients vs bindAsync', async () => {
    const inFlight = 64;
    /** ms for `calls` Status calls on one channel (one connection), `inFlight` at a time. */
    const measure = async (client: etcdserverpb.MaintenanceClient, calls: number): Promise<number> => {
      const start = process.hrtime.bigint();
      let next = 0;
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (next++ < calls) await statusOver(client);
      }));
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const plain = new Server();
    plain.addService(etcdserverpb.MaintenanceService, tinyMaintenance([]));
    const plainPort = await new Promise<number>((resolve, reject) =>
      plain.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const injected = new Server();
    const authorities: string[] = [];
    injected.addService(etcdserverpb.MaintenanceService, tinyMaintenance(authorities));
    const listener = await listenForClients(injected, [new URL('http://127.0.0.1:0')], ServerCredentials.createInsecure());
    const port = Number(listener.endpoints[0]!.split(':')[1]);
    const variants = [
      { name: 'bindAsync', client: new etcdserverpb.MaintenanceClient(`127.0.0.1:${plainPort}`, credentials.createInsecure()), ms: [] as number[] },
      { name: 'listenForClients fast path', client: new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure()), ms: [] as number[] },
      {
        name: 'slow path (URL :authority)',
        client: new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.default_authority': `http://127.0.0.1:${port}` }),
        ms: [] as number[],
      },
    ];
    // Warm-up (connections, JIT), then rounds interleaved so machine noise hits every variant.
    for (const v of variants) await measure(v.client, 1_000);
    const calls = 5_000;
    const rounds = 4;
    for (let r = 0; r < rounds; r++) for (const v of variants) v.ms.push(await measure(v.client, calls));
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(variants[0]!.ms);
    console.log(`[client-listener] ${rounds} rounds of ${calls} unary Status calls, ${inFlight} in flight, one connection each; median per round:\n` +
      variants.map((v) => {
        const m = median(v.ms);
        return `  ${v.name}: ${m.toFixed(0)} ms (${Math.round(calls / (m / 1000))} calls/s, ${((m / base - 1) * 100).toFixed(1)}% vs bindAsync; rounds ${v.ms.map((x) => x.toFixed(0)).join(' ')})`;
      }).join('\n'));
    expect(authorities.length).toBe(2 * (1_000 + rounds * calls));

    for (const v of variants) v.client.close();
    await listener.close();
    await new Promise<void>((resolve) => injected.tryShutdown(() => resolve()));
    await new Promise<void>((resolve) => plain.tryShutdown(() => resolve()));
  }, 120_000);
});
