// The HTTP/JSON gateway of the real binary beside a real etcd 3.4.23, both fresh: the same HTTP
// requests (node:http, as curl sends them) get the same status, the same JSON field by field
// (cluster and member IDs, raft terms, sizes and indexes normalised), the same content type,
// metadata headers and trailers. Streams (watch, lease keep-alive) compared line by line.
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { freePort, removeDir, startEtcd, startPair, startRaftkv, type ServerPair, type ServerProcess } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pki } from '../security/test-support/pki.js';

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
  /** Grpc-Metadata-Content-Type, the declared Trailer header and the trailers received. */
  metadata: string | undefined;
  trailer: string | undefined;
  trailers: Record<string, string>;
  location: string | undefined;
}

/** One request as curl sends it; the whole answer (HTTP/1.1, trailers included). */
function request(base: string, path: string, body?: string, options: { method?: string; headers?: Record<string, string>; ca?: Buffer } = {}): Promise<Answer> {
  // The path as given, not normalised by a URL parser ('.', '..', '//').
  const url = new URL(base);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request({
      protocol: url.protocol, hostname: url.hostname, port: url.port, path,
      method: options.method ?? 'POST',
      headers: { ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...options.headers },
      ...(options.ca ? { ca: options.ca } : {}),
      timeout: 15_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode!,
        body: Buffer.concat(chunks).toString(),
        contentType: res.headers['content-type'],
        metadata: res.headers['grpc-metadata-content-type'] as string | undefined,
        trailer: res.headers['trailer'],
        trailers: res.trailers as Record<string, string>,
        location: res.headers.location,
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Values that differ between two fresh members by nature: IDs, terms, sizes, indexes, the 3.5 quota field. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'dbSizeQuota') continue;
    const varies = ['token', 'cluster_id', 'member_id', 'raft_term', 'leader', 'dbSize', 'dbSizeInUse', 'raftIndex', 'raftAppliedIndex', 'raftTerm', 'hash', 'name', 'peerURLs', 'clientURLs'];
    out[k] = varies.includes(k) ? typeof v : k === 'ID' && typeof v === 'string' && v.length > 12 ? 'member-id' : normalise(v);
  }
  return out;
}

/** An answer with its JSON body normalised (text bodies kept as they are). */
function comparable(a: Answer): unknown {
  let body: unknown = a.body;
  try {
    body = a.body === '' ? '' : normalise(JSON.parse(a.body));
  } catch { /* a text body */ }
  return { status: a.status, body, contentType: a.contentType, metadata: a.metadata, trailer: a.trailer, trailers: a.trailers, location: a.location };
}

/** The newline-separated JSON lines of a streamed answer, normalised. */
const lines = (body: string): unknown[] => body.split('\n').filter((l) => l !== '').map((l) => normalise(JSON.parse(l)));

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('HTTP/JSON gateway: raftkv beside etcd 3.4.23', () => {
  let pair: ServerPair;
  const both = async (path: string, body?: string, options?: Parameters<typeof request>[3]): Promise<[Answer, Answer]> =>
    Promise.all([request(pair.etcd.clientUrl, path, body, options), request(pair.raftkv.clientUrl, path, body, options)]);
  const same = async (path: string, body?: string, options?: Parameters<typeof request>[3]): Promise<Answer> => {
    const [etcd, raftkv] = await both(path, body, options);
    expect(comparable(raftkv), `${options?.method ?? 'POST'} ${path} ${body ?? ''}`).toEqual(comparable(etcd));
    return raftkv;
  };

  beforeAll(async () => {
    pair = await startPair();
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('KV: put, range (options), txn, deleterange, compaction answer alike', async () => {
    const put = await same('/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') }));
    expect(put.status).toBe(200);
    await same('/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('baz'), prev_kv: true }));
    await same('/v3/kv/put', JSON.stringify({ key: b64('fop'), value: b64('<&>\u2028'), lease: '0' }));
    const range = await same('/v3/kv/range', JSON.stringify({ key: b64('foo') }));
    expect(JSON.parse(range.body).kvs[0]).toEqual({ key: b64('foo'), create_revision: '2', mod_revision: '3', version: '2', value: b64('baz') });
    await same('/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), sort_order: 'DESCEND', sort_target: 'MOD', limit: 1 }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('f'), rangeEnd: b64('g'), keysOnly: true, countOnly: false, serializable: true }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('f'), range_end: b64('g'), count_only: true, revision: '2' }));
    await same('/v3/kv/range', JSON.stringify({ key: [102, 111, 111] }));
    await same('/v3/kv/txn', JSON.stringify({
      compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('baz') }, { key: b64('nope'), target: 'VERSION', version: 0 }],
      success: [{ request_range: { key: b64('foo') } }, { request_put: { key: b64('t'), value: b64('1'), prev_kv: true } }, { requestDeleteRange: { key: b64('fop') } }],
      failure: [{ request_put: { key: b64('f'), value: b64('0') } }],
    }));
    await same('/v3/kv/txn', JSON.stringify({ compare: [{ key: b64('foo'), target: 'MOD', result: 'GREATER', mod_revision: '100' }], failure: [{ request_range: { key: b64('t') } }] }));
    await same('/v3/kv/deleterange', JSON.stringify({ key: b64('a'), range_end: 'AA==', prev_kv: true }));
    await same('/v3/kv/compaction', JSON.stringify({ revision: 3, physical: true }));
    await same('/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: 2 }));
    await same('/v3beta/kv/range', JSON.stringify({ key: b64('t') }));
  });

  it.each([
    ['bad JSON', '/v3/kv/range', '{bad'],
    ['truncated JSON', '/v3/kv/range', '{"key":'],
    ['a number for bytes', '/v3/kv/range', '{"key":5}'],
    ['bad base64', '/v3/kv/range', '{"key":"!!!"}'],
    ['base64 without padding', '/v3/kv/range', '{"key":"YQ"}'],
    ['a float for int64', '/v3/kv/range', '{"key":"YQ==","limit":1.5}'],
    ['an exponent in a quoted int64', '/v3/kv/range', '{"key":"YQ==","limit":"1e3"}'],
    ['an int64 overflow', '/v3/kv/range', '{"key":"YQ==","revision":"9223372036854775808"}'],
    ['a string for bool', '/v3/kv/range', '{"key":"YQ==","keys_only":"true"}'],
    ['an unknown enum name', '/v3/kv/range', '{"key":"YQ==","sort_order":"UP"}'],
    ['a float enum', '/v3/maintenance/alarm', '{"action":1.5}'],
    ['an array body', '/v3/kv/range', '[1]'],
    ['a string body', '/v3/kv/range', '""'],
    ['a string for a message', '/v3/kv/txn', '{"success":[{"request_put":"x"}]}'],
    ['an object for a list', '/v3/kv/txn', '{"compare":{}}'],
    ['an empty key', '/v3/kv/range', '{}'],
    ['an empty body', '/v3/kv/put', ''],
    ['null', '/v3/kv/put', 'null'],
    ['an empty key with unknown fields', '/v3/kv/deleterange', '{"nokey":1,"x":[{}]}'],
    ['trailing garbage after the value', '/v3/kv/range', '{"key":"YQ=="} trailing'],
    ['a control character in a string', '/v3/kv/range', '{"key":"\u0001"}'],
    ['a bad escape', '/v3/kv/range', '{"key":"\\x"}'],
    ['a lease that does not exist', '/v3/lease/revoke', '{"ID":999}'],
    ['a future revision', '/v3/kv/range', '{"key":"YQ==","revision":1000}'],
    ['an unknown path', '/v3/kv/nothing', '{}'],
    ['a path with a verb', '/v3/kv/range:get', '{}'],
    ['a trailing slash', '/v3/kv/range/', '{}'],
    ['the subtree root', '/v3/', '{}'],
    ['/v3 without a slash', '/v3', '{}'],
    ['an unclean path', '/v3//kv/./range', '{"key":"YQ=="}'],
    ['a path outside the gateway', '/v3alpha/kv/range', '{}'],
    ['an unclean path outside the gateway', '/metrics/../health', ''],
    ['a percent-encoded path', '/v3/kv/%72ange', '{"key":"YQ=="}'],
  ])('%s: %s answers as etcd', async (_name, path, body) => {
    await same(path, body);
  });

  it.each([
    [{ 'grpc-metadata-trace-bin': '!!' }], [{ 'grpc-metadata-trace-bin': 'YW=' }], [{ 'grpc-metadata-trace-bin': 'YWJ' }],
    [{ 'grpc-timeout': '1x' }], [{ 'grpc-timeout': 'S' }], [{ 'grpc-timeout': '10S' }], [{ 'grpc-metadata-tenant': 'blue', authorization: 'none' }],
  ])('request headers %j: answered as etcd', async (headers) => {
    await same('/v3/kv/range', JSON.stringify({ key: b64('foo') }), { headers });
  });

  it.each([['GET'], ['PUT'], ['HEAD'], ['DELETE']])('%s on a gateway path: 405 as etcd', async (method) => {
    const a = await same('/v3/kv/range', undefined, { method });
    expect(a.status).toBe(405);
  });

  it('watch: the created answer and events stream as {"result":...} lines, as etcd', async () => {
    const watchBody = JSON.stringify({ create_request: { key: b64('w'), range_end: b64('x'), prev_kv: true } });
    const streams = [pair.etcd, pair.raftkv].map((s) => openStream(s.clientUrl, '/v3/watch', watchBody));
    await Promise.all(streams.map((s) => s.lines(1)));
    for (const s of [pair.etcd, pair.raftkv]) {
      await request(s.clientUrl, '/v3/kv/put', JSON.stringify({ key: b64('w1'), value: b64('a') }));
      await request(s.clientUrl, '/v3/kv/put', JSON.stringify({ key: b64('w1'), value: b64('b') }));
      await request(s.clientUrl, '/v3/kv/deleterange', JSON.stringify({ key: b64('w1') }));
    }
    const [etcd, raftkv] = await Promise.all([streams[0]!.lines(4), streams[1]!.lines(4)]);
    for (const s of streams) s.close();
    expect(raftkv.head).toEqual(etcd.head);
    expect(raftkv.lines.map(normalise)).toEqual(etcd.lines.map(normalise));
    expect((raftkv.lines[3] as { result: { events: Array<{ type: string }> } }).result.events[0]!.type).toBe('DELETE');
  });

  it('watch: two create requests in one body, the second from a compacted revision', async () => {
    const body = `${JSON.stringify({ create_request: { key: b64('w1') } })}\n${JSON.stringify({ create_request: { key: b64('w1'), start_revision: 1 } })}`;
    const streams = [pair.etcd, pair.raftkv].map((s) => openStream(s.clientUrl, '/v3/watch', body));
    const [etcd, raftkv] = await Promise.all([streams[0]!.lines(3), streams[1]!.lines(3)]);
    for (const s of streams) s.close();
    expect(raftkv.lines.map(normalise)).toEqual(etcd.lines.map(normalise));
  });

  it('watch: a bad first request is a 500 with code 2 (grpc-gateway\'s decoder error)', async () => {
    const a = await same('/v3/watch', '{"create_request":{"key":5}}');
    expect(a.status).toBe(500);
    await same('/v3/watch', '{bad');
  });

  it('lease: grant, keepalive (one answer, then the stream ends), timetolive, leases, revoke', async () => {
    await same('/v3/lease/grant', JSON.stringify({ TTL: 60, ID: 4660 }));
    const [etcdKa, raftkvKa] = await both('/v3/lease/keepalive', JSON.stringify({ ID: 4660 }));
    expect(raftkvKa.status).toBe(200);
    expect(lines(raftkvKa.body)).toEqual(lines(etcdKa.body));
    expect(raftkvKa.metadata).toBe(etcdKa.metadata);
    const [etcdTtl, raftkvTtl] = await both('/v3/lease/timetolive', JSON.stringify({ ID: '4660', keys: true }));
    // The remaining TTL may have ticked on one side only.
    const ttl = (a: Answer): unknown => ({ ...(normalise(JSON.parse(a.body)) as object), TTL: 'ttl' });
    expect(ttl(raftkvTtl)).toEqual(ttl(etcdTtl));
    expect(Number(JSON.parse(raftkvTtl.body).TTL)).toBeGreaterThan(50);
    await same('/v3/lease/leases', '{}');
    await same('/v3/kv/lease/leases', '{}');
    await same('/v3/lease/revoke', JSON.stringify({ ID: 4660 }));
    const again = await same('/v3/lease/revoke', JSON.stringify({ ID: 4660 }));
    expect(again.status).toBe(404);
    expect(again.trailers).toEqual({ 'grpc-trailer-content-type': 'application/grpc' });
    await same('/v3/lease/timetolive', JSON.stringify({ ID: 4660 }));
  });

  it('maintenance and cluster: status, alarm list, hash, member list', async () => {
    const status = await same('/v3/maintenance/status', '{}');
    expect(JSON.parse(status.body).version).toBe('3.4.23');
    await same('/v3/maintenance/alarm', '{"action":"GET"}');
    await same('/v3/maintenance/hash', '{}');
    const members = await same('/v3/cluster/member/list', '{}');
    expect(JSON.parse(members.body).members).toHaveLength(1);
  });

  it('maintenance snapshot streams base64 blobs as result lines', async () => {
    const a = await request(pair.raftkv.clientUrl, '/v3/maintenance/snapshot', '{}');
    expect(a.status).toBe(200);
    const chunks = a.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { result: { blob?: string; remaining_bytes?: string } });
    const bytes = chunks.reduce((n, c) => n + Buffer.from(c.result.blob ?? '', 'base64').length, 0);
    expect(bytes).toBeGreaterThan(0);
    expect(chunks.at(-1)!.result.remaining_bytes).toBeUndefined();
  });

  it('/version answers as etcd 3.4.23 (GET only)', async () => {
    const v = await same('/version', undefined, { method: 'GET' });
    expect(JSON.parse(v.body)).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' });
  });
});

describe('auth through the gateway: the Authorization header carries the token, as etcd 3.4.23', () => {
  let pair: ServerPair;
  beforeAll(async () => {
    pair = await startPair();
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('users and roles, auth enable, authenticate, then calls with and without the token', async () => {
    const call = async (path: string, body: unknown, token?: Record<'etcd' | 'raftkv', string>): Promise<Record<'etcd' | 'raftkv', Answer>> => {
      const [etcd, raftkv] = await Promise.all((['etcd', 'raftkv'] as const).map((k) =>
        request(pair[k].clientUrl, path, JSON.stringify(body), token ? { headers: { authorization: token[k] } } : {})));
      expect(comparable(raftkv!), `${path} ${JSON.stringify(body)}`).toEqual(comparable(etcd!));
      return { etcd: etcd!, raftkv: raftkv! };
    };
    await call('/v3/auth/user/add', { name: 'root', password: 'pw' });
    await call('/v3/auth/role/add', { name: 'root' });
    await call('/v3/auth/user/grant', { user: 'root', role: 'root' });
    await call('/v3/auth/enable', {});
    const refused = await call('/v3/kv/put', { key: b64('a'), value: b64('1') });
    expect(refused.raftkv.status).toBeGreaterThanOrEqual(400);
    await call('/v3/auth/authenticate', { name: 'root', password: 'wrong' });
    const auth = await call('/v3/auth/authenticate', { name: 'root', password: 'pw' });
    const token = { etcd: JSON.parse(auth.etcd.body).token as string, raftkv: JSON.parse(auth.raftkv.body).token as string };
    expect(token.raftkv.length).toBeGreaterThan(0);
    const put = await call('/v3/kv/put', { key: b64('a'), value: b64('1') }, token);
    expect(put.raftkv.status).toBe(200);
    await call('/v3/kv/range', { key: b64('a') }, token);
    await call('/v3/kv/range', { key: b64('a') }, { etcd: 'not-a-token', raftkv: 'not-a-token' });
    await call('/v3/auth/user/list', {}, token);
    await call('/v3/auth/disable', {}, token);
  });
});

describe('a gateway watch whose HTTP client stops reading', () => {
  let raftkv: ServerProcess;
  beforeAll(async () => {
    raftkv = await startRaftkv();
  }, 60_000);
  afterAll(async () => {
    await raftkv?.stop();
    if (raftkv) removeDir(raftkv.dataDir);
  });

  it('holds up only itself: 6 MiB of events later, other gateway calls and watches are answered', async () => {
    // A watch on a raw socket that is never read: its events back up to the member.
    const body = JSON.stringify({ create_request: { key: b64('big') } });
    const u = new URL(raftkv.clientUrl);
    const stuck = net.connect(Number(u.port), u.hostname, () => {
      stuck.write(`POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    stuck.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const value = Buffer.alloc(100 * 1024, 7).toString('base64');
      for (let i = 0; i < 60; i++) {
        const put = await request(raftkv.clientUrl, '/v3/kv/put', JSON.stringify({ key: b64('big'), value }));
        expect(put.status).toBe(200);
      }
      const range = await request(raftkv.clientUrl, '/v3/kv/range', JSON.stringify({ key: b64('big'), count_only: true }));
      expect(JSON.parse(range.body).count).toBe('1');
      const watch = openStream(raftkv.clientUrl, '/v3/watch', JSON.stringify({ create_request: { key: b64('other') } }));
      const { lines: created } = await watch.lines(1);
      watch.close();
      expect(created[0]).toMatchObject({ result: { created: true } });
    } finally {
      stuck.destroy();
    }
  });
});

describe('--enable-grpc-gateway=false, raftkv beside etcd 3.4.23', () => {
  let pair: ServerPair;
  beforeAll(async () => {
    pair = await startPair({ args: ['--enable-grpc-gateway=false'] });
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it.each([['/v3/kv/range', 404], ['/v3beta/kv/put', 404], ['/v3', 404], ['/v3//kv/range', 301], ['//health', 301]])('%s: %d as etcd (Go\'s mux without the gateway)', async (path, status) => {
    const [etcd, raftkv] = await Promise.all([pair.etcd, pair.raftkv].map((s) => request(s.clientUrl, path, '{"key":"YQ=="}')));
    expect(comparable(raftkv!)).toEqual(comparable(etcd!));
    expect(raftkv!.status).toBe(status);
  });
});

describe('HTTP/JSON gateway over TLS, raftkv beside etcd 3.4.23', () => {
  const pki = new Pki();
  const server = pki.issue('server', 'gateway-server');
  const started: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of started) {
      await s.stop();
      removeDir(s.dataDir);
    }
    pki.remove();
  });

  it('https: put and range through the gateway answer alike', async () => {
    const start = async (kind: 'etcd' | 'raftkv'): Promise<string> => {
      const port = await freePort();
      const url = `https://127.0.0.1:${port}`;
      const args = ['--listen-client-urls', url, '--advertise-client-urls', url, '--cert-file', server.certFile, '--key-file', server.keyFile];
      const s = kind === 'etcd' ? await startEtcd({ port, args }) : await startRaftkv({ port, args });
      started.push(s);
      return url;
    };
    const [etcdUrl, raftkvUrl] = await Promise.all([start('etcd'), start('raftkv')]);
    const ca = readFileSync(pki.caFile);
    for (const [path, body] of [['/v3/kv/put', { key: b64('tls'), value: b64('yes') }], ['/v3/kv/range', { key: b64('tls') }], ['/v3/kv/range', {}]] as const) {
      const [e, r] = await Promise.all([etcdUrl, raftkvUrl].map((u) => request(u, path, JSON.stringify(body), { ca })));
      expect(comparable(r!)).toEqual(comparable(e!));
    }
    const got = await request(raftkvUrl, '/v3/kv/range', JSON.stringify({ key: b64('tls') }), { ca });
    expect(JSON.parse(got.body).kvs[0].value).toBe(b64('yes'));
  }, 60_000);
});

/** A streamed answer read as it arrives. */
function openStream(base: string, path: string, body: string): {
  lines(n: number): Promise<{ head: { status: number; contentType: string | undefined; metadata: string | undefined }; lines: unknown[] }>;
  close(): void;
} {
  let buffered = '';
  let head: { status: number; contentType: string | undefined; metadata: string | undefined } | undefined;
  let wake: (() => void) | undefined;
  let failed: Error | undefined;
  const req = http.request(new URL(path, base), { method: 'POST' }, (res) => {
    head = { status: res.statusCode!, contentType: res.headers['content-type'], metadata: res.headers['grpc-metadata-content-type'] as string | undefined };
    res.on('data', (c: Buffer) => {
      buffered += c.toString();
      wake?.();
    });
    res.on('error', () => {});
  });
  req.on('error', (err) => {
    failed = err;
    wake?.();
  });
  req.end(body);
  return {
    async lines(n) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const complete = buffered.split('\n').slice(0, -1);
        if (complete.length >= n && head) return { head, lines: complete.slice(0, n).map((l) => JSON.parse(l) as unknown) };
        if (failed) throw failed;
        if (Date.now() > deadline) throw new Error(`${path}: ${complete.length} of ${n} lines within 15 s: ${buffered}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
    close() {
      req.destroy();
    },
  };
}
