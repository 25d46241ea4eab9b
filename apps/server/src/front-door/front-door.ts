import { ServerCredentials, type Server as GrpcServer } from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { X509Certificate } from 'node:crypto';
import { connectionKey, recordClientIdentity, RELAYED_CONNECTION_HEADER, relayedConnectionValue } from '../security/client-identities.js';
import { AuthorityRelay, type DoorStats } from './authority-relay.js';
import { EMPTY_SETTINGS } from './frame-reader.js';
import { etcdClientHttpDefaults, notFound, type HttpHandler, type HttpRequest, type HttpResponse } from './http-defaults.js';
import { resolveLimits, type FrontDoorLimits } from './limits.js';
import { classifyStart, Http2StartScan, isGrpcContentType, MAX_REQUEST_LINE_BYTES, type ScanResult } from './protocol-sniff.js';

/** What one TLS handshake on an https:// or unixs:// URL uses. */
export interface TlsServerSettings {
  /** Key, certificate chain, CA, CRL, ciphers, protocol versions: what tls.createSecureContext takes. */
  readonly context: tls.SecureContextOptions;
  /** Ask for a client certificate. */
  readonly requestCert: boolean;
  /** Refuse a client whose certificate is missing or not trusted (with requestCert: mutual TLS). */
  readonly rejectUnauthorized: boolean;
  /** With rejectUnauthorized: why a trusted client certificate is still refused (a name check), or undefined to accept it. */
  readonly checkClient?: (cert: X509Certificate) => string | undefined;
}

/**
 * Supplies TLS settings for each incoming handshake, so certificate files that changed are
 * used from the next connection on without a restart (etcd reads them per handshake). Return
 * the same object while nothing changed: a new one costs a new secure context.
 */
export interface TlsContextProvider {
  /** Settings for a connection accepted on `url`. A rejection closes that connection only. */
  settingsFor(url: URL): TlsServerSettings | Promise<TlsServerSettings>;
  /**
   * A handshake on `url` failed (a refused client certificate, a client that is not TLS, one that
   * left mid-handshake); the connection is closed. For etcd's "rejected connection" log line.
   */
  rejected?(url: URL, remoteAddress: string, error: Error): void;
}

/** HTTP handlers behind the door; each defaults to what etcd 3.4 serves there today. */
export interface HttpHandlers {
  /** Client URLs: HTTP/1.1 and non-gRPC HTTP/2. Default: etcdClientHttpDefaults (/version, 404). */
  readonly client?: HttpHandler;
  /** --listen-metrics-urls (HTTP only, no gRPC). Default: 404 for every path. */
  readonly metrics?: HttpHandler;
  /** Client URLs: HTTP/1.1 upgrades it takes over (the gateway's WebSockets); others go to `client`. */
  readonly clientUpgrade?: HttpUpgradeHandler;
}

/** Takes HTTP/1.1 connections whose request asks for a protocol upgrade it serves. */
export interface HttpUpgradeHandler {
  /** Asked once a request with `Connection: upgrade` has its headers; false serves it as a plain request. */
  accepts(req: http.IncomingMessage): boolean;
  /** The connection is this handler's from now on; `head` is what the client sent after the headers. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface FrontDoorOptions {
  /** Serves gRPC connections: every HTTP/2 connection whose first request is gRPC. */
  readonly grpcServer: GrpcServer;
  /** --listen-client-urls: http://, unix:// (https://, unixs:// need `tls`). */
  readonly clientUrls: readonly URL[];
  /** --listen-metrics-urls: HTTP only. */
  readonly metricsUrls?: readonly URL[];
  readonly limits?: Partial<FrontDoorLimits>;
  readonly tls?: TlsContextProvider;
  readonly http?: HttpHandlers;
}

/** The running door; see openFrontDoor. */
export interface FrontDoor {
  /** One per client URL, in order: `host:port` with the bound port, or `unix:path`. */
  readonly endpoints: string[];
  /** The same for the metrics URLs. */
  readonly metricsEndpoints: string[];
  readonly limits: FrontDoorLimits;
  /** Work counters since start: what the door did with client bytes before handing them on. */
  readonly stats: DoorStats;
  /** Connections open now (accepted and not yet closed), over every URL. */
  readonly openConnections: number;
  /**
   * Stops listening (a new connection is refused once it resolves) and ends every
   * connection the door still holds: those being sniffed, relays, HTTP connections. gRPC
   * sessions handed over as they are stay with the gRPC server: its tryShutdown /
   * forceShutdown ends them.
   */
  close(): Promise<void>;
}

type Role = 'client' | 'metrics';
/** Runs the TLS handshake on `socket`, then `then` with the decrypted side. */
type TlsTerminator = (socket: net.Socket, then: (secured: tls.TLSSocket) => void) => void;

/** After the door's side of a connection has ended, how long the client has to end its own. */
const FINISH_GRACE_MS = 2_000;

/**
 * Opens every client and metrics URL and routes each connection by what it speaks:
 *
 * ```
 * socket ─> [TLS for https/unixs] ─> first bytes
 *   HTTP/2 preface ─> first request's content-type
 *       application/grpc ─> gRPC server   (through the authority relay if :authority is a URL)
 *       anything else     ─> HTTP handler (node:http2 compatibility API)
 *   HTTP/1.x request line ─> HTTP handler (node:http)
 *   anything else ─> closed
 * ```
 *
 * A connection is routed once, on its first request: etcd's clients and HTTP clients do not
 * mix gRPC and plain requests on one connection. A later non-gRPC request on a gRPC
 * connection gets grpc-js's 415; a later gRPC request on an HTTP connection gets UNAVAILABLE
 * and the connection is closed gracefully, so the client retries on a new one.
 *
 * The door sends an empty SETTINGS frame as soon as the preface is in (gRPC clients send no
 * request before the server's SETTINGS) and keeps the client's ACK of it from the server
 * behind, which only exists after the hand-over. A connection whose first request has a
 * `host:port` :authority and whose ACK came first is handed over as it is (no JavaScript in
 * its data path); any other goes through the authority relay, which rewrites a
 * URL-form :authority (Node's HTTP/2 refuses it; Go's gRPC sends it) and applies the limits.
 *
 * Addresses: `http://host:port` listens on that host and port (port 0 picks a free one;
 * `localhost` binds the first address it resolves to), `unix:path` / `unix://path` on a Unix
 * socket. TLS URLs need `tls`.
 *
 * @throws Error for a TLS URL without `tls`, or an unknown scheme; RangeError for bad limits;
 *   the listen error (EADDRINUSE...) when a URL cannot be bound, after closing what it opened.
 */
export async function openFrontDoor(options: FrontDoorOptions): Promise<FrontDoor> {
  const limits = resolveLimits(options.limits);
  const metricsUrls = options.metricsUrls ?? [];
  for (const url of [...options.clientUrls, ...metricsUrls]) {
    if (url.protocol === 'https:' || url.protocol === 'unixs:') {
      if (options.tls === undefined) throw new Error(`${url.href}: TLS client listeners are not implemented yet`);
    } else if (url.protocol !== 'http:' && url.protocol !== 'unix:') {
      throw new Error(`${url.href}: a client URL must be http://, https://, unix:// or unixs://`);
    }
  }
  const door = new Door(options, limits);
  try {
    for (const url of options.clientUrls) door.endpoints.push(await door.listen(url, 'client'));
    for (const url of metricsUrls) door.metricsEndpoints.push(await door.listen(url, 'metrics'));
  } catch (err) {
    await door.close();
    throw err;
  }
  return door;
}

/** Node's HTTP servers for one role, fed connections the door accepted (they never listen themselves). */
interface HttpServers {
  readonly http1: http.Server;
  readonly http2: http2.Http2Server;
  readonly sessions: Set<http2.ServerHttp2Session>;
}

class Door implements FrontDoor {
  readonly endpoints: string[] = [];
  readonly metricsEndpoints: string[] = [];
  readonly stats: DoorStats = { bytesReceived: 0, chunksReceived: 0, bytesCopied: 0 };
  private readonly listeners: net.Server[] = [];
  /** Every accepted connection still open: the maxConnections count. */
  private readonly sockets = new Set<net.Socket>();
  /** Connections still being sniffed. */
  private readonly sniffing = new Set<net.Socket>();
  private readonly relays = new Set<AuthorityRelay>();
  private readonly injector;
  private readonly client: HttpServers;
  private readonly metrics: HttpServers;
  private closed = false;

  constructor(private readonly options: FrontDoorOptions, readonly limits: FrontDoorLimits) {
    this.injector = options.grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    this.client = this.httpServers(options.http?.client ?? etcdClientHttpDefaults, options.http?.clientUpgrade);
    this.metrics = this.httpServers(options.http?.metrics ?? notFound);
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  async listen(url: URL, role: Role): Promise<string> {
    const secure = url.protocol === 'https:' || url.protocol === 'unixs:';
    const terminator = secure ? this.tlsTerminator(url, role) : undefined;
    const listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket, role, terminator));
    listener.on('error', () => { /* only listen errors, reported by listen() below */ });
    this.listeners.push(listener);
    if (url.protocol === 'unix:' || url.protocol === 'unixs:') {
      const path = `${url.host}${url.pathname}`;
      await listen(listener, { path });
      return `unix:${path}`;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    await listen(listener, { host, port });
    return `${url.hostname}:${(listener.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    // net.Server#close calls back only once every accepted connection has ended, and the
    // injected ones belong to the gRPC server's sessions: stop listening without waiting.
    for (const l of this.listeners) if (l.listening) l.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const s of this.sniffing) s.destroy();
    this.sniffing.clear();
    for (const r of this.relays) r.destroy();
    this.relays.clear();
    for (const servers of [this.client, this.metrics]) {
      servers.http1.close(() => { /* never listened: ERR_SERVER_NOT_RUNNING */ });
      servers.http1.closeAllConnections();
      servers.http2.close(() => {});
      for (const session of servers.sessions) session.destroy();
      servers.sessions.clear();
    }
  }

  private accept(socket: net.Socket, role: Role, terminator: TlsTerminator | undefined): void {
    // Errors end the socket ('close' follows); after the hand-over its new owner installs its
    // own handler, this one only keeps a late error from being unhandled.
    socket.on('error', () => {});
    if (this.closed || (this.limits.maxConnections > 0 && this.sockets.size >= this.limits.maxConnections)) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.sniffing.add(socket);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
      this.sniffing.delete(socket);
    });
    // Node's HTTP/2 session, ending after a connection error (GOAWAY), ends the socket's
    // writing side and lets go of it without reading on: the client's FIN or RST would never
    // be seen and the socket would stay open for ever. Read on to the end, then close.
    socket.once('finish', () => {
      socket.resume();
      setTimeout(() => socket.destroy(), FINISH_GRACE_MS).unref();
    });
    // Until the protocol is known; then the HTTP server's or the gRPC server's own limits apply.
    const deadline = setTimeout(() => onDeadline(), this.limits.handshakeTimeoutMs);
    deadline.unref();
    let onDeadline = (): void => { socket.destroy(); };
    const handedOver = (): void => {
      clearTimeout(deadline);
      this.sniffing.delete(socket);
    };
    const setDeadline = (fn: () => void): void => { onDeadline = fn; };
    if (terminator === undefined) this.sniff(socket, role, handedOver, setDeadline);
    else terminator(socket, (secured) => this.sniff(secured, role, handedOver, setDeadline));
  }

  /**
   * TLS for one https:// or unixs:// URL: a tls.Server that never listens, fed the door's
   * connections, its secure context replaced whenever the provider hands out new settings
   * (set and used in the same tick, so each handshake gets the settings fetched for it).
   * Handshake failures and refused client certificates close the connection; the provider hears why.
   */
  private tlsTerminator(url: URL, role: Role): TlsTerminator {
    const provider = this.options.tls!;
    const server = tls.createServer({
      ALPNProtocols: role === 'client' ? ['h2', 'http/1.1'] : ['http/1.1'],
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    });
    let current: TlsServerSettings | undefined;
    const waiting = new WeakMap<net.Socket, { then: (secured: tls.TLSSocket) => void; settings: TlsServerSettings }>();
    const addressOf = (raw: net.Socket | undefined): string => (raw ? `${raw.remoteAddress}:${raw.remotePort}` : '');
    server.on('secureConnection', (secured: tls.TLSSocket) => {
      // As on the raw socket: errors end it; this keeps one from being unhandled meanwhile.
      secured.on('error', () => {});
      // tls.Server makes the TLSSocket itself; `_parent` (Node's name for the socket it wraps,
      // stable since Node 0.x but not documented) says which of the door's connections it is.
      const raw = (secured as unknown as { _parent?: net.Socket })._parent;
      const entry = raw === undefined ? undefined : waiting.get(raw);
      if (entry === undefined) return void secured.destroy();
      // Client certificates are checked here rather than by Node (which drops the reason when it
      // refuses one), so the refusal can say why.
      if (entry.settings.rejectUnauthorized && !secured.authorized) {
        const why = secured.getPeerX509Certificate() === undefined
          ? "tls: client didn't provide a certificate"
          : `tls: failed to verify client's certificate: ${String(secured.authorizationError)}`;
        provider.rejected?.(url, addressOf(raw), new Error(why));
        return void secured.destroy();
      }
      const cert = entry.settings.rejectUnauthorized ? secured.getPeerX509Certificate() : undefined;
      const refusal = cert === undefined ? undefined : entry.settings.checkClient?.(cert);
      if (refusal !== undefined) {
        provider.rejected?.(url, addressOf(raw), new Error(refusal));
        return void secured.destroy();
      }
      // CN-based auth reads who this connection is (etcd's AuthInfoFromTLS uses verified chains only).
      // Keyed by the connection's four-tuple: unixs:// connections have none, so get no CN auth.
      const key = raw === undefined ? undefined : connectionKey(raw);
      const peerCert = secured.authorized && key !== undefined ? secured.getPeerCertificate() : undefined;
      // The member's own loopback (Lock, Election) presents the server certificate: never let it
      // speak as that certificate's CN (the caller's token is what it relays).
      const own = secured.getCertificate();
      const isOwn = peerCert?.raw !== undefined && own !== null && 'raw' in own && own.raw?.equals(peerCert.raw) === true;
      const cn = isOwn ? undefined : peerCert?.subject?.CN;
      if (cn && key) recordClientIdentity(key, Array.isArray(cn) ? cn[0]! : cn, (forget) => secured.once('close', forget));
      if (raw !== undefined) pinAddresses(secured, raw);
      entry.then(secured);
    });
    server.on('tlsClientError', (err: Error & { reason?: string }, secured: tls.TLSSocket) => {
      // Node destroys the socket; the provider may log why (OpenSSL's reason, without its location).
      const raw = (secured as unknown as { _parent?: net.Socket })._parent;
      provider.rejected?.(url, addressOf(raw), err.reason === undefined ? err : new Error(err.reason));
    });
    return (socket, then) => {
      void (async () => {
        let settings: TlsServerSettings;
        try {
          settings = await provider.settingsFor(url);
        } catch {
          socket.destroy();
          return;
        }
        if (socket.destroyed) return;
        if (settings !== current) {
          server.setSecureContext(settings.context);
          current = settings;
        }
        const s = server as tls.Server & { requestCert: boolean; rejectUnauthorized: boolean };
        s.requestCert = settings.requestCert;
        s.rejectUnauthorized = false;
        waiting.set(socket, { then, settings });
        server.emit('connection', socket);
      })();
    };
  }

  /**
   * Reads the connection's first bytes and hands it to whoever serves its protocol.
   * `setDeadline` replaces what happens when the handshake time runs out.
   */
  private sniff(socket: net.Socket, role: Role, handedOver: () => void, setDeadline: (fn: () => void) => void): void {
    // The chunks read before the protocol is known, and a copy of their first bytes to classify.
    const start: Buffer[] = [];
    const head = Buffer.allocUnsafe(MAX_REQUEST_LINE_BYTES);
    let headBytes = 0;
    let scan: Http2StartScan | undefined;
    const stop = (): void => {
      socket.off('data', onData);
      socket.pause();
      handedOver();
    };
    const relayToGrpc = (): void => {
      stop();
      this.relay(socket, scan!, true);
    };
    const onScan = (result: ScanResult | undefined): void => {
      if (result === undefined) {
        if (scan!.bytes >= this.limits.maxSniffBytes) relayToGrpc();
        return;
      }
      stop();
      const grpc = result.kind === 'refused' || result.request.grpc;
      if (result.kind === 'request' && !result.request.urlAuthority && scan!.ackSeen) {
        socket.unshift(scan!.handOver());
        if (grpc) this.injector.injectConnection(socket);
        else this.client.http2.emit('connection', socket);
      } else {
        this.relay(socket, scan!, grpc);
      }
    };
    const onData = (chunk: Buffer): void => {
      this.stats.bytesReceived += chunk.length;
      this.stats.chunksReceived++;
      if (scan !== undefined) {
        onScan(scan.push(chunk));
        return;
      }
      start.push(chunk);
      headBytes += chunk.copy(head, headBytes);
      const kind = classifyStart(head.subarray(0, headBytes));
      if (kind === 'need-more') return;
      const bytes = start.length === 1 ? start[0]! : Buffer.concat(start);
      if (kind === 'garbage' || kind === 'malformed-preface') {
        socket.destroy();
        return;
      }
      if (kind === 'http1' || role === 'metrics') {
        stop();
        socket.unshift(bytes);
        const servers = role === 'client' ? this.client : this.metrics;
        if (kind === 'http2') {
          servers.http2.emit('connection', socket); // Node's HTTP/2 session reads what was put back first
          return;
        }
        servers.http1.emit('connection', socket);
        // The HTTP/1.1 parser reads the socket's handle directly from now on; what was put
        // back is in the stream's buffer and flows first (on the next tick, before any read).
        socket.resume();
        return;
      }
      // HTTP/2 on a client URL: answer the preface, then find the first request.
      socket.write(EMPTY_SETTINGS);
      scan = new Http2StartScan(this.limits, this.stats);
      setDeadline(relayToGrpc);
      onScan(scan.push(bytes));
    };
    socket.on('data', onData);
  }

  private relay(socket: net.Socket, scan: Http2StartScan, grpc: boolean): void {
    // A TLS client's requests name their connection, for CN-based auth (see RELAYED_CONNECTION_HEADER).
    const key = socket instanceof tls.TLSSocket ? connectionKey(socket) : undefined;
    const header = key === undefined ? undefined : { name: RELAYED_CONNECTION_HEADER, value: relayedConnectionValue(key) };
    const relay = new AuthorityRelay(socket, scan.handOver(), this.limits, !scan.ackSeen, this.stats, () => this.relays.delete(relay), header);
    this.relays.add(relay);
    if (grpc) this.injector.injectConnection(relay.serverSide);
    else this.client.http2.emit('connection', relay.serverSide);
  }

  private httpServers(handler: HttpHandler, upgrade?: HttpUpgradeHandler): HttpServers {
    const { limits } = this;
    const serve = (req: HttpRequest, res: HttpResponse): void => {
      if (req.httpVersionMajor === 2 && isGrpcContentType(req.headers['content-type'])) {
        refuseGrpcOnHttpConnection(req as http2.Http2ServerRequest);
        return;
      }
      let result: void | Promise<void>;
      try {
        result = handler(req, res);
      } catch (err) {
        failed(res, err);
        return;
      }
      if (result instanceof Promise) result.catch((err: unknown) => failed(res, err));
    };
    const http1 = http.createServer({
      ...(upgrade ? { IncomingMessage: upgradeAwareMessage(upgrade) } : {}),
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often Node checks the two timeouts above: a quarter of the shorter one, at most 30 s.
      connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || Infinity) / 4))),
    }, serve);
    // Node tracks connections for headersTimeout / requestTimeout from 'listening' on; this
    // server is fed connections by the door and never listens itself.
    http1.emit('listening');
    if (upgrade) http1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => upgrade.upgrade(req, socket, head));
    const sessions = new Set<http2.ServerHttp2Session>();
    const h2 = http2.createServer({
      settings: { maxHeaderListSize: limits.maxHeaderListBytes, maxFrameSize: 16_384 },
      maxSessionInvalidFrames: 100,
    }, serve);
    h2.on('session', (session: http2.ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (limits.idleTimeoutMs > 0) closeWhenIdle(session, limits.idleTimeoutMs);
      if (limits.keepaliveIntervalMs > 0) keepAlive(session, limits.keepaliveIntervalMs, limits.keepaliveTimeoutMs);
    });
    h2.on('sessionError', () => { /* the session is destroyed; nothing else to do */ });
    return { http1, http2: h2, sessions };
  }
}

/**
 * Node hands a request to 'upgrade' listeners when its `upgrade` flag is still set after the
 * headers are read, and serves it as a plain request otherwise. This message keeps the flag only
 * for requests the handler accepts, so an `Upgrade: h2c` POST (curl --http2) or a WebSocket
 * request to /health is answered as a request, as Go's net/http does.
 */
function upgradeAwareMessage(handler: HttpUpgradeHandler): typeof http.IncomingMessage {
  class UpgradeAwareMessage extends http.IncomingMessage {}
  const asked = Symbol('upgrade asked');
  const decided = Symbol('upgrade decided');
  type Flags = { [asked]?: boolean; [decided]?: boolean };
  // An accessor on the prototype: Node sets `upgrade` from the parser, then reads it once the headers are in.
  Object.defineProperty(UpgradeAwareMessage.prototype, 'upgrade', {
    configurable: true,
    get(this: UpgradeAwareMessage & Flags): boolean {
      if (this[asked] !== true) return false;
      this[decided] ??= handler.accepts(this);
      return this[decided];
    },
    set(this: UpgradeAwareMessage & Flags, value: boolean) {
      // Node's own second write (true: someone listens) keeps the handler's decision.
      if (!value) this[asked] = false;
      else if (this[asked] !== true) {
        this[asked] = true;
        this[decided] = undefined;
      }
    },
  });
  return UpgradeAwareMessage;
}

function listen(listener: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    listener.once('error', onError);
    listener.listen(options, () => {
      listener.off('error', onError);
      resolve();
    });
  });
}

/** A handler that threw: 500 if nothing was sent yet, else the response is cut off. */
function failed(res: HttpResponse, _err: unknown): void {
  if (!res.headersSent) {
    res.statusCode = 500;
    res.end();
  } else {
    res.destroy();
  }
}

/**
 * A gRPC request on a connection routed to HTTP: answered UNAVAILABLE (clients retry it) and
 * the connection closed gracefully (GOAWAY), so the retry opens a connection routed to gRPC.
 */
function refuseGrpcOnHttpConnection(req: http2.Http2ServerRequest): void {
  const { stream } = req;
  if (!stream.destroyed && !stream.headersSent) {
    stream.respond({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': '14',
      'grpc-message': 'this connection carries HTTP requests; retry gRPC on a new connection',
    }, { endStream: true });
  }
  stream.session?.close();
}

/** Closes `session` gracefully once it has had no open stream for `idleMs`. */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(() => session.close(), idleMs);
    timer.unref();
  };
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}

/**
 * Pings `session` every `intervalMs`; destroys it when an answer takes longer than
 * `timeoutMs` (a dead peer, or a session Node stopped reading after a connection error).
 */
function keepAlive(session: http2.ServerHttp2Session, intervalMs: number, timeoutMs: number): void {
  let waiting: NodeJS.Timeout | undefined;
  const interval = setInterval(() => {
    if (waiting !== undefined || session.destroyed) return;
    waiting = setTimeout(() => session.destroy(), timeoutMs);
    waiting.unref();
    const sent = session.ping((err) => {
      clearTimeout(waiting);
      waiting = undefined;
      if (err) session.destroy();
    });
    if (!sent) session.destroy();
  }, intervalMs);
  interval.unref();
  session.once('close', () => {
    clearInterval(interval);
    clearTimeout(waiting);
  });
}

/**
 * Gives a TLS socket its raw connection's addresses for good. When the bytes the door read
 * before the handshake made Node wrap the connection as a JS stream, the TLS socket has no
 * peer name of its own (its addresses read undefined): gRPC would then see a connection without
 * ends and CN-based auth could not find who it is (about one etcdctl call in ten in tests).
 */
function pinAddresses(secured: tls.TLSSocket, raw: net.Socket): void {
  const ends = { remoteAddress: raw.remoteAddress, remotePort: raw.remotePort, remoteFamily: raw.remoteFamily, localAddress: raw.localAddress, localPort: raw.localPort };
  for (const [name, value] of Object.entries(ends)) Object.defineProperty(secured, name, { value, configurable: true });
}
