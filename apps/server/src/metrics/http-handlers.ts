import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { etcdClientHttpDefaults, notFound, type HttpHandler, type HttpRequest, type HttpResponse } from '../front-door/index.js';
import type { HealthChecker } from './health.js';
import type { MemberMetrics } from './member-metrics.js';

const gzipAsync = promisify(gzip);

/** What serves etcd's /health and /metrics. */
export interface MonitoringEndpoints {
  readonly health: HealthChecker;
  readonly metrics: MemberMetrics;
}

function pathOf(req: HttpRequest): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Go's http.Error (text, newline, nosniff), which etcd answers errors with. */
function goError(res: HttpResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.statusCode = status;
  res.end(body);
}

/**
 * etcd 3.4's /health: GET only (405 with `Allow: GET` otherwise); `{"health":"true"}` with 200, or
 * `{"health":"false"}` with 503 through Go's http.Error (a trailing newline, nosniff). The 200
 * body's type is what Go sniffs from it: text/plain. `?exclude=NOSPACE` (repeatable) ignores
 * that alarm.
 */
export async function serveHealth(health: HealthChecker, req: HttpRequest, res: HttpResponse): Promise<void> {
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    goError(res, 405, 'Method Not Allowed');
    return;
  }
  const excluded = new Set(new URL(req.url ?? '/', 'http://localhost').searchParams.getAll('exclude'));
  const healthy = await health.check(excluded);
  const body = JSON.stringify({ health: healthy ? 'true' : 'false' });
  if (!healthy) {
    goError(res, 503, body);
    return;
  }
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.statusCode = 200;
  res.end(body);
}

/** Prometheus's text format, gzipped when the scraper accepts it (as promhttp does); any method. */
export async function serveMetrics(metrics: MemberMetrics, req: HttpRequest, res: HttpResponse): Promise<void> {
  metrics.scrapeStarted();
  let status = 500;
  try {
    await writeExposition(metrics, req, res);
    status = res.statusCode;
  } finally {
    metrics.scrapeEnded(status);
  }
}

async function writeExposition(metrics: MemberMetrics, req: HttpRequest, res: HttpResponse): Promise<void> {
  const text = await metrics.exposition();
  res.setHeader('Content-Type', metrics.contentType);
  const accept = req.headers['accept-encoding'];
  if (typeof accept === 'string' && /\bgzip\b/.test(accept)) {
    const body = await gzipAsync(text);
    res.setHeader('Content-Encoding', 'gzip');
    res.setHeader('Content-Length', String(body.length));
    res.statusCode = 200;
    res.end(body);
    return;
  }
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  res.statusCode = 200;
  res.end(text);
}

/**
 * The client URLs' HTTP side: /health and /metrics behind etcd's access controller (CORS headers
 * of its default `--cors '*'`; OPTIONS is answered by `next`), everything else by `next`
 * (default: /version and 404s).
 */
export function clientHttpHandler(endpoints: MonitoringEndpoints, next: HttpHandler = etcdClientHttpDefaults): HttpHandler {
  return (req, res) => {
    const path = pathOf(req);
    if (req.method === 'OPTIONS' || (path !== '/health' && path !== '/metrics')) return next(req, res);
    res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
    res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
    res.setHeader('Access-Control-Allow-Origin', '*');
    return path === '/health' ? serveHealth(endpoints.health, req, res) : serveMetrics(endpoints.metrics, req, res);
  };
}

/** --listen-metrics-urls: /health and /metrics only (etcd's metrics mux), 404 for the rest. */
export function metricsUrlHandler(endpoints: MonitoringEndpoints): HttpHandler {
  return (req, res) => {
    const path = pathOf(req);
    if (path === '/health') return serveHealth(endpoints.health, req, res);
    if (path === '/metrics') return serveMetrics(endpoints.metrics, req, res);
    return notFound(req, res);
  };
}
