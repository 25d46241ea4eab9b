// The gateway in process, in front of a grpc-js server with stand-in KV and Watch services: what
// reaches the gRPC side (metadata from the HTTP headers, as grpc-gateway forwards them), limits,
// and a cancelled call when the HTTP client goes away.
import { Server, status, type Metadata, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall } from '@grpc/grpc-js';
import { etcdserverpb, KVService, WatchService } from '@raftkv/api';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notFound } from '../front-door/index.js';
import { Gateway } from './gateway.js';

const MAX_JSON = 64 * 1024;

describe('gateway in front of a stand-in gRPC server', () => {
  const seen: { metadata?: Metadata; ranges: number; watchEnded?: string } = { ranges: 0 };
  let watchCancelled: (reason: string) => void = () => {};
  const server = new Server();
  server.addService(KVService, {
    range: (call: ServerUnaryCall<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>, cb: sendUnaryData<etcdserverpb.RangeResponse>) => {
      seen.metadata = call.metadata;
      seen.ranges++;
      if (Buffer.from(call.request.key).toString() === 'fail') return cb({ code: status.FAILED_PRECONDITION, details: 'etcdserver: <failed> & "quoted"' });
      cb(null, { header: { clusterId: 1n, memberId: 2n, revision: -1n, raftTerm: 18446744073709551615n }, kvs: [{ key: call.request.key, createRevision: 1n, modRevision: 0n, version: 1n, value: Buffer.from([0, 255]), lease: 0n }], more: false, count: 1n });
    },
    put: () => {}, deleteRange: () => {}, txn: () => {}, compact: () => {},
  });
  server.addService(WatchService, {
    watch: (call: ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>) => {
      call.on('data', () => call.write({ header: undefined, watchId: 7n, created: true, canceled: false, compactRevision: 0n, cancelReason: '', fragment: false, events: [] }));
      call.on('cancelled', () => watchCancelled('cancelled'));
    },
  });
  const gateway = new Gateway({ grpcServer: server, maxJsonValueBytes: MAX_JSON });
  const httpServer = http.createServer(gateway.handler(notFound));
  let base = '';

  beforeAll(async () => {
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    gateway.close();
    server.forceShutdown();
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer.close(resolve));
  });

  const post = async (path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', body, headers });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };

  it('answers in grpc-gateway\'s JSON: int64 and uint64 as strings, bytes as base64, zero values left out', async () => {
    const res = await post('/v3/kv/range', JSON.stringify({ key: Buffer.from('k').toString('base64') }));
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"header":{"cluster_id":"1","member_id":"2","revision":"-1","raft_term":"18446744073709551615"},'
      + '"kvs":[{"key":"aw==","create_revision":"1","version":"1","value":"AP8="}],"count":"1"}');
    expect(res.headers.get('grpc-metadata-content-type')).toBe('application/grpc');
  });

  it('forwards Authorization as `authorization` metadata (what etcd\'s auth reads), permanent headers as grpcgateway-*, Grpc-Metadata-* by name', async () => {
    await post('/v3/kv/range', '{"key":"aw=="}', { authorization: 'token-abc', 'grpc-metadata-tenant': 'blue', 'user-agent': 'curl/8', 'grpc-metadata-grpc-status': '0' });
    const md = seen.metadata!;
    expect(md.get('authorization')).toEqual(['token-abc']);
    expect(md.get('grpcgateway-authorization')).toEqual(['token-abc']);
    expect(md.get('grpcgateway-user-agent')).toEqual(['curl/8']);
    expect(md.get('tenant')).toEqual(['blue']);
    expect(md.get('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(md.get('x-forwarded-host')).toEqual([new URL(base).host]);
  });

  it('an error status is grpc-gateway\'s body with the mapped HTTP status (412 for FAILED_PRECONDITION), Go-escaped', async () => {
    const res = await post('/v3/kv/range', JSON.stringify({ key: Buffer.from('fail').toString('base64') }));
    expect(res.status).toBe(412);
    expect(res.body).toBe('{"error":"etcdserver: \\u003cfailed\\u003e \\u0026 \\"quoted\\"","message":"etcdserver: \\u003cfailed\\u003e \\u0026 \\"quoted\\"","code":9}');
  });

  it('a JSON value over the bound is refused with RESOURCE_EXHAUSTED (429) before any call', async () => {
    const before = seen.ranges;
    const res = await post('/v3/kv/range', JSON.stringify({ key: 'A'.repeat(MAX_JSON) }));
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body)).toMatchObject({ code: 8 });
    expect(seen.ranges).toBe(before);
  });

  it('a bad Grpc-Timeout is refused as grpc-gateway does', async () => {
    const res = await post('/v3/kv/range', '{"key":"aw=="}', { 'grpc-timeout': 'soon' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid grpc-timeout: soon', message: 'invalid grpc-timeout: soon', code: 3 });
  });

  it('a watch whose HTTP client goes away is cancelled on the gRPC side', async () => {
    const cancelled = new Promise<string>((resolve) => { watchCancelled = resolve; });
    const controller = new AbortController();
    const res = await fetch(`${base}/v3/watch`, { method: 'POST', body: '{"create_request":{"key":"aw=="}}', signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('{"result":{"watch_id":"7","created":true}}\n');
    controller.abort();
    expect(await cancelled).toBe('cancelled');
  });

  it('paths outside /v3/ go to the next handler; OPTIONS too', async () => {
    expect((await fetch(`${base}/health`)).status).toBe(404);
    expect((await fetch(`${base}/v3/kv/range`, { method: 'OPTIONS' })).status).toBe(404);
  });
});
