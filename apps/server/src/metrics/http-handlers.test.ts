import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HttpHandler } from '../front-door/index.js';
import { HealthChecker } from './health.js';
import { clientHttpHandler, metricsUrlHandler } from './http-handlers.js';
import { MemberMetrics } from './member-metrics.js';
import { parseExposition, sampleValue } from './test-support/prom-text.js';

let healthy = true;
const metrics = new MemberMetrics({ extensive: false, quotaBackendBytes: 2 * 1024 ** 3, processMetrics: false });
const health = new HealthChecker(
  { leaderId: () => (healthy ? 1n : 0n), confirmQuorumRead: () => Promise.resolve() }, { warn: () => undefined }, (ok) => metrics.healthChecked(ok),
);
const servers: http.Server[] = [];
let clientBase = '';
let metricsBase = '';

async function serve(handler: HttpHandler): Promise<string> {
  const server = http.createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  clientBase = await serve(clientHttpHandler({ health, metrics }));
  metricsBase = await serve(metricsUrlHandler({ health, metrics }));
});
afterAll(async () => {
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
});

describe('/health as etcd 3.4 answers it', () => {
  test.each(['client', 'metrics'] as const)('on the %s URL: 200 {"health":"true"} as text/plain, then 503 {"health":"false"} through http.Error', async (which) => {
    const base = which === 'client' ? clientBase : metricsBase;
    healthy = true;
    const ok = await request(`${base}/health`);
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('{"health":"true"}');
    expect(ok.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(ok.headers['x-content-type-options']).toBeUndefined();
    healthy = false;
    const bad = await request(`${base}/health`);
    expect(bad.status).toBe(503);
    expect(bad.body.toString()).toBe('{"health":"false"}\n');
    expect(bad.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(bad.headers['x-content-type-options']).toBe('nosniff');
    healthy = true;
    // etcd's access controller adds CORS headers on the client URLs only.
    expect(ok.headers['access-control-allow-origin']).toBe(which === 'client' ? '*' : undefined);
  });

  test.each(['POST', 'HEAD', 'PUT', 'DELETE'])('%s is refused with 405 and Allow: GET', async (method) => {
    const r = await request(`${metricsBase}/health`, method);
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('GET');
    if (method !== 'HEAD') expect(r.body.toString()).toBe('Method Not Allowed\n');
  });

  test('each answer is counted in etcd_server_health_success / _failures', async () => {
    const before = parseExposition(await metrics.exposition());
    healthy = false;
    await request(`${metricsBase}/health`);
    healthy = true;
    await request(`${clientBase}/health?exclude=NOSPACE`);
    const after = parseExposition(await metrics.exposition());
    expect(sampleValue(after, 'etcd_server_health_failures')! - sampleValue(before, 'etcd_server_health_failures')!).toBe(1);
    expect(sampleValue(after, 'etcd_server_health_success')! - sampleValue(before, 'etcd_server_health_success')!).toBe(1);
  });
});

describe('/metrics', () => {
  test.each(['client', 'metrics'] as const)('on the %s URL: Prometheus text 0.0.4, any method', async (which) => {
    const base = which === 'client' ? clientBase : metricsBase;
    for (const method of ['GET', 'POST']) {
      const r = await request(`${base}/metrics`, method);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const e = parseExposition(r.body.toString());
      expect(e.types.get('etcd_server_has_leader')).toBe('gauge');
      expect(sampleValue(e, 'etcd_server_quota_backend_bytes')).toBe(2 * 1024 ** 3);
    }
  });

  test('gzipped when the scraper accepts it, as promhttp', async () => {
    const r = await request(`${metricsBase}/metrics`, 'GET', { 'Accept-Encoding': 'gzip' });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(parseExposition(gunzipSync(r.body).toString()).types.get('etcd_server_is_leader')).toBe('gauge');
  });
});

describe('everything else', () => {
  test('the client URL keeps etcd defaults: /version, OPTIONS, 404s', async () => {
    const v = await request(`${clientBase}/version`);
    expect(JSON.parse(v.body.toString())).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' });
    const o = await request(`${clientBase}/health`, 'OPTIONS');
    expect(o.status).toBe(200);
    expect(o.body.length).toBe(0);
    expect((await request(`${clientBase}/metricsx`)).status).toBe(404);
  });

  test('the metrics URL serves only /health and /metrics (etcd\'s metrics mux)', async () => {
    for (const path of ['/version', '/', '/health/', '/v3/kv/range']) {
      const r = await request(`${metricsBase}${path}`);
      expect(r.status, path).toBe(404);
      expect(r.body.toString()).toBe('404 page not found\n');
    }
  });
});
