// The real raftkv binary's front door: etcdctl (gRPC, both :authority forms) and curl (HTTP/1.1
// and HTTP/2) on the same client port, the metrics URL, and hostile bytes at the port that
// leave the member serving.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { readdirSync, readlinkSync } from 'node:fs';
import { etcdctl, freePort, removeDir, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import { CLIENT_PREFACE, encodeFrame as frame } from '../front-door/frame-reader.js';
import { encodeHeaderBlock } from '../front-door/header-block.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

async function curl(...args: string[]): Promise<{ status: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { body: stdout.slice(0, cut), status: stdout.slice(cut + 1) };
}

describe('the front door of a real raftkv process', () => {
  let server: ServerProcess;
  let metricsPort: number;

  beforeAll(async () => {
    // (etcd's unix:// URLs name a socket file relative to the working directory: a TCP port it is.)
    metricsPort = await freePort();
    server = await startRaftkv({ args: ['--listen-metrics-urls', `http://127.0.0.1:${metricsPort}`] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('etcdctl and curl are served on the same client port', async () => {
    const url = `http://${server.endpoint}`;
    const put = await etcdctl(url, ['put', 'a', 'b']);
    expect([put.code, put.stdout.trim()]).toEqual([0, 'OK']);
    const get = await etcdctl(server.endpoint, ['get', 'a']);
    expect(get.stdout.trim().split('\n')).toEqual(['a', 'b']);
    // URL endpoints: etcdctl sends the whole URL as :authority for these.
    const status = await etcdctl(url, ['endpoint', 'status', '-w', 'json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)[0].Status.version).toBe('3.4.23');
    for (const http of [[], ['--http2-prior-knowledge']]) {
      const version = await curl(...http, `${url}/version`);
      expect(version).toEqual({ status: '200', body: '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}' });
      const nope = await curl(...http, `${url}/nope`);
      expect(nope).toEqual({ status: '404', body: '404 page not found\n' });
    }
  });

  it('listens on --listen-metrics-urls (HTTP only: /metrics and /health, see metrics-health.test.ts)', async () => {
    expect((await curl(`http://127.0.0.1:${metricsPort}/health`)).body).toBe('{"health":"true"}');
    expect((await curl(`http://127.0.0.1:${metricsPort}/version`)).status).toBe('404');
  });

  it('garbage, a bad preface and a silent socket at the port leave the member serving', async () => {
    const port = Number(server.endpoint.split(':')[1]);
    const silent = net.connect(port, '127.0.0.1');
    silent.on('error', () => {});
    for (const bytes of [Buffer.alloc(5_000, 0xee), Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), Buffer.from('hello\r\n\r\n')]) {
      await new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.resume();
      });
    }
    const put = await etcdctl(`http://${server.endpoint}`, ['put', 'after', 'garbage']);
    expect(put.stdout.trim()).toBe('OK');
    expect((await curl(`http://${server.endpoint}/version`)).status).toBe('200');
    silent.destroy();
  });
});

/** Sockets the process holds open (its client, peer and metrics listeners and connections). */
function openSockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while listed
    }
  }
  return n;
}

/** A gRPC request and then a DATA frame on stream 0, which Node's HTTP/2 refuses with GOAWAY. */
function poisonedGrpcConnection(): Buffer {
  const block = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.KV/Range'],
    [':authority', '127.0.0.1:1'], ['content-type', 'application/grpc']].map(([name, value]) => ({ name: name!, value: value!, neverIndex: false })));
  return Buffer.concat([CLIENT_PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(4, 1, 0, Buffer.alloc(0)),
    frame(1, 0x4, 1, block), frame(0, 0, 0, Buffer.alloc(3))]);
}

describe('--grpc-keepalive-interval and --grpc-keepalive-timeout', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startRaftkv({ args: ['--grpc-keepalive-interval', '1s', '--grpc-keepalive-timeout', '1s'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('close the gRPC connections Node refused once their clients have gone (a failed ping ends them)', async () => {
    const pid = server.child.pid!;
    expect((await etcdctl(server.endpoint, ['put', 'k', 'v'])).stdout.trim()).toBe('OK');
    const before = openSockets(pid);
    const port = Number(server.endpoint.split(':')[1]);
    await Promise.all(Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(poisonedGrpcConnection()));
      s.on('error', () => {});
      s.on('data', () => {});
      // Leave once the server has answered (SETTINGS, then GOAWAY).
      setTimeout(() => { s.destroy(); resolve(); }, 500);
    })));
    const deadline = Date.now() + 30_000;
    while (openSockets(pid) > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(openSockets(pid)).toBeLessThanOrEqual(before);
    expect((await etcdctl(server.endpoint, ['get', 'k', '--print-value-only'])).stdout.trim()).toBe('v');
  }, 60_000);
});
