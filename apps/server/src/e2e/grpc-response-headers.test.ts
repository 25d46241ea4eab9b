// The HTTP/2 headers of a gRPC response, raftkv against real etcd: the same names (etcd's Go
// server sends :status and content-type, then grpc-status and grpc-message as trailers). grpc-js
// would add grpc-encoding, grpc-accept-encoding and Node's date to every response; the patch in
// patches/ leaves them out, as each costs the server and every client time per response.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

interface Exchange { headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }

/** A serializable Range of "k" over a raw HTTP/2 session; the second call's headers (HPACK warmed up). */
async function rangeExchange(endpoint: string): Promise<Exchange> {
  const session = http2.connect(`http://${endpoint}`);
  try {
    let last: Exchange | undefined;
    for (let i = 0; i < 2; i++) {
      const body = Buffer.from([0x0a, 0x01, 0x6b, 0x40, 0x01]); // RangeRequest{key: "k", serializable: true}
      const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
      last = await new Promise<Exchange>((resolve, reject) => {
        let headers: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        req.on('response', (h) => { headers = h; });
        req.on('trailers', (t) => { trailers = t; });
        req.on('error', reject);
        req.on('end', () => resolve({ headers, trailers }));
        req.resume();
        req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]));
      });
    }
    return last!;
  } finally {
    session.close();
  }
}

const names = (h: http2.IncomingHttpHeaders) => Object.keys(h).sort();

describe('gRPC response headers', () => {
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    servers.push(await startEtcd(), await startRaftkv());
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) {
      await s.stop();
      removeDir(s.dataDir);
    }
  });

  it('a Range answer carries the header and trailer names etcd sends, and no date', async () => {
    const [etcd, raftkv] = await Promise.all(servers.map((s) => rangeExchange(s.endpoint)));
    expect(names(raftkv!.headers)).toEqual(names(etcd!.headers));
    expect(raftkv!.headers['content-type']).toBe(etcd!.headers['content-type']);
    expect(raftkv!.headers['date']).toBeUndefined();
    expect(names(raftkv!.trailers)).toEqual(names(etcd!.trailers));
    expect(raftkv!.trailers['grpc-status']).toBe('0');
  });
});
