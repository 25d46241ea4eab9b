import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** An HTTP request as the door hands it on: HTTP/1.1 (node:http) or HTTP/2 (node:http2's compatibility API). */
export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;
/**
 * What serves the HTTP requests arriving at the door (HTTP/1.1, and HTTP/2 that is not gRPC).
 * A thrown error or a rejected promise answers 500 (or ends the response if it had started).
 */
export type HttpHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

/** etcd 3.4.23's `/version` body: its server version and the cluster version it runs at. */
export const ETCD_VERSIONS = Object.freeze({ etcdserver: '3.4.23', etcdcluster: '3.4.0' });

/** Go's http.Error: the text and a newline, its length also on a HEAD answer (which has no body). */
function goError(res: HttpResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.statusCode = status;
  res.end(body);
}

/** etcd's 404 for a path nothing serves (Go's http.NotFound). */
export function notFound(_req: HttpRequest, res: HttpResponse): void {
  goError(res, 404, '404 page not found');
}

/**
 * The client URLs' HTTP side beneath the gateway, /health and /metrics (which the server puts in
 * front): etcd 3.4's access controller with its default `--cors '*'` (CORS headers on every
 * answer, OPTIONS answered 200 and empty), `/version` (GET only, 405 with `Allow: GET` otherwise,
 * as etcd's allowMethod) and Go's 404 for everything else — /v3/ paths too, as etcd answers them
 * with `--enable-grpc-gateway=false`.
 */
export function etcdClientHttpDefaults(req: HttpRequest, res: HttpResponse): void {
  res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
  res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (req.method === 'OPTIONS') {
    res.statusCode = 200;
    res.setHeader('Content-Length', '0');
    res.end();
    return;
  }
  const path = (req.url ?? '/').split('?')[0]!;
  if (path !== '/version') {
    notFound(req, res);
    return;
  }
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    goError(res, 405, 'Method Not Allowed');
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.statusCode = 200;
  res.end(JSON.stringify(ETCD_VERSIONS));
}
