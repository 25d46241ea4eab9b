// Seeded fuzz of the HTTP/JSON gateway on the real binary. Part one is differential: random and
// mutated RangeRequest bodies go to raftkv and to etcd 3.4.23 (same keys in both), and every
// answer must match (status, JSON body with IDs normalised, headers). Part two throws random
// paths, methods and bodies (broken JSON, deep nesting, huge numbers, big values, streams cut
// short) at raftkv alone: each gets an answer (no stall), an error is grpc-gateway's JSON body or
// Go's text, and the member still serves afterwards. Part three sends random read requests over
// the gateway's WebSockets (split into several messages at random) and compares the first
// message back and how the connection ends with etcd's. Replay: GATEWAY_FUZZ_SEED=<seed>; each case
// printed: GATEWAY_FUZZ_TRACE=1.
import http from 'node:http';
import { Random, startPair, type ServerPair } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const SEED = Number(process.env['GATEWAY_FUZZ_SEED'] ?? 20261206);
// Longer runs: GATEWAY_FUZZ_CASES=<differential cases> (the robustness part runs 3/4 as many).
const DIFFERENTIAL_CASES = Number(process.env['GATEWAY_FUZZ_CASES'] ?? 400);
const ROBUSTNESS_CASES = Math.ceil(DIFFERENTIAL_CASES * 0.75);
const WEBSOCKET_CASES = Math.ceil(DIFFERENTIAL_CASES / 4);

interface Answer { status: number; body: string; headers: Record<string, string | undefined> }

/**
 * One request. `cutAfterFirstBytes`: a stream, cut after its first bytes; one still silent after
 * 2 s is an open stream (status 0), as etcd's: a Watch whose requests create nothing sends no
 * headers until its first answer.
 */
function send(base: string, method: string, path: string, body: Buffer | string, cutAfterFirstBytes = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (cutAfterFirstBytes) {
      setTimeout(() => {
        req.destroy();
        resolve({ status: 0, body: '', headers: {} });
      }, 2000).unref();
    }
    // Content-Length always: Node's client sends a DELETE body without one (unframed).
    const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request(new URL(path, base), { method, timeout: 20_000, headers }, (res) => {
      const chunks: Buffer[] = [];
      const done = (): void => resolve({
        status: res.statusCode!,
        body: Buffer.concat(chunks).toString(),
        headers: { 'content-type': res.headers['content-type'], 'grpc-metadata-content-type': res.headers['grpc-metadata-content-type'] as string | undefined, trailer: res.headers['trailer'] },
      });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (cutAfterFirstBytes) {
          req.destroy();
          done();
        }
      });
      res.on('end', done);
      res.on('error', () => done());
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 20 s (body ${String(body).slice(0, 200)})`)));
    req.on('error', reject);
    req.end(body);
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** One WebSocket conversation: the messages sent, the first one back and the close code. */
function converse(base: string, path: string, pieces: string[]): Promise<{ first: string | undefined; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + path, { perMessageDeflate: false });
    let first: string | undefined;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no end within 20 s'));
    }, 20_000);
    ws.on('open', () => { for (const p of pieces) ws.send(p); });
    ws.on('message', (m: Buffer) => { first ??= m.toString(); });
    ws.on('error', () => { /* 'close' follows */ });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ first, code });
    });
  });
}

/** Whether Go's decoder finishes with this input (a whole value, or a syntax error), not waiting for more. */
function answersAtOnce(text: string): boolean {
  if (text.trim() === '') return false;
  try {
    JSON.parse(text);
    return true;
  } catch (err) {
    // A value still open (V8: "Unexpected end", "Unterminated string", or an error at the end of
    // the text) would wait for more bytes.
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    return !/Unexpected end|Unterminated/.test(message) && (at === null || Number(at[1]) < text.trimEnd().length);
  }
}

function comparableText(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return normalise(JSON.parse(text));
  } catch {
    return text;
  }
}

const RANGE_FIELDS = ['key', 'range_end', 'rangeEnd', 'limit', 'revision', 'sort_order', 'sortOrder', 'sort_target', 'serializable', 'keys_only', 'keysOnly',
  'count_only', 'min_mod_revision', 'maxModRevision', 'min_create_revision', 'max_create_revision', 'unknown', 'KEY'];

/** A JSON value of any type, often one that a RangeRequest field takes. */
function randomValue(r: Random, depth = 0): unknown {
  switch (r.int(depth > 2 ? 9 : 11)) {
    case 0: return b64(r.pick(['a', 'k1', 'k2', 'k3', '', '\0', 'zz']));
    case 1: return r.pick(['!!', 'YQ', 'YQ=', 'YQ==\n', 'Y Q==', '====', 'a', '\u00ff', '\ud800']);
    case 2: return r.pick([0, 1, -1, 2, 3, 10, 1.5, 1e3, 2 ** 53, -(2 ** 63)]);
    case 3: return r.pick(['0', '1', '-1', '1e3', ' 2', '', 'x', '9223372036854775808', '18446744073709551615', '1.0']);
    case 4: return r.pick(['NONE', 'ASCEND', 'DESCEND', 'KEY', 'MOD', 'VALUE', 'CREATE', 'VERSION', 'nope', 'ascend']);
    case 5: return r.bool();
    case 6: return null;
    case 7: return r.pick(['true', 'false', 'null']);
    case 8: return [97, r.pick([0, 255, 256, -1, 'a', 1.5])];
    case 9: return Array.from({ length: r.int(3) }, () => randomValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(3) }, () => [r.pick(RANGE_FIELDS), randomValue(r, depth + 1)]));
  }
}

function randomRange(r: Random): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (r.bool(0.8)) fields['key'] = b64(r.pick(['k', 'k1', 'a', '\0']));
  for (let i = r.int(4); i > 0; i--) {
    const name = r.pick(RANGE_FIELDS);
    // A sort target etcd does not know crashes it (docs/compatibility.md): only known ones, or bad types.
    fields[name] = name === 'sort_target' || name === 'sortTarget'
      ? r.pick(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE', 0, 1, 4, '3', 'nope', 1.5, null, true, [1]])
      : randomValue(r);
  }
  return fields;
}

const COMPARE_FIELDS = ['key', 'range_end', 'target', 'result'];
/**
 * One member of target_union per compare: etcd's jsonpb decodes a oneof's members in Go map order
 * (random), so with two bad ones its error changes from run to run.
 */
const TARGET_UNION = ['version', 'create_revision', 'modRevision', 'value', 'lease'];

/** A txn that only reads: compares and range ops (a write would make the two stores differ). */
function randomReadTxn(r: Random): Record<string, unknown> {
  const compare = Array.from({ length: r.int(3) }, () => {
    const c: Record<string, unknown> = { key: b64(r.pick(['k', 'k1', 'zz'])) };
    const value = (): unknown => (r.bool() ? randomValue(r) : r.pick(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL', 'VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE', 4, 9]));
    for (let i = r.int(3); i > 0; i--) c[r.pick(COMPARE_FIELDS)] = value();
    if (r.bool(0.7)) c[r.pick(TARGET_UNION)] = value();
    return c;
  });
  // No null ops: etcd's gateway panics on them and drops the connection (docs/compatibility.md).
  const ops = (): unknown[] => Array.from({ length: r.int(3) }, () => (r.bool(0.9) ? { request_range: randomRange(r) } : r.pick([{}, { requestRange: null }])));
  return { compare, success: ops(), failure: ops() };
}

/** A RangeRequest-shaped body, sometimes with its text mutated. */
const randomRangeBody = (r: Random): string => randomReadBody(r, '/v3/kv/range');

/** A request body for one of the read-only calls compared with etcd, sometimes with its text mutated. */
function randomReadBody(r: Random, path: string): string {
  const fields = path === '/v3/kv/txn' ? randomReadTxn(r)
    : path === '/v3/lease/timetolive' ? { ID: r.pick([0, 1, '7', -1, 'x', 1.5, '9223372036854775807']), keys: randomValue(r) }
      : randomRange(r);
  let text = JSON.stringify(fields);
  for (let i = r.bool(0.3) ? 1 + r.int(3) : 0; i > 0; i--) {
    const at = r.int(text.length + 1);
    const what = r.int(3);
    const ch = r.pick(['{', '}', '[', ']', '"', ',', ':', '\\', ' ', 'x', '1', '-', '.', 'e', '\u0001', '\u00e9', 'n', 't']);
    text = what === 0 ? text.slice(0, at) + ch + text.slice(at) : what === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at + 1);
  }
  return text;
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) =>
    [k, ['cluster_id', 'member_id', 'raft_term'].includes(k) ? typeof v : normalise(v)]));
}

function comparable(a: Answer): unknown {
  let body: unknown = a.body;
  try {
    body = normalise(JSON.parse(a.body));
  } catch { /* text */ }
  return { status: a.status, body, headers: a.headers };
}

describe(`gateway fuzz (seed ${SEED})`, () => {
  let pair: ServerPair;
  beforeAll(async () => {
    pair = await startPair();
    for (const s of [pair.etcd, pair.raftkv]) {
      for (const k of ['a', 'k', 'k1', 'k2', 'k3']) await send(s.clientUrl, 'POST', '/v3/kv/put', JSON.stringify({ key: b64(k), value: b64(`v-${k}`) }));
    }
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it(`${DIFFERENTIAL_CASES} random read requests (range, read-only txn, lease time-to-live): raftkv answers each exactly as etcd`, async () => {
    const r = new Random(SEED);
    const mismatches: string[] = [];
    for (let i = 0; i < DIFFERENTIAL_CASES; i++) {
      const path = r.pick(['/v3/kv/range', '/v3/kv/range', '/v3/kv/range', '/v3/kv/txn', '/v3/kv/txn', '/v3/lease/timetolive']);
      const body = randomReadBody(r, path);
      const [etcd, raftkv] = await Promise.all([pair.etcd, pair.raftkv].map((s) => send(s.clientUrl, 'POST', path, body).catch((err: unknown) => {
        throw new Error(`case ${i}: ${s === pair.etcd ? 'etcd' : 'raftkv'} ${path} ${body}: ${String(err)}`);
      })));
      const [e, k] = [JSON.stringify(comparable(etcd!)), JSON.stringify(comparable(raftkv!))];
      if (process.env['GATEWAY_FUZZ_TRACE']) process.stderr.write(`diff ${raftkv!.status} ${raftkv!.body.slice(0, 90)}\n`);
      if (e !== k) mismatches.push(`case ${i} ${path} body ${JSON.stringify(body)}\n  etcd:   ${e}\n  raftkv: ${k}`);
    }
    expect(mismatches.slice(0, 5).join('\n')).toBe('');
  }, 120_000);

  it(`${WEBSOCKET_CASES} random read requests over WebSockets, split into messages: the same answer and end as etcd`, async () => {
    const r = new Random(SEED + 2);
    const mismatches: string[] = [];
    let compared = 0;
    for (let i = 0; i < WEBSOCKET_CASES; i++) {
      const path = r.pick(['/v3/kv/range', '/v3/kv/txn', '/v3/lease/timetolive', '/v3beta/kv/range']);
      const body = randomReadBody(r, path.replace('v3beta', 'v3'));
      // Cut at up to two places: wsproxy ends each message with a newline, inside the JSON too.
      const cuts = Array.from({ length: r.int(3) }, () => r.int(body.length + 1)).sort((a, b) => a - b);
      const pieces = [0, ...cuts].map((at, k, all) => body.slice(at, all[k + 1] ?? body.length));
      // Only what ends a value or fails at once: a value still open waits for more on both sides.
      if (!answersAtOnce(pieces.join('\n'))) continue;
      const [etcd, raftkv] = await Promise.all([pair.etcd, pair.raftkv].map((s) => converse(s.clientUrl, path, pieces).catch((err: unknown) => {
        throw new Error(`case ${i}: ${s === pair.etcd ? 'etcd' : 'raftkv'} ${path} ${JSON.stringify(pieces)}: ${String(err)}`);
      })));
      // etcd closes with the client's later messages unread: its kernel resets the connection,
      // which may destroy the answer before the client reads it (raftkv ends with a FIN instead).
      if (pieces.length > 1 && etcd!.first === undefined && raftkv!.first !== undefined) continue;
      compared++;
      const [e, k] = [JSON.stringify({ ...etcd!, first: comparableText(etcd!.first) }), JSON.stringify({ ...raftkv!, first: comparableText(raftkv!.first) })];
      if (e !== k) mismatches.push(`case ${i} ${path} pieces ${JSON.stringify(pieces)}\n  etcd:   ${e}\n  raftkv: ${k}`);
    }
    expect(mismatches.slice(0, 5).join('\n')).toBe('');
    expect(compared).toBeGreaterThan(WEBSOCKET_CASES / 2);
  }, 240_000);

  it(`${ROBUSTNESS_CASES} random paths, methods and bodies: an answer each, the member still serves`, async () => {
    const r = new Random(SEED + 1);
    const paths = ['/v3/kv/range', '/v3/kv/put', '/v3/kv/deleterange', '/v3/kv/txn', '/v3/kv/compaction', '/v3/watch', '/v3/lease/grant',
      '/v3/lease/revoke', '/v3/lease/keepalive', '/v3/lease/timetolive', '/v3/lease/leases', '/v3/maintenance/status', '/v3/maintenance/hash',
      '/v3/maintenance/alarm', '/v3/cluster/member/list', '/v3/auth/user/list', '/v3/auth/role/get', '/v3beta/kv/range', '/v3/kv', '/v3/%zz',
      '/v3/kv/range?x=1', '/v3/../v3/kv/range', '/v3/kv/range:x', '/v3/\u00e9', '/v3/election/leader'];
    const bodies = (): Buffer | string => {
      switch (r.int(9)) {
        case 0: return randomRangeBody(r);
        case 1: return '['.repeat(1 + r.int(30_000));
        case 2: return `${'{"request_txn":'.repeat(r.int(300))}{}${'}'.repeat(r.int(300))}`;
        case 3: return Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256)));
        case 4: return JSON.stringify({ key: b64('big'), value: Buffer.alloc(r.int(3 * 1024 * 1024)).toString('base64') });
        case 5: return JSON.stringify({ ID: r.pick([1, '2', -1, '18446744073709551616', 'x']), TTL: r.pick([1, 0, -5, '9e9']) });
        case 6: return `{"key":"${'\\u'.repeat(r.int(5))}${'a'.repeat(r.int(20))}"}`;
        case 7: return '';
        default: return JSON.stringify(randomValue(r));
      }
    };
    for (let i = 0; i < ROBUSTNESS_CASES; i++) {
      const path = r.pick(paths);
      const method = r.bool(0.9) ? 'POST' : r.pick(['GET', 'PUT', 'DELETE', 'PATCH']);
      const body = bodies();
      const streamed = path.endsWith('/watch') || path.endsWith('/keepalive');
      if (process.env['GATEWAY_FUZZ_TRACE']) process.stderr.write(`case ${i}: ${method} ${path} ${String(body).length} ${String(body).slice(0, 80)}\n`);
      const a = await send(pair.raftkv.clientUrl, method, path, body, streamed).catch((err: unknown) => {
        throw new Error(`case ${i}: ${method} ${path} ${String(body).slice(0, 120)}: ${String(err)}`);
      });
      const what = `case ${i}: ${method} ${path} ${String(body).slice(0, 120)} → ${a.status} ${a.body.slice(0, 200)}`;
      expect([...(streamed ? [0] : []), 200, 301, 400, 401, 403, 404, 405, 408, 409, 412, 429, 500, 501, 503, 504], what).toContain(a.status);
      if (a.status >= 400 && a.headers['content-type'] === 'application/json') {
        const parsed = JSON.parse(a.body) as { code?: number; error?: string; message?: string };
        expect(typeof parsed.code, what).toBe('number');
        expect(parsed.error, what).toBe(parsed.message);
      } else if (a.status >= 400) {
        expect(a.headers['content-type'], what).toBe('text/plain; charset=utf-8');
      }
    }
    // Still serving: a write and a read through the gateway.
    const put = await send(pair.raftkv.clientUrl, 'POST', '/v3/kv/put', JSON.stringify({ key: b64('after-fuzz'), value: b64('ok') }));
    expect(put.status).toBe(200);
    const got = await send(pair.raftkv.clientUrl, 'POST', '/v3/kv/range', JSON.stringify({ key: b64('after-fuzz') }));
    expect((JSON.parse(got.body) as { kvs: Array<{ value: string }> }).kvs[0]!.value).toBe(b64('ok'));
  }, 240_000);
});
