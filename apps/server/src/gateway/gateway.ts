import type { Server } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { HttpHandler, HttpRequest, HttpResponse, HttpUpgradeHandler } from '../front-door/index.js';
import { clientIdentity, connectionKey, keyOfRelayedConnection, RELAYED_CONNECTION_HEADER } from '../security/client-identities.js';
import { GoJsonDecoder, goJsonString, type DecodeResult } from './go-json.js';
import { LoopbackChannel, type CallEnd, type LoopbackCall, type Metadata } from './loopback.js';
import { goBase64Decode, JsonDecodeError, jsonToWire, wireToJson } from './proto-json.js';
import { ROUTES, type Route } from './routes.js';
import { canCompleteHandshake, isWebSocketUpgrade, WebSocketProxy, webSocketRefusal } from './websocket.js';

/** grpc-gateway's HTTPStatusFromCode: the HTTP status for each gRPC code. */
const HTTP_STATUS: readonly number[] = [200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401];
const httpStatusOf = (code: number): number => HTTP_STATUS[code] ?? 500;
const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict',
  412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

const CODE_INVALID_ARGUMENT = 3;
const CODE_UNKNOWN = 2;
const CODE_RESOURCE_EXHAUSTED = 8;

/** grpc-gateway 1.6's isPermanentHTTPHeader: forwarded as `grpcgateway-<Name>` metadata. */
const PERMANENT_HEADERS = new Set([
  'accept', 'accept-charset', 'accept-language', 'accept-ranges', 'authorization', 'cache-control', 'content-type', 'cookie', 'date',
  'expect', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-schedule-tag-match', 'if-unmodified-since',
  'max-forwards', 'origin', 'pragma', 'referer', 'user-agent', 'via', 'warning',
]);

/** Metadata keys a client may not set through Grpc-Metadata-*: HTTP/2's and gRPC's own headers. */
const RESERVED_KEYS = /^(?:grpc-|:)|^(?:content-type|te|user-agent|connection|keep-alive|proxy-connection|transfer-encoding|upgrade|host|http2-settings)$/;
const METADATA_KEY = /^[0-9a-z_.-]+$/;

export interface GatewayOptions {
  /** The member's gRPC server; the gateway calls it over in-memory connections. */
  readonly grpcServer: Server;
  /**
   * Largest JSON value read from a request body (a request message, or one of a stream's):
   * bounds what the gateway buffers. Larger ones are refused with RESOURCE_EXHAUSTED (429).
   */
  readonly maxJsonValueBytes: number;
  /**
   * etcd's access controller with --client-cert-auth and auth on: a /v3/ request over TLS whose
   * verified client certificate has a Common Name is refused (400), since the gateway's calls
   * could not act as that CN. Asked per request; absent: never.
   */
  readonly refuseClientCommonNames?: () => boolean;
}

const CN_REFUSAL = 'CommonName of client sending a request against gateway will be ignored and not used as expected';

/** The verified client certificate's CN of the connection a request came on (the front door records it). */
function clientCommonName(req: HttpRequest): string | undefined {
  const socket = req.socket as { encrypted?: boolean; localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number } | null;
  const direct = socket?.encrypted === true ? connectionKey(socket) : undefined;
  if (direct !== undefined) return clientIdentity(direct);
  const relayed = req.headers[RELAYED_CONNECTION_HEADER];
  const key = typeof relayed === 'string' ? keyOfRelayedConnection(relayed) : undefined;
  return key === undefined ? undefined : clientIdentity(key);
}

/** Go's http.Error: the text and a newline, plain text, nosniff. */
function goError(res: HttpResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.statusCode = status;
  res.end(body);
}

/** etcd's access controller with its default `--cors '*'`. */
function corsHeaders(res: HttpResponse): void {
  res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
  res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
  res.setHeader('Access-Control-Allow-Origin', '*');
}

/** Go's path.Clean, keeping a trailing slash (net/http's cleanPath). */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  const rooted = p.startsWith('/') ? p : `/${p}`;
  const out: string[] = [];
  for (const part of rooted.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  let np = `/${out.join('/')}`;
  if (rooted.endsWith('/') && np !== '/') np += '/';
  return np;
}

/** The request target's path (percent-decoded, as Go's URL.Path) and raw query; undefined for a target Go refuses. */
function parseTarget(url: string): { path: string; query: string } | undefined {
  let target = url;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(target);
  if (scheme) target = target.slice(scheme[0].length) || '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  try {
    return { path: decodeURIComponent(rawPath), query };
  } catch {
    return undefined;
  }
}

/**
 * What etcd's HTTP side does before any handler: its access controller (/v3beta/ → /v3/, OPTIONS
 * answered by `next`), then Go's ServeMux, which redirects (301) an unclean path (`//`, `.`,
 * `..`) to its clean form and, with the gateway (`v3`), `/v3` to `/v3/`, and hands `/v3/...` to
 * the gateway. Everything else goes to `next`.
 */
export function goServeMux(next: HttpHandler, v3?: (path: string, req: HttpRequest, res: HttpResponse) => void | Promise<void>): HttpHandler {
  return (req, res) => {
    const target = parseTarget(req.url ?? '/');
    if (target === undefined || !target.path.startsWith('/') || req.method === 'OPTIONS' || req.method === 'CONNECT') return next(req, res);
    let path = target.path;
    if (path.startsWith('/v3beta/')) path = `/v3/${path.slice('/v3beta/'.length)}`;
    const clean = v3 !== undefined && path === '/v3' ? '/v3/' : cleanPath(path);
    if (clean !== path) {
      corsHeaders(res);
      return redirect(req, res, clean + (target.query === '' ? '' : `?${target.query}`));
    }
    if (v3 === undefined || !path.startsWith('/v3/')) return next(req, res);
    corsHeaders(res);
    return v3(path, req, res);
  };
}

/**
 * Whether Go's ServeMux hands this request to the /v3/ handler unchanged (no redirect to a clean
 * path, not answered by the access controller): only those reach wsproxy.
 */
function v3PathServedAsIs(req: IncomingMessage): boolean {
  const target = parseTarget(req.url ?? '/');
  if (target === undefined || req.method === 'OPTIONS' || req.method === 'CONNECT') return false;
  const path = target.path.startsWith('/v3beta/') ? `/v3/${target.path.slice('/v3beta/'.length)}` : target.path;
  return path.startsWith('/v3/') && cleanPath(path) === path;
}

/** Go's grpc-gateway timeoutDecode: a duration in ms, or an error text. */
function decodeTimeout(s: string): number | string {
  if (s.length < 2) return `timeout string is too short: "${s}"`;
  const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  const unit = unitMs[s[s.length - 1]!];
  if (unit === undefined) return `timeout unit is not recognized: "${s}"`;
  const digits = s.slice(0, -1);
  if (!/^[+-]?\d+$/.test(digits)) return `strconv.ParseInt: parsing "${digits}": invalid syntax`;
  return Number(digits) * unit;
}

/** A gRPC timeout header value for `ms` (at most 8 digits, as gRPC requires). */
function encodeTimeout(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t < 1e8) return `${t}m`;
  if (t / 1000 < 1e8) return `${Math.ceil(t / 1000)}S`;
  return `${Math.min(99_999_999, Math.ceil(t / 3_600_000))}H`;
}

/** Header names in the client's spelling (Go canonicalises them; lower case for HTTP/2 metadata). */
function headerPairs(req: HttpRequest): Array<[string, string]> {
  const raw = req.rawHeaders;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return pairs;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** grpc-gateway's AnnotateContext: the request metadata for the gRPC call, or an error text (400). */
function requestMetadata(req: HttpRequest): Array<[string, string]> | string {
  const md: Array<[string, string]> = [];
  for (const [key, value] of headerPairs(req)) {
    if (key.startsWith(':')) continue; // HTTP/2 pseudo-headers
    if (key === 'authorization') md.push(['authorization', value]);
    if (PERMANENT_HEADERS.has(key)) {
      md.push([`grpcgateway-${key}`, value]);
    } else if (key.startsWith('grpc-metadata-')) {
      const name = key.slice('grpc-metadata-'.length);
      if (name.endsWith('-bin')) {
        // grpc-gateway's decodeBinHeader: padded base64 when the length is a multiple of 4.
        try {
          goBase64Decode(Buffer.from(value, 'latin1'), value.length % 4 === 0);
        } catch (err) {
          return `invalid binary header ${canonicalHeaderKey(key)}: ${(err as Error).message}`;
        }
      }
      if (METADATA_KEY.test(name) && !RESERVED_KEYS.test(name)) md.push([name, value]);
    }
  }
  const host = headerValue(req.headers, 'x-forwarded-host') ?? headerValue(req.headers, 'host') ?? headerValue(req.headers, ':authority');
  if (host !== undefined && host !== '') md.push(['x-forwarded-host', host]);
  const remote = req.socket?.remoteAddress;
  if (remote !== undefined) {
    const forwarded = headerValue(req.headers, 'x-forwarded-for');
    md.push(['x-forwarded-for', forwarded ? `${forwarded}, ${remote}` : remote]);
  }
  return md;
}

/** Go's textproto.CanonicalMIMEHeaderKey for ASCII names: `grpc-metadata-x` → `Grpc-Metadata-X`. */
function canonicalHeaderKey(key: string): string {
  return key.split('-').map((w) => (w === '' ? w : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join('-');
}

/** grpc-gateway's errorBody as its jsonpb writes it: empty strings left out. */
function errorBody(code: number, message: string): string {
  const m = goJsonString(Buffer.from(message, 'utf8'));
  return message === '' ? `{"code":${code}}` : `{"error":${m},"message":${m},"code":${code}}`;
}

/** grpc-gateway's StreamError chunk, written when a stream fails. */
function streamErrorChunk(code: number, message: string): string {
  const http = httpStatusOf(code);
  const parts = [`"grpc_code":${code}`, `"http_code":${http}`];
  if (message !== '') parts.push(`"message":${goJsonString(Buffer.from(message, 'utf8'))}`);
  parts.push(`"http_status":${goJsonString(Buffer.from(STATUS_TEXT[http] ?? '', 'utf8'))}`);
  return `{"error":{${parts.join(',')}}}`;
}

function forwardHeaders(res: HttpResponse, md: Metadata): void {
  for (const [key, values] of md) res.setHeader(`Grpc-Metadata-${canonicalHeaderKey(key)}`, values);
}

/**
 * grpc-gateway's DefaultHTTPError: the status's HTTP code and JSON body, the server's header
 * metadata as Grpc-Metadata-*, its trailer metadata as declared HTTP trailers Grpc-Trailer-*.
 */
function sendError(res: HttpResponse, code: number, message: string, end?: CallEnd): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(code, message);
  res.setHeader('Content-Type', 'application/json');
  if (end) forwardHeaders(res, end.headers);
  const trailers: Record<string, string> = {};
  for (const [key, values] of end?.trailers ?? []) trailers[`Grpc-Trailer-${canonicalHeaderKey(key)}`] = values.join(', ');
  res.statusCode = httpStatusOf(code);
  if (Object.keys(trailers).length > 0 && res.req.httpVersionMajor === 1) {
    // Trailers need chunked encoding: no Content-Length.
    res.setHeader('Trailer', Object.keys(trailers).join(', '));
    writeTo(res, body);
    (res as { addTrailers(t: Record<string, string>): void }).addTrailers(trailers);
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}

/** Reads JSON values from a request body as they arrive (Go's json.Decoder on req.Body). */
class BodyReader {
  private readonly decoder: GoJsonDecoder;
  private waiter: ((r: DecodeResult) => void) | undefined;
  private ended = false;

  constructor(private readonly req: HttpRequest, maxValueBytes: number) {
    this.decoder = new GoJsonDecoder(maxValueBytes);
    req.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      this.poll();
    });
    req.on('end', () => {
      this.ended = true;
      this.decoder.end();
      this.poll();
    });
    req.on('error', () => {
      this.ended = true;
      this.decoder.end();
      this.poll();
    });
    req.pause();
  }

  private poll(): void {
    if (this.waiter === undefined) {
      // Hold further chunks until asked; a value larger than the bound fails early.
      if (this.decoder.buffered > 0) this.req.pause();
      return;
    }
    const r = this.decoder.next();
    if (r.kind === 'more' && !this.ended) {
      this.req.resume();
      return;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    this.req.pause();
    waiter(r);
  }

  /** The next value, 'eof' at the end of the body, or a Go error text. */
  next(): Promise<DecodeResult> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.poll();
    });
  }

  /** Reads and drops the rest of the body (so an HTTP/1.1 connection can carry the next request). */
  discard(): void {
    this.req.removeAllListeners('data');
    this.req.resume();
  }
}

/**
 * etcd 3.4's grpc-gateway on the client URLs: POST /v3/... (and /v3beta/...) with a JSON body
 * calls the matching gRPC method of this member's gRPC server, answering in grpc-gateway v1's
 * JSON. See docs/operations.md for examples and docs/compatibility.md for what differs.
 */
export class Gateway {
  private readonly channel: LoopbackChannel;
  private readonly webSockets: WebSocketProxy;

  constructor(private readonly options: GatewayOptions) {
    this.channel = new LoopbackChannel(options.grpcServer);
    this.webSockets = new WebSocketProxy({ gateway: this.v3Handler(), maxMessageBytes: options.maxJsonValueBytes });
  }

  /** An HTTP handler serving the gateway's paths and passing every other request to `next`. */
  handler(next: HttpHandler): HttpHandler {
    const mux = goServeMux(next, (path, req, res) => {
      // A WebSocket upgrade the front door did not hand to upgradeHandler(): gorilla's refusal.
      if (isWebSocketUpgrade(req)) return webSocketRefusal(req, res);
      return this.serveV3(path, req, res);
    });
    return (req, res) => {
      if (this.refusesCommonName(req)) return goError(res, 400, CN_REFUSAL);
      return mux(req, res);
    };
  }

  /**
   * etcd's wsproxy on the client URLs: WebSocket upgrades of /v3/ (and /v3beta/) paths carry a
   * gateway call's JSON messages (see websocket.ts). For the front door's `clientUpgrade`.
   */
  upgradeHandler(): HttpUpgradeHandler {
    return {
      accepts: (req) => isWebSocketUpgrade(req) && canCompleteHandshake(req) && v3PathServedAsIs(req) && !this.refusesCommonName(req),
      upgrade: (req, socket, head) => this.webSockets.upgrade(req, socket, head),
    };
  }

  /** Ends the loopback connections (open gateway calls end with UNAVAILABLE) and the WebSockets. */
  close(): void {
    this.webSockets.close();
    this.channel.close();
  }

  /** The gateway's mux alone (what wsproxy wraps): /v3/ paths, no fallback. */
  private v3Handler(): HttpHandler {
    return goServeMux((_req, res) => goError(res, 404, 'Not Found'), (path, req, res) => this.serveV3(path, req, res));
  }

  private serveV3(path: string, req: HttpRequest, res: HttpResponse): void | Promise<void> {
    const route = ROUTES.get(path);
    if (route === undefined) return goError(res, 404, 'Not Found');
    if (req.method !== 'POST') return goError(res, 405, 'Method Not Allowed');
    return this.serve(route, req, res);
  }

  private refusesCommonName(req: HttpRequest): boolean {
    if (this.options.refuseClientCommonNames?.() !== true) return false;
    const target = parseTarget(req.url ?? '/');
    if (target === undefined) return false;
    const path = target.path.startsWith('/v3beta/') ? `/v3/${target.path.slice('/v3beta/'.length)}` : target.path;
    return path.startsWith('/v3/') && (clientCommonName(req) ?? '') !== '';
  }

  private async serve(route: Route, req: HttpRequest, res: HttpResponse): Promise<void> {
    const metadata = requestMetadata(req);
    if (typeof metadata === 'string') return sendError(res, CODE_INVALID_ARGUMENT, metadata);
    const timeout = headerValue(req.headers, 'grpc-timeout');
    if (timeout !== undefined) {
      const ms = decodeTimeout(timeout);
      if (typeof ms === 'string') return sendError(res, CODE_INVALID_ARGUMENT, `invalid grpc-timeout: ${timeout}`);
      if (ms !== 0) metadata.push(['grpc-timeout', encodeTimeout(ms)]);
    }
    const body = new BodyReader(req, this.options.maxJsonValueBytes);
    if (route.kind === 'bidi') return this.serveBidi(route, body, metadata, res);
    const first = await body.next();
    body.discard();
    let message: Buffer;
    if (first.kind === 'error') {
      return sendError(res, first.tooLarge ? CODE_RESOURCE_EXHAUSTED : CODE_INVALID_ARGUMENT, first.message);
    }
    try {
      message = first.kind === 'value' ? jsonToWire(route.request, first.value) : Buffer.alloc(0);
    } catch (err) {
      if (err instanceof JsonDecodeError) return sendError(res, CODE_INVALID_ARGUMENT, err.message);
      throw err;
    }
    if (route.kind === 'unary') return this.serveUnary(route, message, metadata, res, isTls(req));
    const call = this.forwardStream(route, metadata, res, isTls(req));
    call.write(message);
    call.end();
  }

  private serveUnary(route: Route, message: Buffer, metadata: Array<[string, string]>, res: HttpResponse, tls: boolean): void {
    let response: Buffer | undefined;
    let headers: Metadata = new Map();
    const call = this.channel.call(route.method, metadata, false, {
      onHeaders: (h) => { headers = h; },
      onMessage: (m) => { response ??= Buffer.from(m); },
      onEnd: (callEnd) => {
        const end = tls ? servedOverTls(callEnd) : callEnd;
        if (end.code !== 0) return sendError(res, end.code, end.message, end);
        if (response === undefined) return sendError(res, 13, 'grpc: the server sent no response message', end);
        let json: string;
        try {
          json = wireToJson(route.response, response);
        } catch (err) {
          return sendError(res, CODE_UNKNOWN, String(err instanceof Error ? err.message : err));
        }
        forwardHeaders(res, headers);
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Content-Length', String(Buffer.byteLength(json)));
        res.statusCode = 200;
        res.end(json);
      },
    });
    res.once('close', () => { if (!res.writableFinished) call.cancel(); });
    call.write(message);
    call.end();
  }

  /**
   * A bidirectional stream (Watch, LeaseKeepAlive): the body's JSON values are sent as they
   * arrive; the end of the body (or a bad value after the first) half-closes the call. A bad
   * first value is answered 500 with code 2, as grpc-gateway does (its decoder's error is not a
   * gRPC status).
   */
  private async serveBidi(route: Route, body: BodyReader, metadata: Array<[string, string]>, res: HttpResponse): Promise<void> {
    const first = await body.next();
    let firstMessage: Buffer | undefined;
    if (first.kind === 'error') {
      body.discard();
      return sendError(res, first.tooLarge ? CODE_RESOURCE_EXHAUSTED : CODE_UNKNOWN, first.message);
    }
    if (first.kind === 'value') {
      try {
        firstMessage = jsonToWire(route.request, first.value);
      } catch (err) {
        body.discard();
        if (err instanceof JsonDecodeError) return sendError(res, CODE_UNKNOWN, err.message);
        throw err;
      }
    }
    const call = this.forwardStream(route, metadata, res, isTls(res.req));
    if (firstMessage === undefined) {
      body.discard();
      call.end();
      return;
    }
    call.write(firstMessage);
    let open = true;
    res.once('close', () => { open = false; });
    for (;;) {
      const next = await body.next();
      if (!open) break;
      if (next.kind !== 'value') break;
      let m: Buffer;
      try {
        m = jsonToWire(route.request, next.value);
      } catch {
        break;
      }
      if (!call.write(m)) await new Promise<void>((resolve) => call.onDrain(resolve));
    }
    body.discard();
    call.end();
  }

  /** Starts a streamed call and forwards its answers as grpc-gateway's `{"result":...}` lines. */
  private forwardStream(route: Route, metadata: Array<[string, string]>, res: HttpResponse, tls: boolean): LoopbackCall {
    let headers: Metadata = new Map();
    let wrote = false;
    const writeHead = (status: number): void => {
      forwardHeaders(res, headers);
      res.setHeader('Content-Type', 'application/json');
      res.statusCode = status;
    };
    const call = this.channel.call(route.method, metadata, true, {
      onHeaders: (h) => { headers = h; },
      onMessage: (m) => {
        if (res.destroyed) return;
        let json: string;
        try {
          json = wireToJson(route.response, m);
        } catch (err) {
          call.cancel();
          res.end(streamErrorChunk(CODE_UNKNOWN, String(err instanceof Error ? err.message : err)));
          return;
        }
        if (!wrote) writeHead(200);
        wrote = true;
        if (!writeTo(res, `{"result":${json}}\n`)) {
          call.pause();
          res.once('drain', () => call.resume());
        }
      },
      onEnd: (callEnd) => {
        if (res.destroyed) return;
        const end = tls ? servedOverTls(callEnd) : callEnd;
        if (tls && callEnd.trailersOnly) headers = end.headers;
        if (end.code === 0) {
          if (!wrote) writeHead(200);
          res.end();
          return;
        }
        // Failed before answering anything: grpc-gateway's error body, as for a unary call.
        if (end.trailersOnly && !wrote) return sendError(res, end.code, end.message, end);
        if (!wrote) writeHead(httpStatusOf(end.code));
        res.end(streamErrorChunk(end.code, end.message));
      },
    });
    res.once('close', () => { if (!res.writableFinished) call.cancel(); });
    return call;
  }
}

/**
 * etcd serves gRPC on an https URL through Go's http.Server (grpc-go's ServeHTTP transport),
 * which always sends headers before the status: its gateway never sees a trailers-only
 * answer there. The same call's end as it looks over TLS.
 */
function servedOverTls(end: CallEnd): CallEnd {
  if (!end.trailersOnly) return end;
  const contentType = end.trailers.get('content-type');
  const trailers = new Map(end.trailers);
  trailers.delete('content-type');
  return { ...end, headers: new Map(contentType ? [['content-type', contentType]] : []), trailers, trailersOnly: false };
}

const isTls = (req: HttpRequest): boolean => (req.socket as { encrypted?: boolean } | null)?.encrypted === true;

/** res.write for either HTTP version's response. */
function writeTo(res: HttpResponse, data: string): boolean {
  return (res as unknown as { write(chunk: string): boolean }).write(data);
}

/** Go's http.Redirect with 301 (a body only for GET). */
function redirect(req: HttpRequest, res: HttpResponse, location: string): void {
  res.setHeader('Location', location);
  res.statusCode = 301;
  if (req.method === 'GET' || req.method === 'HEAD') res.setHeader('Content-Type', 'text/html; charset=utf-8');
  const body = req.method === 'GET' ? `<a href="${location.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;')}">Moved Permanently</a>.\n\n` : '';
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}
