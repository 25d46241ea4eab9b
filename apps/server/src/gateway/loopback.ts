import { ServerCredentials, type Server } from '@grpc/grpc-js';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';

/**
 * One end of an in-memory byte pipe: what is written to one end is read from the other, with
 * backpressure (a write waits while the other end's reader is full).
 */
class PipeEnd extends Duplex {
  peer!: PipeEnd;
  private waiting: (() => void) | undefined;

  override _read(): void {
    const resume = this.peer.waiting;
    this.peer.waiting = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return callback();
    if (this.peer.push(chunk)) callback();
    else this.waiting = () => callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const resume = this.waiting;
    this.waiting = undefined;
    resume?.();
    if (!this.peer.destroyed) this.peer.destroy();
    callback(err);
  }
}

function pipePair(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.peer = b;
  b.peer = a;
  // What Node's HTTP/2 and grpc-js read from a socket (getPeer, channelz): the gateway is local.
  for (const end of [a, b]) {
    Object.defineProperties(end, {
      remoteAddress: { value: '127.0.0.1' },
      remotePort: { value: 0 },
      remoteFamily: { value: 'IPv4' },
      localAddress: { value: '127.0.0.1' },
      localPort: { value: 0 },
    });
    const side = end as unknown as Record<string, unknown>;
    side['setTimeout'] = () => end;
    side['setNoDelay'] = () => end;
    side['setKeepAlive'] = () => end;
  }
  return [a, b];
}

/** gRPC metadata as grpc-go hands it to grpc-gateway: lower-case keys, one or more values each. */
export type Metadata = Map<string, string[]>;

/** How a call ended: its gRPC status and the metadata grpc-gateway forwards. */
export interface CallEnd {
  readonly code: number;
  readonly message: string;
  readonly headers: Metadata;
  readonly trailers: Metadata;
  /** The server answered with trailers only (no messages): grpc-go reports its metadata as trailers. */
  readonly trailersOnly: boolean;
}

export interface CallHandlers {
  /** The server's response headers (not for a trailers-only answer), before any message. */
  onHeaders(headers: Metadata): void;
  onMessage(message: Buffer): void;
  /** Exactly once, last. */
  onEnd(end: CallEnd): void;
}

/** An open gRPC call over the loopback. */
export interface LoopbackCall {
  /** Sends one request message; false when the stream's buffer is full (wait for `onDrain`). */
  write(message: Buffer): boolean;
  /** Half-closes: no more request messages (grpc-go's CloseSend). */
  end(): void;
  /** Cancels the call (RST_STREAM CANCEL): the server sees the client go away. */
  cancel(): void;
  /** Stops reading responses until `resume`: backpressure from a slow HTTP client. */
  pause(): void;
  resume(): void;
  /** Calls `fn` once the request side can take more after `write` returned false, or the call ended. */
  onDrain(fn: () => void): void;
}

/** Headers grpc-go keeps out of the metadata it reports (its reserved names), plus Node's date. */
function isReported(key: string): boolean {
  return !key.startsWith(':') && !key.startsWith('grpc-') && key !== 'date' && key !== 'user-agent' && key !== 'te';
}

function metadataOf(headers: http2.IncomingHttpHeaders): Metadata {
  const md: Metadata = new Map();
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || !isReported(key)) continue;
    // etcd's Go server says application/grpc; grpc-js adds the +proto its default codec implies.
    const values = (Array.isArray(value) ? value : [value]).map((v) => (key === 'content-type' && v === 'application/grpc+proto' ? 'application/grpc' : v));
    md.set(key, values);
  }
  return md;
}

function decodeGrpcMessage(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(',') : value ?? '';
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** gRPC's 5-byte message prefix: not compressed, big-endian length. */
function frame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

const STATUS_INTERNAL = 13;
const DEAD_CALL: LoopbackCall = { write: () => true, end: () => {}, cancel: () => {}, pause: () => {}, resume: () => {}, onDrain: () => {} };
const STATUS_UNAVAILABLE = 14;

/**
 * The gateway's gRPC client: calls go to the member's own gRPC server over in-memory HTTP/2
 * connections injected into it (as etcd's gateway dials its own client URL), so interceptors,
 * limits, metrics and auth treat them as any client's. Unary calls share one connection (their
 * answers are read at once); each streamed call gets its own, so a slow HTTP client holds up
 * only its own call's flow-control window.
 */
export class LoopbackChannel {
  private readonly injector;
  private shared: http2.ClientHttp2Session | undefined;
  private readonly sessions = new Set<http2.ClientHttp2Session>();
  private closed = false;

  constructor(grpcServer: Server) {
    this.injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  }

  private connect(): http2.ClientHttp2Session {
    const [clientEnd, serverEnd] = pipePair();
    this.injector.injectConnection(serverEnd);
    const session = http2.connect('http://raftkv-gateway.invalid', { createConnection: () => clientEnd });
    session.on('error', () => { /* its calls end with UNAVAILABLE */ });
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      if (this.shared === session) this.shared = undefined;
      clientEnd.destroy();
    });
    return session;
  }

  private sharedSession(): http2.ClientHttp2Session {
    const s = this.shared;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    this.shared = this.connect();
    return this.shared;
  }

  /**
   * Starts a call of `method` (`/etcdserverpb.KV/Range`) with request metadata `metadata`
   * (lower-case keys). `ownConnection`: a streamed call, on a connection of its own.
   */
  call(method: string, metadata: ReadonlyArray<readonly [string, string]>, ownConnection: boolean, handlers: CallHandlers): LoopbackCall {
    let ended = false;
    const finish = (end: CallEnd): void => {
      if (ended) return;
      ended = true;
      handlers.onEnd(end);
    };
    const unavailable = (message: string): CallEnd =>
      ({ code: STATUS_UNAVAILABLE, message, headers: new Map(), trailers: new Map(), trailersOnly: true });
    if (this.closed) {
      queueMicrotask(() => finish(unavailable('transport is closing')));
      return DEAD_CALL;
    }
    const session = ownConnection ? this.connect() : this.sharedSession();
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
    };
    for (const [key, value] of metadata) {
      const existing = headers[key];
      headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [String(existing)]), value];
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (err) {
      queueMicrotask(() => finish({ ...unavailable(String(err)), code: STATUS_INTERNAL }));
      if (ownConnection) session.close();
      return DEAD_CALL;
    }
    let responseHeaders: http2.IncomingHttpHeaders | undefined;
    let trailersOnly = false;
    let pending: Buffer = Buffer.alloc(0);
    // Node may deliver DATA before the 'response' event (both queued in one read): messages
    // wait here until the headers were reported, as grpc-go orders them.
    let early: Buffer[] | undefined = [];
    const deliver = (message: Buffer): void => {
      if (ended) return;
      if (early !== undefined) early.push(Buffer.from(message));
      else handlers.onMessage(message);
    };
    const flushEarly = (): void => {
      const queued = early ?? [];
      early = undefined;
      for (const m of queued) deliver(m);
    };
    stream.on('response', (h) => {
      responseHeaders = h;
      if (h['grpc-status'] !== undefined) {
        trailersOnly = true;
        return;
      }
      handlers.onHeaders(metadataOf(h));
      flushEarly();
    });
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        const message = pending.subarray(5, 5 + length);
        pending = pending.subarray(5 + length);
        deliver(message);
      }
    });
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('error', () => { /* 'close' reports it */ });
    stream.on('close', () => {
      if (ownConnection) session.close();
      flushEarly();
      const statusHeaders = trailersOnly ? responseHeaders : trailers;
      const status = statusHeaders?.['grpc-status'];
      if (status === undefined) {
        const code = stream.rstCode === http2.constants.NGHTTP2_CANCEL ? 1 : STATUS_UNAVAILABLE;
        finish({ ...unavailable(responseHeaders === undefined ? 'transport is closing' : 'stream terminated without a status'), code });
        return;
      }
      finish({
        code: Number(status),
        message: decodeGrpcMessage(statusHeaders!['grpc-message']),
        headers: trailersOnly || responseHeaders === undefined ? new Map() : metadataOf(responseHeaders),
        trailers: metadataOf(statusHeaders!),
        trailersOnly,
      });
    });
    return {
      write: (message) => (stream.destroyed ? true : stream.write(frame(message))),
      end: () => { if (!stream.destroyed) stream.end(); },
      cancel: () => { if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL); },
      pause: () => stream.pause(),
      resume: () => stream.resume(),
      onDrain: (fn) => {
        stream.once('drain', fn);
        stream.once('close', fn);
      },
    };
  }

  /** Ends every loopback connection; calls still open end with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.shared = undefined;
  }
}
