import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callMetadata, headerValue } from './lean-metadata.js';

const DROPPED = ['grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'te', 'content-type'];

/** What grpc-js's server hands a handler: the headers' metadata less what it removes. */
function grpcJsMetadata(headers: Record<string, string | string[]>): Metadata {
  const md = Metadata.fromHttp2Headers(headers);
  for (const key of DROPPED) md.remove(key);
  return md;
}

const GRPC_JS_CLIENT = {
  ':method': 'POST', ':scheme': 'http', ':path': '/etcdserverpb.KV/Put', ':authority': '127.0.0.1:2379',
  'grpc-accept-encoding': 'identity,deflate,gzip', 'accept-encoding': 'identity', te: 'trailers',
  'content-type': 'application/grpc', 'user-agent': 'grpc-node-js/1.12.6', 'grpc-timeout': '4999m',
};

describe('callMetadata', () => {
  const cases: Array<[string, Record<string, string | string[]>]> = [
    ['a grpc-js client call', GRPC_JS_CLIENT],
    ['with an auth token', { ...GRPC_JS_CLIENT, token: 'abc.def', authorization: 'xyz' }],
    ['custom binary header, several base64 values', { ...GRPC_JS_CLIENT, 'trace-bin': 'AQID, BAUG' }],
    ['grpc- binary header (not split)', { ...GRPC_JS_CLIENT, 'grpc-trace-bin': 'AQID' }],
    ['repeated header as an array', { ...GRPC_JS_CLIENT, 'x-tag': ['a', 'b'], 'x-bin': ['AQ==', 'Ag=='] }],
    ['an illegal value (grpc-js drops that key only)', { ...GRPC_JS_CLIENT, 'x-bad': 'caf\u00e9', 'x-good': 'ok' }],
    ['only pseudo and dropped headers', { ':path': '/x', te: 'trailers', 'content-type': 'application/grpc' }],
  ];
  for (const [name, headers] of cases) {
    it(`equals grpc-js's handler metadata: ${name}`, () => {
      expect(callMetadata(headers).getMap()).toEqual(grpcJsMetadata(headers).getMap());
      expect(callMetadata(headers).toJSON()).toEqual(grpcJsMetadata(headers).toJSON());
    });
  }
});

describe('headerValue', () => {
  it('reads a header as grpc-js finds it in the metadata: the first value, absent if illegal', () => {
    expect(headerValue({ 'grpc-timeout': '10S' }, 'grpc-timeout')).toBe('10S');
    expect(headerValue({ 'grpc-timeout': ['5m', '6m'] }, 'grpc-timeout')).toBe('5m');
    expect(headerValue({ 'grpc-encoding': 'gz\u0001ip' }, 'grpc-encoding')).toBeUndefined();
    expect(headerValue({}, 'grpc-encoding')).toBeUndefined();
    for (const [h, v] of [[{ 'grpc-timeout': '10S' }, '10S'], [{ 'grpc-encoding': 'gz\u0001ip' }, undefined]] as const) {
      const key = Object.keys(h)[0]!;
      expect(Metadata.fromHttp2Headers(h).get(key)[0]).toBe(v);
    }
  });
});
