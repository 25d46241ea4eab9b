// The door's routing and limits with real sockets: gRPC, HTTP/1.1 and HTTP/2 on one port,
// what is closed and when, and that one connection's trouble never reaches another.
import { credentials, Metadata, Server, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame as frame } from './frame-reader.js';
import { notImplemented, unary } from '../grpc/unary.js';
import { openFrontDoor, type FrontDoor, type FrontDoorOptions } from './front-door.js';
import { encodeHeaderBlock } from './header-block.js';
import type { HttpHandler } from './http-defaults.js';
import { grpcServerOptions, resolveLimits } from './limits.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function maintenance(): etcdserverpb.MaintenanceServer {
  return {
    status: unary(() => ({
      header: { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n }, version: '3.4.23', dbSize: 4096n, dbSizeInUse: 4096n,
      leader: 2n, raftIndex: 9n, raftTerm: 3n, raftAppliedIndex: 9n, errors: [], isLearner: false, storageVersion: '', dbSizeQuota: 0n,
      downgradeInfo: undefined,
    })),
    hashKv: notImplemented('Maintenance.HashKV'),
    alarm: notImplemented('Maintenance.Alarm'),
    hash: notImplemented('Maintenance.Hash'),
    defragment: notImplemented('Maintenance.Defragment'),
    snapshot: (call) => call.destroy(new Error('not implemented')),
    moveLeader: notImplemented('Maintenance.MoveLeader'),
    downgrade: notImplemented('Maintenance.Downgrade'),
  } as etcdserverpb.MaintenanceServer;
}

/** A gRPC server with Maintenance.Status behind a door opened with `options`. */
async function openDoor(options: Partial<FrontDoorOptions> = {}, grpcOptions: Record<string, number> = {}): Promise<{ door: FrontDoor; server: Server; port: number; stop(): Promise<void> }> {
  const server = new Server(grpcOptions);
  server.addService(etcdserverpb.MaintenanceService, maintenance());
  const door = await openFrontDoor({ grpcServer: server, clientUrls: [new URL('http://127.0.0.1:0')], ...options });
  const port = Number(door.endpoints[0]!.split(':')[1]);
  return {
    door, server, port,
    stop: async () => {
      await door.close();
      server.forceShutdown();
    },
  };
}

async function grpcStatus(port: number, authority?: string): Promise<string> {
  const client = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(),
    authority === undefined ? {} : { 'grpc.default_authority': authority });
  try {
    const res = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
      client.status({}, new Metadata(), { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r))));
    return res.version;
  } finally {
    client.close();
  }
}

interface HttpAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function http1(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function http2Get(port: number, path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': path, ...headers });
    let status = 0;
    let answerHeaders: Record<string, string | string[] | undefined> = {};
    let body = '';
    req.on('response', (h) => { status = Number(h[':status']); answerHeaders = h; });
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => { session.close(); resolve({ status, headers: answerHeaders, body }); });
    req.on('error', (err) => { session.destroy(); reject(err); });
    req.end();
  });
}

/** Opens a raw connection, writes `bytes`, and resolves with what came back once the door closed it (or `waitMs` passed: then `closed` is false). */
function rawExchange(port: number, bytes: Buffer, waitMs: number): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => { if (bytes.length > 0) s.write(bytes); });
    const timer = setTimeout(() => { s.destroy(); resolve({ closed: false, received: Buffer.concat(chunks) }); }, waitMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ closed: true, received: Buffer.concat(chunks) }); });
  });
}

describe('gRPC, HTTP/1.1 and HTTP/2 on one port', () => {
  let t: Awaited<ReturnType<typeof openDoor>>;
  const seen: string[] = [];
  const handler: HttpHandler = (req, res) => {
    seen.push(`${req.httpVersion} ${req.method} ${req.url}`);
    if (req.url === '/throws') throw new Error('handler bug');
    if (req.url === '/rejects') return Promise.reject(new Error('async handler bug'));
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.url}`);
  };
  beforeAll(async () => { t = await openDoor({ http: { client: handler } }); });
  afterAll(async () => { await t.stop(); });

  it('serves gRPC (host:port and URL-form :authority), HTTP/1.1 and plain HTTP/2 requests side by side', async () => {
    seen.length = 0;
    const [a, b, c, d] = await Promise.all([
      grpcStatus(t.port), grpcStatus(t.port, `http://127.0.0.1:${t.port}`), http1(t.port, '/one'), http2Get(t.port, '/two'),
    ]);
    expect([a, b]).toEqual(['3.4.23', '3.4.23']);
    expect([c.status, c.body]).toEqual([200, 'hello /one']);
    expect([d.status, d.body]).toEqual([200, 'hello /two']);
    expect(seen.sort()).toEqual(['1.1 GET /one', '2.0 GET /two']);
  });

  it('a handler that throws or rejects answers 500 and the door goes on', async () => {
    expect((await http1(t.port, '/throws')).status).toBe(500);
    expect((await http1(t.port, '/rejects')).status).toBe(500);
    expect((await http2Get(t.port, '/throws')).status).toBe(500);
    expect((await http1(t.port, '/after')).body).toBe('hello /after');
    expect(await grpcStatus(t.port)).toBe('3.4.23');
  });

  it('a gRPC request on a connection routed to HTTP is answered UNAVAILABLE and the connection closed gracefully', async () => {
    const session = http2.connect(`http://127.0.0.1:${t.port}`);
    const first = session.request({ ':path': '/first' });
    first.resume();
    await new Promise((resolve) => first.on('end', resolve));
    const grpc = session.request({ ':path': '/etcdserverpb.Maintenance/Status', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' });
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => grpc.on('response', resolve));
    expect(headers['grpc-status']).toBe('14');
    await new Promise((resolve) => session.on('goaway', resolve));
    session.destroy();
  });

  it('a non-gRPC request on a connection routed to gRPC gets grpc-js\'s 415', async () => {
    const session = http2.connect(`http://127.0.0.1:${t.port}`);
    const call = session.request({ ':path': '/etcdserverpb.Maintenance/Status', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' });
    call.end(Buffer.from([0, 0, 0, 0, 0]));
    call.resume();
    await new Promise((resolve) => call.on('close', resolve));
    const plain = session.request({ ':path': '/version' });
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => plain.on('response', resolve));
    expect(headers[':status']).toBe(415);
    session.destroy();
  });
});

describe('the default HTTP answers (no handler injected)', () => {
  let t: Awaited<ReturnType<typeof openDoor>>;
  beforeAll(async () => { t = await openDoor(); });
  afterAll(async () => { await t.stop(); });

  it('serves /version and 404s other paths, over HTTP/1.1 and HTTP/2', async () => {
    for (const get of [http1, http2Get]) {
      const v = await get(t.port, '/version');
      expect([v.status, v.headers['content-type'], v.body]).toEqual([200, 'application/json', '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}']);
      const nope = await get(t.port, '/nope');
      expect([nope.status, nope.body]).toEqual([404, '404 page not found\n']);
    }
  });
});

describe('what is not HTTP is closed, and only that connection', () => {
  let t: Awaited<ReturnType<typeof openDoor>>;
  beforeAll(async () => { t = await openDoor({ limits: { handshakeTimeoutMs: 400, headersTimeoutMs: 400 } }); });
  afterAll(async () => { await t.stop(); });

  it.each([
    ['garbage bytes', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])],
    ['a line of text', Buffer.from('hello garbage\r\n\r\n')],
    ['a malformed HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')],
    ['a preface with a wrong version', Buffer.from('PRI * HTTP/3.0\r\n\r\nSM\r\n\r\n')],
    ['a method token too long to be one', Buffer.alloc(40, 0x41)],
  ])('%s: closed without an answer, other clients unaffected', async (_name, bytes) => {
    const r = await rawExchange(t.port, bytes, 5_000);
    expect(r.closed).toBe(true);
    expect(r.received.length).toBe(0);
    expect(await grpcStatus(t.port)).toBe('3.4.23');
    expect((await http1(t.port, '/version')).status).toBe(200);
  });

  it('a malformed HTTP/1.1 request gets 400 from the HTTP server', async () => {
    const r = await rawExchange(t.port, Buffer.from('GET /version HTTP/1.1\r\nHost: a\r\nHost: b\r\nBad Header\r\n\r\n'), 5_000);
    expect(r.received.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('a socket that sends nothing, or part of a preface, is closed at the handshake timeout; a working client meanwhile is not', async () => {
    const silent = rawExchange(t.port, Buffer.alloc(0), 10_000);
    const partial = rawExchange(t.port, PREFACE.subarray(0, 10), 10_000);
    const halfMethod = rawExchange(t.port, Buffer.from('GE'), 10_000);
    // While those wait, a well-behaved client is served.
    expect(await grpcStatus(t.port)).toBe('3.4.23');
    expect((await http1(t.port, '/version')).status).toBe(200);
    for (const r of await Promise.all([silent, partial, halfMethod])) {
      expect(r.closed).toBe(true);
      expect(r.received.length).toBe(0);
    }
  });

  it('HTTP/1.1 headers that never end get 408 at headersTimeout', async () => {
    const r = await rawExchange(t.port, Buffer.from('GET /version HTTP/1.1\r\nHost: x\r\n'), 10_000);
    expect(r.closed).toBe(true);
    expect(r.received.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('an HTTP/2 client that sends its first request after the handshake timeout is still served (through the relay)', async () => {
    const authority = `http://127.0.0.1:${t.port}`;
    const client = new etcdserverpb.MaintenanceClient(`127.0.0.1:${t.port}`, credentials.createInsecure(), { 'grpc.default_authority': authority });
    try {
      // Connect and wait past the deadline before the first call.
      await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 5_000, (err) => (err ? reject(err) : resolve())));
      await new Promise((r) => setTimeout(r, 800));
      const res = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
        client.status({}, (err, r) => (err ? reject(err) : resolve(r))));
      expect(res.version).toBe('3.4.23');
    } finally {
      client.close();
    }
  });
});

describe('connection cap and idle timeouts', () => {
  it('maxConnections: one more connection is closed at accept; room again once one closes', async () => {
    const t = await openDoor({ limits: { maxConnections: 2 } });
    try {
      const held = await Promise.all([0, 1].map(() => new Promise<net.Socket>((resolve) => {
        const s = net.connect(t.port, '127.0.0.1', () => resolve(s));
        s.on('error', () => {});
      })));
      await new Promise<void>((resolve) => { const check = (): void => { if (t.door.openConnections === 2) resolve(); else setTimeout(check, 10); }; check(); });
      const third = await rawExchange(t.port, Buffer.from('GET /version HTTP/1.1\r\nHost: x\r\n\r\n'), 5_000);
      expect(third.closed).toBe(true);
      expect(third.received.length).toBe(0);
      held[0]!.destroy();
      await new Promise<void>((resolve) => { const check = (): void => { if (t.door.openConnections === 1) resolve(); else setTimeout(check, 10); }; check(); });
      expect((await http1(t.port, '/version')).status).toBe(200);
      held[1]!.destroy();
    } finally {
      await t.stop();
    }
  });

  it('idleTimeoutMs: HTTP/1.1 keep-alive and HTTP/2 connections without requests in progress are closed', async () => {
    const t = await openDoor({ limits: { idleTimeoutMs: 300 } });
    try {
      // HTTP/1.1 keep-alive: the answer, then the close.
      const r = await rawExchange(t.port, Buffer.from('GET /version HTTP/1.1\r\nHost: x\r\n\r\n'), 10_000);
      expect(r.closed).toBe(true);
      expect(r.received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
      // HTTP/2: the session gets GOAWAY after its last stream.
      const session = http2.connect(`http://127.0.0.1:${t.port}`);
      const req = session.request({ ':path': '/version' });
      req.resume();
      await new Promise((resolve) => req.on('end', resolve));
      await new Promise((resolve) => session.on('goaway', resolve));
      session.destroy();
    } finally {
      await t.stop();
    }
  });
});

describe('metrics URLs and addresses', () => {
  it('a metrics URL serves HTTP only: its handler over HTTP/1.1 and HTTP/2, 404 by default, no gRPC', async () => {
    const metrics: HttpHandler = (req, res) => { res.end(`metrics ${req.url}`); };
    const withHandler = await openDoor({ metricsUrls: [new URL('http://127.0.0.1:0')], http: { metrics } });
    const plain = await openDoor({ metricsUrls: [new URL('http://127.0.0.1:0')] });
    try {
      const port = Number(withHandler.door.metricsEndpoints[0]!.split(':')[1]);
      expect((await http1(port, '/metrics')).body).toBe('metrics /metrics');
      expect((await http2Get(port, '/health')).body).toBe('metrics /health');
      const plainPort = Number(plain.door.metricsEndpoints[0]!.split(':')[1]);
      expect((await http1(plainPort, '/version')).status).toBe(404);
      const err = await grpcStatus(plainPort).catch((e: ServiceError) => e);
      expect(err).toBeInstanceOf(Error);
    } finally {
      await withHandler.stop();
      await plain.stop();
    }
  });

  it('refuses https:// and unixs:// URLs until a TLS provider is given, and unknown schemes', async () => {
    const server = new Server();
    for (const url of ['https://127.0.0.1:0', 'unixs:///tmp/x.sock']) {
      await expect(openFrontDoor({ grpcServer: server, clientUrls: [new URL(url)] })).rejects.toThrow(/TLS client listeners are not implemented yet/);
    }
    await expect(openFrontDoor({ grpcServer: server, clientUrls: [], metricsUrls: [new URL('https://127.0.0.1:0')] })).rejects.toThrow(/TLS/);
    await expect(openFrontDoor({ grpcServer: server, clientUrls: [new URL('ftp://127.0.0.1:0')] })).rejects.toThrow(/must be http/);
    server.forceShutdown();
  });
});

describe('connections Node\'s HTTP/2 refused', () => {
  const PING_MS = 300;
  const limits = resolveLimits({ keepaliveIntervalMs: PING_MS, keepaliveTimeoutMs: PING_MS });

  /** Preface, SETTINGS + ACK, a first request (gRPC or not), then a DATA frame on stream 0: a connection error. */
  function poisoned(grpc: boolean): Buffer {
    const block = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/p'], [':authority', '127.0.0.1:1'],
      ...(grpc ? [['content-type', 'application/grpc']] : [])].map(([name, value]) => ({ name: name!, value: value!, neverIndex: false })));
    return Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(4, 1, 0, Buffer.alloc(0)), frame(1, 0x4, 1, block), frame(0, 0, 0, Buffer.alloc(3))]);
  }

  it.each([['gRPC (handed over as is)', true], ['HTTP/2 (the door\'s own session)', false]])(
    '%s: closed at the next keepalive ping once the client has gone', async (_name, grpc) => {
      const t = await openDoor({ limits }, grpcServerOptions(limits));
      try {
        const r = await rawExchange(t.port, poisoned(grpc), 1_000);
        expect(r.received.length).toBeGreaterThan(0); // SETTINGS, then GOAWAY
        // The client is gone; Node no longer reads that socket. The ping that fails ends it.
        const deadline = Date.now() + 10_000;
        while (t.door.openConnections > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        expect(t.door.openConnections).toBe(0);
      } finally {
        await t.stop();
      }
    });
});
