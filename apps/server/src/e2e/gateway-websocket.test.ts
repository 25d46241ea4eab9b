// The gateway's WebSocket side (etcd's grpc-websocket-proxy) of the real binary beside a real
// etcd 3.4.23: the same WebSocket conversations get the same text messages (JSON normalised as
// in gateway.test.ts), the same way of ending (a close frame echoed, or the connection dropped
// without one), and the same handshake answers; and etcd's refusal of gateway requests whose
// client certificate has a Common Name when --client-cert-auth and auth are on.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { startPair, type ServerPair, type ServerProcess } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startClientCertAuthPair, type ClientCertAuthPair } from '../security/test-support/client-cert-auth-pair.js';
import { Pki } from '../security/test-support/pki.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const VARIES = new Set(['cluster_id', 'member_id', 'raft_term', 'ID', 'revision']);

/** IDs and terms differ between two fresh servers; revisions too where the two saw different setup. */
function normalise(value: unknown, keep: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((v) => normalise(v, keep));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = VARIES.has(k) && !keep.has(k) ? typeof v : normalise(v, keep);
  return out;
}

/** A text message as JSON (normalised) when it is JSON, else as sent. */
const message = (m: string): unknown => {
  try {
    return normalise(JSON.parse(m), new Set(['revision']));
  } catch {
    return m;
  }
};

/** One WebSocket conversation, recorded. */
class Conversation {
  readonly messages: string[] = [];
  handshake: { status: number; headers: Record<string, unknown> } | undefined;
  closed: Promise<{ code: number }>;
  private readonly ws: WebSocket;
  private wake: (() => void) | undefined;

  constructor(base: string, path: string, options: { protocols?: string[]; headers?: Record<string, string>; ca?: Buffer; cert?: { certFile: string; keyFile: string } } = {}) {
    const url = base.replace(/^http/, 'ws') + path;
    this.ws = new WebSocket(url, options.protocols ?? [], {
      perMessageDeflate: false,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert ? { cert: readFileSync(options.cert.certFile), key: readFileSync(options.cert.keyFile) } : {}),
    });
    this.ws.on('upgrade', (res) => { this.handshake = { status: res.statusCode!, headers: pick(res.headers) }; });
    this.ws.on('message', (data) => {
      this.messages.push((data as Buffer).toString());
      this.wake?.();
    });
    this.ws.on('error', () => { /* reported through 'close' */ });
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => {
      this.wake?.();
      resolve({ code });
    }));
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error('closed before it opened')));
    });
  }

  send(...messages: string[]): void {
    for (const m of messages) this.ws.send(m);
  }

  async waitFor(n: number): Promise<string[]> {
    const deadline = Date.now() + 15_000;
    while (this.messages.length < n) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed after ${this.messages.length} of ${n} messages: ${this.messages.join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`${this.messages.length} of ${n} messages within 15 s`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
    }
    return this.messages.slice(0, n);
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** The headers compared: what Go and Node both decide from the request. */
function pick(headers: http.IncomingHttpHeaders): Record<string, unknown> {
  const names = ['content-type', 'content-length', 'sec-websocket-version', 'x-content-type-options', 'access-control-allow-origin', 'location', 'upgrade', 'sec-websocket-protocol', 'sec-websocket-accept'];
  return Object.fromEntries(names.filter((n) => headers[n] !== undefined).map((n) => [n, headers[n]]));
}

/** A request with WebSocket upgrade headers, as a client that may be refused sends it. */
function handshake(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), {
      method: options.method ?? 'GET',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: pick(res.headers), body: Buffer.concat(chunks).toString() }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: pick(res.headers), body: '' });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('gateway WebSockets: raftkv beside etcd 3.4.23', () => {
  let pair: ServerPair;
  beforeAll(async () => {
    pair = await startPair();
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });
  const servers = (): ServerProcess[] => [pair.etcd, pair.raftkv];

  /** The same conversation with both; its messages once `n` arrived, and how it ended. */
  async function converse(path: string, sent: string[], n: number, end: 'server' | 'client'): Promise<Array<{ messages: unknown[]; code: number }>> {
    return Promise.all(servers().map(async (s) => {
      const c = new Conversation(s.clientUrl, path);
      await c.opened();
      c.send(...sent);
      const got = await c.waitFor(n);
      if (end === 'client') c.close();
      const { code } = await c.closed;
      expect(c.handshake?.status).toBe(101);
      return { messages: got.map(message), code };
    }));
  }

  it.each([
    ['a range', '/v3/kv/range', [JSON.stringify({ key: b64('nothing') })]],
    ['a put over /v3beta', '/v3beta/kv/put', [JSON.stringify({ key: b64('ws'), value: b64('1') })]],
    ['an unknown path', '/v3/kv/nothing', ['{}']],
    ['a bad request', '/v3/kv/range', ['{"key":5}']],
    ['two values in one message, the first answered', '/v3/kv/range', [`${JSON.stringify({ key: b64('ws') })}${JSON.stringify({ key: b64('x') })}`]],
    ['a bad first watch request', '/v3/watch', ['{bad']],
  ])('%s: one message back, then the connection dropped without a close frame (1006)', async (_name, path, sent) => {
    const [etcd, raftkv] = await converse(path, sent, 1, 'server');
    expect(raftkv).toEqual(etcd);
    expect(raftkv!.code).toBe(1006);
  });

  it('watch: created, events of later writes, a second watch on the same socket; a client close is echoed (1000)', async () => {
    const conversations = servers().map((s) => new Conversation(s.clientUrl, '/v3/watch'));
    await Promise.all(conversations.map((c) => c.opened()));
    for (const c of conversations) c.send(JSON.stringify({ create_request: { key: b64('wa'), range_end: b64('wb'), prev_kv: true } }));
    await Promise.all(conversations.map((c) => c.waitFor(1)));
    for (const s of servers()) {
      await gatewayPost(s.clientUrl, '/v3/kv/put', { key: b64('wa1'), value: b64('a') });
      await gatewayPost(s.clientUrl, '/v3/kv/put', { key: b64('wa1'), value: b64('b') });
    }
    await Promise.all(conversations.map((c) => c.waitFor(3)));
    for (const c of conversations) c.send(JSON.stringify({ create_request: { key: b64('wa1'), start_revision: 1 } }));
    const [etcd, raftkv] = await Promise.all(conversations.map((c) => c.waitFor(4)));
    for (const c of conversations) c.close();
    const [etcdEnd, raftkvEnd] = await Promise.all(conversations.map((c) => c.closed));
    // Revisions differ: etcd and raftkv saw different writes before this test.
    const loose = (m: string): unknown => normalise(JSON.parse(m));
    expect(raftkv!.map(loose)).toEqual(etcd!.map(loose));
    expect(JSON.parse(raftkv![2]!).result.events[0].prev_kv.value).toBe(b64('a'));
    expect(raftkvEnd).toEqual(etcdEnd);
    expect(raftkvEnd!.code).toBe(1000);
  });

  it('lease keepalive: one answer per message on one connection', async () => {
    const answers = await Promise.all(servers().map(async (s) => {
      const grant = JSON.parse(await gatewayPost(s.clientUrl, '/v3/lease/grant', { TTL: 60 })) as { ID: string };
      const c = new Conversation(s.clientUrl, '/v3/lease/keepalive');
      await c.opened();
      c.send(JSON.stringify({ ID: grant.ID }), JSON.stringify({ ID: grant.ID }), JSON.stringify({ ID: '1' }));
      const got = await c.waitFor(3);
      c.close();
      await c.closed;
      return got.map(message);
    }));
    expect(answers[1]).toEqual(answers[0]);
    // A lease that does not exist: TTL 0, left out of the JSON.
    expect(answers[1]![0]).toMatchObject({ result: { TTL: '60' } });
    expect((answers[1]![2] as { result: { TTL?: string } }).result.TTL).toBeUndefined();
  });

  it('a Bearer subprotocol is answered in kind; others get none', async () => {
    for (const protocols of [['Bearer', 'abc'], ['chat']]) {
      const [etcd, raftkv] = await Promise.all(servers().map((s) => handshake(s.clientUrl, '/v3/watch', { headers: { 'Sec-WebSocket-Protocol': protocols.join(', ') } })));
      expect(raftkv).toEqual(etcd);
      expect(raftkv!.status).toBe(101);
    }
  });

  it.each([
    ['POST', '/v3/watch', 405, { method: 'POST' }],
    ['no key', '/v3/watch', 400, { headers: { 'Sec-WebSocket-Key': '' } }],
    ['version 8', '/v3/kv/range', 400, { headers: { 'Sec-WebSocket-Version': '8' } }],
    ['a path outside the gateway', '/health', 200, {}],
    ['an unclean path', '/v3//watch', 301, {}],
    ['/v3 without a slash', '/v3', 301, {}],
    ['OPTIONS', '/v3/watch', 200, { method: 'OPTIONS' }],
    ['an h2c upgrade (curl --http2) with a body', '/v3/kv/range', 200, { method: 'POST', headers: { Connection: 'Upgrade, HTTP2-Settings', Upgrade: 'h2c', 'HTTP2-Settings': 'AAMAAABkAAQAoAAAAAIAAAAA' }, body: JSON.stringify({ key: b64('nothing') }) }],
  ] as const)('handshake %s (%s): %d, as etcd', async (_name, path, status, options) => {
    const [etcd, raftkv] = await Promise.all(servers().map((s) => handshake(s.clientUrl, path, options)));
    const body = (b: string): unknown => message(b);
    expect({ ...raftkv!, body: body(raftkv!.body) }).toEqual({ ...etcd!, body: body(etcd!.body) });
    expect(raftkv!.status).toBe(status);
  });
});

describe('gateway WebSockets with auth on: the token as wsproxy passes it, beside etcd 3.4.23', () => {
  let pair: ServerPair;
  beforeAll(async () => {
    pair = await startPair();
    for (const s of [pair.etcd, pair.raftkv]) {
      await gatewayPost(s.clientUrl, '/v3/auth/user/add', { name: 'root', password: 'pw' });
      await gatewayPost(s.clientUrl, '/v3/auth/role/add', { name: 'root' });
      await gatewayPost(s.clientUrl, '/v3/auth/user/grant', { user: 'root', role: 'root' });
      await gatewayPost(s.clientUrl, '/v3/auth/enable', {});
    }
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  // wsproxy makes `Authorization: Bearer <token>` of a `Bearer, <token>` subprotocol or a `token`
  // cookie, and etcd 3.4 takes the whole header as the token: such calls are refused. The same here.
  it.each([
    ['no token', () => ({})],
    ['a Bearer subprotocol', (token: string) => ({ protocols: ['Bearer', token] })],
    ['a token cookie', (token: string) => ({ headers: { Cookie: `token=${token}` } })],
  ] as const)('%s: answered as etcd', async (_name, options) => {
    const answers = await Promise.all([pair.etcd, pair.raftkv].map(async (s) => {
      const { token } = JSON.parse(await gatewayPost(s.clientUrl, '/v3/auth/authenticate', { name: 'root', password: 'pw' })) as { token: string };
      const c = new Conversation(s.clientUrl, '/v3/kv/range', options(token));
      await c.opened();
      c.send(JSON.stringify({ key: b64('a') }));
      const got = await c.waitFor(1);
      await c.closed;
      return got.map(message);
    }));
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[1]![0]).toHaveProperty('code');
  });
});

describe('--client-cert-auth with auth on: gateway requests with a client certificate CN, beside etcd 3.4.23', () => {
  const pki = new Pki();
  const server = pki.issue('server', 'server');
  const rootCert = pki.issue('root-client', 'root');
  let pair: ClientCertAuthPair;
  const urls = { etcd: '', raftkv: '' };
  const ca = readFileSync(pki.caFile);
  beforeAll(async () => {
    pair = await startClientCertAuthPair(pki, server);
    Object.assign(urls, pair.urls);
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
    pki.remove();
  });

  const post = (base: string, path: string, body: unknown): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = https.request(new URL(path, base), { method: 'POST', ca, cert: readFileSync(rootCert.certFile), key: readFileSync(rootCert.keyFile) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: pick(res.headers), body: Buffer.concat(chunks).toString() }));
      });
      req.setTimeout(15_000, () => req.destroy(new Error(`${path}: no answer within 15 s`)));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const both = async (path: string, body: unknown) => {
    const [etcd, raftkv] = await Promise.all([post(urls.etcd, path, body), post(urls.raftkv, path, body)]);
    const json = (b: string): unknown => message(b);
    expect({ ...raftkv, body: json(raftkv.body) }, path).toEqual({ ...etcd, body: json(etcd.body) });
    return raftkv;
  };

  it('served before auth is on; refused with 400 once it is (also /v3beta and WebSockets), other paths served', async () => {
    await both('/v3/auth/user/add', { name: 'root', password: 'pw' });
    await both('/v3/auth/role/add', { name: 'root' });
    await both('/v3/auth/user/grant', { user: 'root', role: 'root' });
    expect((await both('/v3/kv/put', { key: b64('cn'), value: b64('1') })).status).toBe(200);
    // Over wss, before auth is on: the same answer as etcd's.
    const wss = await Promise.all([urls.etcd, urls.raftkv].map(async (u) => {
      const c = new Conversation(u, '/v3/kv/range', { ca, cert: rootCert });
      await c.opened();
      c.send(JSON.stringify({ key: b64('cn') }));
      const got = await c.waitFor(1);
      return { messages: got.map(message), code: (await c.closed).code };
    }));
    expect(wss[1]).toEqual(wss[0]);
    expect(wss[1]!.messages[0]).toMatchObject({ kvs: [{ key: b64('cn'), value: b64('1') }] });
    expect((await both('/v3/auth/enable', {})).status).toBe(200);
    const refused = await both('/v3/kv/range', { key: b64('cn') });
    expect(refused.status).toBe(400);
    expect(refused.body).toBe('CommonName of client sending a request against gateway will be ignored and not used as expected\n');
    expect((await both('/v3beta/kv/range', { key: b64('cn') })).status).toBe(400);
    expect((await both('/v3//kv/range', { key: b64('cn') })).status).toBe(400);
    expect((await both('/v3', {})).status).toBe(301);
    await both('/version', {});
    expect((await both('/health', {})).status).toBe(405);
    // A WebSocket with the same certificate is refused before the handshake.
    const ws = await Promise.all([urls.etcd, urls.raftkv].map(async (u) => {
      const c = new Conversation(u, '/v3/watch', { ca, cert: rootCert });
      const end = await c.closed;
      return { handshake: c.handshake, code: end.code };
    }));
    expect(ws[1]).toEqual(ws[0]);
    expect(ws[1]!.handshake).toBeUndefined();
  });
});

/** A plain gateway POST; its body. */
function gatewayPost(base: string, path: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
