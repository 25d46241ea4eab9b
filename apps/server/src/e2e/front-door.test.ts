// The real raftkv binary's front door: etcdctl (gRPC, both :authority forms) and curl (HTTP/1.1
// and HTTP/2) on the same client port, the metrics URL, and hostile bytes at the port that
// leave the member serving.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { etcdctl, freePort, removeDir, startRaftkv, type ServerProcess } from '@raftkv/testkit';
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

  it('listens on --listen-metrics-urls (HTTP only; /metrics and /health come with the operations work)', async () => {
    const answer = await curl(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(answer.status).toBe('404');
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
