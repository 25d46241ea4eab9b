import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { credentials, Server, ServerCredentials, type ServerUnaryCall } from '@grpc/grpc-js';
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

describe('listenForClients with real etcdctl', () => {
  const authorities: string[] = [];
  let server: Server;
  let listener: ClientListener;
  let port: number;

  beforeAll(async () => {
    server = new Server();
    server.addService(etcdserverpb.MaintenanceService, tinyMaintenance(authorities));
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
    const calls = 20_000;
    const inFlight = 64;
    const measure = async (port: number, authority?: string): Promise<number> => {
      const client = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(),
        authority ? { 'grpc.default_authority': authority } : {});
      await statusOver(client); // connect
      const start = process.hrtime.bigint();
      let next = 0;
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (next++ < calls) await statusOver(client);
      }));
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      client.close();
      return ms;
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

    const bindMs = await measure(plainPort);
    const fastMs = await measure(port);
    const slowMs = await measure(port, `http://127.0.0.1:${port}`);
    const rate = (ms: number): string => `${Math.round(calls / (ms / 1000))}/s`;
    console.log(`[client-listener] ${calls} unary Status calls, ${inFlight} in flight: bindAsync ${bindMs.toFixed(0)} ms (${rate(bindMs)}), ` +
      `listenForClients fast path ${fastMs.toFixed(0)} ms (${rate(fastMs)}, ${((fastMs / bindMs - 1) * 100).toFixed(1)}%), ` +
      `slow path (URL :authority) ${slowMs.toFixed(0)} ms (${rate(slowMs)}, ${((slowMs / bindMs - 1) * 100).toFixed(1)}%)`);
    expect(authorities.length).toBe(2 * (calls + 1));

    await listener.close();
    await new Promise<void>((resolve) => injected.tryShutdown(() => resolve()));
    await new Promise<void>((resolve) => plain.tryShutdown(() => resolve()));
  }, 120_000);
});
