import http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { eventually } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MemberMetrics } from '../metrics/index.js';
import { FrameReader, serveLeanUnary } from './lean-unary.js';
import { requireLeader } from './require-leader.js';

// The same method served by grpc-js (its interceptors: metrics, require-leader) and on the lean
// path (the same counters and check as hooks): a client must see the same bytes of headers,
// status and trailers from both, and /metrics the same counts.
const MAX_REQUEST = 64;
const echo = {
  path: '/t.Test/Echo', originalName: 'echo', requestStream: false, responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => {
    if (b.toString().startsWith('bad')) throw new Error('undecodable');
    return b;
  },
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

/** Answers by what the request says: an error, never, the connection's peer, or the request in upper case. */
function handler(call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>): void {
  const req = call.request.toString();
  if (req === 'fail') cb({ code: 9, details: 'not now: 100%' });
  else if (req === 'hang') return;
  else if (req === 'peer') cb(null, Buffer.from(`${call.getPeer()} ${call.metadata.get('token')[0] ?? ''}`));
  else cb(null, Buffer.from(req.toUpperCase()));
}

interface Side { port: number; metrics: MemberMetrics; server: Server; leanCalls: number; lastCall?: ServerUnaryCall<Buffer, Buffer> }

async function startSide(lean: boolean, extensive: boolean): Promise<Side> {
  const metrics = new MemberMetrics({ extensive, quotaBackendBytes: 0, processMetrics: false });
  const side = { port: 0, metrics, server: undefined as unknown as Server, leanCalls: 0 };
  const leader = requireLeader(() => false, 60_000);
  const server = new Server({
    'grpc.max_receive_message_length': MAX_REQUEST,
    // The lean side keeps them for the calls it leaves to grpc-js.
    interceptors: [metrics.grpc.interceptor, leader.interceptor],
  });
  const service = { echo };
  server.addService(service, { echo: handler });
  if (lean) {
    // Counts the calls the lean path hands the handler, so the test knows that path served them.
    const counted = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      side.leanCalls++;
      (side as Side).lastCall = call;
      handler(call, cb);
    };
    serveLeanUnary(server, [{ def: echo as never, impl: counted as never }], MAX_REQUEST, {
      count: (path, md) => metrics.grpc.leanUnaryCall(path, md), refuse: leader.refuses,
    });
  }
  metrics.grpc.register([service]);
  leader.close();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return Object.assign(side, { port, server });
}

const frame = (payload: Buffer | string, flag = 0): Buffer => {
  const body = Buffer.from(payload);
  const out = Buffer.alloc(5 + body.length);
  out[0] = flag;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
};

interface Answer { headers: Record<string, unknown>; data: string; trailers: Record<string, unknown> }

/**
 * One call as raw HTTP/2: what a client receives, headers and trailers as decoded. With
 * `resetWhen`, the client does not end its request: once its messages are written and `resetWhen`
 * resolves, it resets the call (RST_STREAM CANCEL).
 */
function rawCall(port: number, body: Buffer[], extra: Record<string, string> = {}, resetWhen?: () => Promise<unknown>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST', ':path': echo.path, 'content-type': 'application/grpc', te: 'trailers', ...extra,
    });
    let headers: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    const data: Buffer[] = [];
    req.on('response', (h) => { headers = { ...h }; });
    req.on('trailers', (t) => { trailers = { ...t }; });
    req.on('data', (d: Buffer) => data.push(d));
    req.on('close', () => {
      session.close();
      resolve({ headers, data: Buffer.concat(data).toString('hex'), trailers });
    });
    const written = body.map((b) => new Promise<void>((done) => req.write(b, () => done())));
    if (resetWhen === undefined) req.end();
    else Promise.all(written).then(resetWhen).then(() => req.close(http2.constants.NGHTTP2_CANCEL), reject);
  });
}

/** Calls of the test method the side's server has started (grpc_server_started_total): it has their headers. */
async function startedCalls(side: Side): Promise<number> {
  const line = (await side.metrics.exposition()).split('\n')
    .find((l) => l.startsWith('grpc_server_started_total{') && l.includes('grpc_method="Echo"'));
  return Number(line?.split(' ').pop());
}

/** A call to `side` that the client resets once the server has started it (whatever the machine's load). */
async function resetCall(side: Side): Promise<Answer> {
  const before = await startedCalls(side);
  return rawCall(side.port, [frame('hang')], {}, () =>
    eventually('the server has started the call', async () => ((await startedCalls(side)) > before ? true : undefined), 10_000));
}

// --metrics extensive times each call and counts a cancelled one once, as Canceled.
describe.each([false, true])('lean unary path (extensive metrics: %s)', (extensive) => {
  let plain: Side;
  let lean: Side;
  beforeAll(async () => {
    plain = await startSide(false, extensive);
    lean = await startSide(true, extensive);
  });
  afterAll(() => {
    plain.server.forceShutdown();
    lean.server.forceShutdown();
  });

  const gzip = (s: string) => frame(gzipSync(s), 1);
  const cases: Array<[string, Buffer[], Record<string, string>?]> = [
    ['a request', [frame('hello')]],
    ['a request in pieces', [frame('hello').subarray(0, 3), frame('hello').subarray(3)]],
    ['metadata and the peer', [frame('peer')], { token: 'tok' }],
    ['a handler error', [frame('fail')]],
    ['an undecodable request', [frame('bad request')]],
    ['no message', []],
    ['two messages', [frame('a'), frame('b')]],
    ['a truncated second message', [frame('hello'), frame('world').subarray(0, 7)]],
    ['a message over the limit', [frame('x'.repeat(MAX_REQUEST + 1))]],
    ['a deadline', [frame('hang')], { 'grpc-timeout': '20m' }],
    ['a malformed deadline', [frame('hello')], { 'grpc-timeout': 'soon' }],
    ['a gzip request', [gzip('zipped')], { 'grpc-encoding': 'gzip' }],
    ['an unsupported encoding', [frame('hello', 1)], { 'grpc-encoding': 'snappy' }],
    ['hasleader without a leader', [frame('hello')], { hasleader: 'true' }],
    ['hasleader false', [frame('hello')], { hasleader: 'false' }],
  ];
  test.each(cases)('%s: the same answer as grpc-js', async (_name, body, extra) => {
    const [a, b] = [await rawCall(plain.port, body, extra), await rawCall(lean.port, body, extra)];
    // The peer's port differs per connection; Node dates a trailers-only answer (both do), to the second.
    const norm = (x: Answer) => ({
      headers: { ...x.headers, ...('date' in x.headers ? { date: 'DATE' } : {}) },
      trailers: x.trailers, data: x.data.replace(/3132372e302e302e313a[0-9a-f]+20/, 'PEER'),
    });
    expect(norm(b)).toEqual(norm(a));
    expect(a.trailers['grpc-status'] ?? a.headers['grpc-status']).toBeDefined();
    expect(plain.leanCalls).toBe(0);
  });

  test('a call the client resets is not answered, and counts as grpc-js counts it', async () => {
    const [a, b] = [await resetCall(plain), await resetCall(lean)];
    expect(b).toEqual(a);
    expect(b.trailers).toEqual({});
    // Handed to the handler by the lean path: the 7 cases that reach it above, and this one.
    expect(lean.leanCalls).toBe(8);
  });

  test('/metrics counts the calls above alike', async () => {
    // Handling times differ; their counts must not.
    const text = async (s: Side) => (await s.metrics.exposition()).split('\n')
      .filter((l) => l.startsWith('grpc_server_') || l.startsWith('etcd_server_client_requests_total'))
      .filter((l) => !l.startsWith('grpc_server_handling_seconds_bucket') && !l.startsWith('grpc_server_handling_seconds_sum'));
    // A server learns of the reset above a little after the client's stream closed.
    const [a, b] = await eventually('the same counts on both sides', async () => {
      const [x, y] = [await text(plain), await text(lean)];
      return JSON.stringify(x) === JSON.stringify(y) ? [x, y] : undefined;
    }, 5_000);
    expect(b).toEqual(a);
    expect(a.some((l) => /grpc_server_handled_total\{.*grpc_code="OK"\} [1-9]/.test(l))).toBe(true);
    expect(a.some((l) => /grpc_server_handling_seconds_count\{.*\} [1-9]/.test(l))).toBe(extensive);
  });
});

describe('lean unary path: the decoded request', () => {
  test('is let go once the handler has it, while the call waits for its answer', async () => {
    const side = await startSide(true, false);
    try {
      const answer = resetCall(side);
      await eventually('the handler has the call', () => Promise.resolve(side.lastCall), 5_000);
      expect(side.lastCall!.request).toBeUndefined();
      await answer;
    } finally {
      side.server.forceShutdown();
    }
  });
});

describe('FrameReader', () => {
  const two = Buffer.concat([frame('first'), frame(''), frame('third')]);
  test.each([1, 2, 3, 5, 6, 7, 11, two.length])('splits messages cut into chunks of %i bytes', (size) => {
    const reader = new FrameReader(100);
    for (let i = 0; i < two.length; i += size) expect(reader.write(two.subarray(i, i + size))).toBeUndefined();
    expect(reader.messages.map(String)).toEqual(['first', '', 'third']);
  });
  test('refuses a declared length over the limit as soon as the prefix is in, with grpc-js text', () => {
    const reader = new FrameReader(4);
    expect(reader.write(frame('12345').subarray(0, 4))).toBeUndefined();
    expect(reader.write(frame('12345').subarray(4, 5))).toBe('Received message larger than max (5 vs 4)');
  });
});
