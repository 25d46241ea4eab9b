import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable, Writable } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { HttpHandler, HttpRequest, HttpResponse } from '../front-door/index.js';

/**
 * etcd 3.4 wraps its gateway in grpc-websocket-proxy (wsproxy, embed/serve.go): a WebSocket
 * upgrade on a /v3/ path becomes a POST to the gateway whose request body is the client's
 * messages, each followed by a newline, and whose response body is sent back line by line, one
 * text message per non-empty line (status and headers are dropped). When the gateway's answer
 * ends the connection is closed without a close frame, as wsproxy's conn.Close() does.
 *
 * The handshake follows gorilla/websocket 1.4.2 (wsproxy's upgrader): any origin, no
 * compression, no subprotocol except `Bearer` when the client's Sec-WebSocket-Protocol starts
 * with it; refusals answer 405 or 400 with `Sec-Websocket-Version: 13` through the normal HTTP
 * path ({@link webSocketRefusal}).
 */

/** Go's tokenListContainsValue over every value of a header (comma lists, case-insensitive). */
function headerHasToken(req: HttpRequest, name: string, token: string): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== name) continue;
    for (const t of raw[i + 1]!.split(',')) if (t.trim().toLowerCase() === token) return true;
  }
  return false;
}

function firstHeader(req: HttpRequest, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1]!;
  return undefined;
}

/** gorilla's IsWebSocketUpgrade: what makes wsproxy take a request. */
export function isWebSocketUpgrade(req: HttpRequest): boolean {
  return req.httpVersionMajor === 1 && headerHasToken(req, 'connection', 'upgrade') && headerHasToken(req, 'upgrade', 'websocket');
}

/** What `ws` itself insists on beyond gorilla (it would refuse these with its own 400). */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;
const WS_PROTOCOLS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/**
 * Whether a WebSocket upgrade can be completed (gorilla's checks, and what `ws` needs on top):
 * GET, version 13, a key. Otherwise {@link webSocketRefusal} answers it as a plain request.
 */
export function canCompleteHandshake(req: HttpRequest): boolean {
  if (req.method !== 'GET') return false;
  if (req.headers['sec-websocket-version'] !== '13') return false;
  const key = firstHeader(req, 'sec-websocket-key');
  if (key === undefined || !WS_KEY.test(key)) return false;
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return false;
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined && !WS_PROTOCOLS.test(protocols)) return false;
  const seen = new Set<string>();
  for (const p of (protocols ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (seen.has(p)) return false; // `ws` refuses a repeated subprotocol
    seen.add(p);
  }
  return true;
}

/** gorilla's returnError: the status text, plain, with `Sec-Websocket-Version: 13`. */
export function webSocketRefusal(req: HttpRequest, res: HttpResponse): void {
  // gorilla checks the method first (405); a bad version or key is 400 (as is what only `ws` refuses).
  const status = req.method !== 'GET' ? 405 : 400;
  const text = status === 405 ? 'Method Not Allowed' : 'Bad Request';
  const body = `${text}\n`;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Sec-Websocket-Version', '13');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.statusCode = status;
  res.end(body);
}

/** Go's r.Cookie(name): the first cookie of that name, its value without surrounding quotes. */
function cookie(req: HttpRequest, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'cookie') continue;
    for (const part of raw[i + 1]!.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length > 1 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

/** wsproxy's transformSubProtocolHeader: `Bearer, tok` → `Bearer tok`; anything else → empty. */
function subProtocolAuthorization(value: string): string {
  const at = value.indexOf('Bearer,');
  return at < 0 ? '' : `Bearer ${value.slice(at + 'Bearer,'.length).replace(/^ +| +$/g, '')}`;
}

/** The headers of the request wsproxy makes: Authorization (protocol header or `token` cookie), Origin, Referer. */
function innerHeaders(req: HttpRequest): Array<[string, string]> {
  const headers = new Map<string, string>();
  const protocol = firstHeader(req, 'sec-websocket-protocol');
  if (protocol !== undefined && protocol !== '') headers.set('Authorization', subProtocolAuthorization(protocol));
  for (const name of ['Origin', 'Referer']) {
    const v = firstHeader(req, name.toLowerCase());
    if (v !== undefined) headers.set(name, v);
  }
  const token = cookie(req, 'token');
  if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
  return [...headers];
}

/** The gateway's request: the client's messages as a newline-separated body. */
class InnerRequest extends Readable {
  readonly method = 'POST';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly rawHeaders: string[];
  readonly headers: Record<string, string>;
  /** No addresses (wsproxy's request has no RemoteAddr); TLS as the client's connection. */
  readonly socket: { readonly encrypted: boolean };

  constructor(readonly url: string, headers: Array<[string, string]>, encrypted: boolean, private readonly onRead: () => void) {
    super();
    this.rawHeaders = headers.flat();
    this.headers = Object.fromEntries(headers.map(([k, v]) => [k.toLowerCase(), v]));
    this.socket = { encrypted };
  }

  override _read(): void {
    this.onRead();
  }
}

/** The gateway's response: its body split into lines, each sent as a text message. */
class InnerResponse extends Writable {
  statusCode = 200;
  headersSent = false;
  private partial = '';

  constructor(readonly req: InnerRequest, private readonly ws: WebSocket, private readonly socket: Duplex) {
    super({ decodeStrings: false });
  }

  setHeader(): this { return this; }
  getHeader(): undefined { return undefined; }
  addTrailers(): void { /* wsproxy drops trailers with the headers */ }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.headersSent = true;
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    this.sendLines(lines, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    const rest = this.partial;
    this.partial = '';
    this.sendLines([rest], (err) => {
      // wsproxy returns and its deferred conn.Close() ends the connection: no close frame. Ended
      // gracefully here (FIN, what the client still sends is read and dropped): Go's close with
      // unread client messages sends a TCP reset, which can destroy the answer before the client reads it.
      this.socket.end();
      setTimeout(() => this.ws.terminate(), LINGER_MS).unref();
      done(err);
    });
  }

  /** bufio.ScanLines: a trailing \r is dropped, empty lines are skipped. */
  private sendLines(lines: string[], done: (err?: Error | null) => void): void {
    const messages = lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l !== '');
    if (messages.length === 0) return done();
    if (this.ws.readyState !== this.ws.OPEN) return done(new Error('websocket closed'));
    for (let i = 0; i < messages.length; i++) {
      const last = i === messages.length - 1;
      // The callback of the last send: the bytes are with the socket (backpressure to the call).
      this.ws.send(messages[i]!, { binary: false }, last ? (err) => done(err ?? null) : undefined);
    }
  }
}

export interface WebSocketProxyOptions {
  /** The gateway's handler for /v3/ paths; wsproxy's requests are given to it. */
  readonly gateway: HttpHandler;
  /** Largest message read from a client (wsproxy has none; ws closes with 1009 past it). */
  readonly maxMessageBytes: number;
}

/** wsproxy over `ws`: completes the handshake and runs one gateway request per connection. */
export class WebSocketProxy {
  private readonly server: WebSocketServer;
  private readonly open = new Set<WebSocket>();

  constructor(private readonly options: WebSocketProxyOptions) {
    this.server = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes,
      // gorilla does not check that text messages are UTF-8.
      skipUTF8Validation: true,
      clientTracking: false,
      // gorilla answers `Bearer` when the client's list starts with it, and no subprotocol otherwise.
      handleProtocols: (_protocols, req) => ((req.headers['sec-websocket-protocol'] ?? '').startsWith('Bearer') ? 'Bearer' : false),
    });
  }

  /** Takes over an upgraded connection ({@link canCompleteHandshake} said yes). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const encrypted = (socket as { encrypted?: boolean }).encrypted === true;
    this.server.handleUpgrade(req, socket, head, (ws) => this.proxy(ws, req, socket, encrypted));
  }

  /** Drops every open WebSocket (the member is closing). */
  close(): void {
    for (const ws of this.open) ws.terminate();
    this.open.clear();
    this.server.close();
  }

  private proxy(ws: WebSocket, req: IncomingMessage, socket: Duplex, encrypted: boolean): void {
    this.open.add(ws);
    let bodyEnded = false;
    const inner = new InnerRequest(req.url ?? '/', innerHeaders(req), encrypted, () => ws.resume());
    const res = new InnerResponse(inner, ws, socket);
    res.on('error', () => { /* the socket went away; 'close' below ends the call */ });
    ws.on('error', () => { /* ws closes the connection; 'close' follows */ });
    ws.on('message', (data: RawData) => {
      const payload = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      // wsproxy writes the payload, then a newline, into the request body (dropped once the call ended).
      if (bodyEnded || res.writableEnded) return;
      if (!inner.push(Buffer.concat([payload, NEWLINE]))) ws.pause();
    });
    ws.on('close', () => {
      this.open.delete(ws);
      if (!bodyEnded) inner.push(null);
      bodyEnded = true;
      // wsproxy closes the response pipe: the gateway's next write fails and its call ends.
      if (!res.writableFinished) res.destroy();
    });
    let result: void | Promise<void>;
    try {
      result = this.options.gateway(inner as unknown as HttpRequest, res as unknown as HttpResponse);
    } catch {
      ws.terminate();
      return;
    }
    if (result instanceof Promise) result.catch(() => ws.terminate());
  }
}

const NEWLINE = Buffer.from('\n');
/** How long an ended connection waits for the client to close before it is dropped. */
const LINGER_MS = 5000;
