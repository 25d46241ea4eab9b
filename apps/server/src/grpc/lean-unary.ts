import http2 from 'node:http2';
import { Metadata, status, type MethodDefinition, type sendUnaryData, type Server, type ServerUnaryCall } from '@grpc/grpc-js';
import { callMetadata, headerValue } from './lean-metadata.js';

/**
 * A shorter server path for the hot unary methods (KV, LeaseGrant...): the call is served straight
 * from Node's HTTP/2 stream, without grpc-js's per-call machinery (intercepting-call chain,
 * listener and responder objects, the unary call EventEmitter, the message decoder's copies).
 * A bare grpc-js server spends ~40 µs of CPU per warm unary call at x128 where a raw http2 handler
 * spends ~24 (docs/profiles.md, fifth wave).
 *
 * What a client sees is grpc-js's, text for text: response headers, trailers, status codes and
 * messages (deadline, size limit, decode errors, one message per call), `getPeer()` and the
 * connection's ends (TLS CN of a client certificate), cancellation. Our own interceptors'
 * effects (require-leader, grpc metrics) are applied through {@link LeanUnaryHooks}. A call this
 * path does not take (compressed request, malformed grpc-timeout) goes to grpc-js as before.
 *
 * The hook is a raftkv patch of grpc-js's server 'stream' handler: after the content-type check,
 * it asks `server[Symbol.for('raftkv.grpc.leanUnary')]` (a Map by path) for a handler, which
 * returns false to leave the call to grpc-js.
 */
const LEAN_UNARY = Symbol.for('raftkv.grpc.leanUnary');

type LeanHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/** A gRPC status as grpc-js sends it. */
export interface LeanStatus {
  readonly code: number;
  readonly details: string;
  readonly metadata?: Metadata | null;
}

/** How one call is counted (GrpcMetrics.leanUnaryCall): as its interceptor counts a unary call. */
export interface LeanCallCounts {
  received(): void;
  sent(): void;
  /** The status the handler (or an interceptor) sent; counted whether or not the client is still there. */
  ended(code: number): void;
  /** The call ended without one (client gone, deadline, a decode error grpc-js sends itself). */
  cancelled(): void;
}

/** What our grpc-js interceptors do to a unary call, for calls that bypass them. */
export interface LeanUnaryHooks {
  /** Called first with the call's metadata (grpc-metrics' started and client-version counts). */
  readonly count?: (path: string, metadata: Metadata) => LeanCallCounts;
  /** A status to refuse the call with before reading it (require-leader), or undefined. */
  readonly refuse?: (metadata: Metadata) => LeanStatus | undefined;
}

type UnaryFunc = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

// grpc-js's server-interceptors.ts: the timeout header's syntax and units.
const DEADLINE_REGEX = /(\d{1,8})\s*([HMSmun])/;
const DEADLINE_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };
const OK_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
// No date header, as the grpc-js patch (sendDate is Node's option, missing from its types).
const RESPOND_OK = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const NO_COUNTS: LeanCallCounts = { received() {}, sent() {}, ended() {}, cancelled() {} };

/**
 * Serves these methods of `server` on the lean path. Each must be a unary method already added to
 * the server with the same implementation (grpc-js still serves the calls this path declines).
 */
export function serveLeanUnary(
  server: Server, methods: ReadonlyArray<{ def: MethodDefinition<unknown, unknown>; impl: UnaryFunc }>,
  maxReceiveMessageLength: number, hooks: LeanUnaryHooks,
): void {
  const registry = new Map<string, LeanHandler>();
  for (const { def, impl } of methods) {
    if (def.requestStream || def.responseStream) throw new Error(`${def.path} is not a unary method`);
    registry.set(def.path, (stream, headers) => serveCall(stream, headers, def, impl, maxReceiveMessageLength, hooks));
  }
  (server as unknown as Record<symbol, Map<string, LeanHandler>>)[LEAN_UNARY] = registry;
}

function serveCall(
  stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, def: MethodDefinition<unknown, unknown>,
  impl: UnaryFunc, maxReceive: number, hooks: LeanUnaryHooks,
): boolean {
  const encoding = headerValue(headers, 'grpc-encoding');
  if (encoding !== undefined && encoding !== 'identity') return false;
  const timeoutHeader = headerValue(headers, 'grpc-timeout');
  let timeoutMs = -1;
  if (timeoutHeader !== undefined) {
    const match = DEADLINE_REGEX.exec(timeoutHeader);
    if (match === null) return false;
    timeoutMs = (Number(match[1]) * DEADLINE_UNIT_MS[match[2]!]!) | 0;
  }
  const metadata = callMetadata(headers);
  new LeanCall(stream, metadata, def, impl, maxReceive, hooks, timeoutMs);
  return true;
}

/** One call: reads the request frames, runs the handler at half-close, answers as grpc-js would. */
class LeanCall {
  private readonly counts: LeanCallCounts;
  private readonly reader: FrameReader;
  /** The client's end or our status is past: nothing more is written. */
  private finished = false;
  private deadline: NodeJS.Timeout | undefined;
  readonly call: { getConnectionInfo(): ConnectionInfo };

  constructor(
    private readonly stream: http2.ServerHttp2Stream, metadata: Metadata, private readonly def: MethodDefinition<unknown, unknown>,
    private readonly impl: UnaryFunc, maxReceive: number, hooks: LeanUnaryHooks, timeoutMs: number,
  ) {
    this.counts = hooks.count?.(def.path, metadata) ?? NO_COUNTS;
    this.reader = new FrameReader(maxReceive);
    const socket = stream.session?.socket;
    const info: ConnectionInfo = {
      localAddress: socket?.localAddress, localPort: socket?.localPort, remoteAddress: socket?.remoteAddress, remotePort: socket?.remotePort,
    };
    // What security/client-identities.ts reads of a grpc-js call (the connection's ends).
    this.call = { getConnectionInfo: () => info };
    // `on`, not `once`: each of these fires at most once on a call's stream, and `once` allocates
    // a wrapper and its state per listener (~600 B per call of the ~26 KB a put allocates).
    stream.on('close', () => this.cancel());
    if (timeoutMs >= 0) {
      this.deadline = setTimeout(() => this.sendStatus({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }, false), timeoutMs);
    }
    const refusal = hooks.refuse?.(metadata);
    if (refusal !== undefined) {
      this.sendStatus(refusal, true);
      return;
    }
    const call = this.unaryCall(metadata);
    stream.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      const tooLarge = this.reader.write(chunk);
      if (tooLarge !== undefined) this.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: tooLarge }, false);
    });
    stream.on('end', () => {
      if (!this.finished) this.halfClosed(call);
    });
  }

  private unaryCall(metadata: Metadata): ServerUnaryCall<unknown, unknown> & { request: unknown } {
    const stream = this.stream;
    // The part of grpc-js's ServerUnaryCall our handlers use (request, metadata, getPeer, the connection).
    return {
      request: undefined, metadata, call: this.call, cancelled: false,
      getPeer: () => peerOf(stream),
      getPath: () => this.def.path,
    } as unknown as ServerUnaryCall<unknown, unknown> & { request: unknown };
  }

  private halfClosed(call: ServerUnaryCall<unknown, unknown> & { request: unknown }): void {
    const messages = this.reader.messages;
    // grpc-js's handleUnary answers these (through the interceptors: counted), after decoding
    // each message as it came; a message that does not decode ends the call first (not counted).
    if (messages.length === 0) {
      this.sendStatus({ code: status.UNIMPLEMENTED, details: `Received no request message for server streaming method ${this.def.path}` }, true);
      return;
    }
    for (let i = 0; i < Math.min(messages.length, 2); i++) {
      let request: unknown;
      try {
        request = this.def.requestDeserialize(messages[i]!);
      } catch {
        this.sendStatus({ code: status.INTERNAL, details: 'Error deserializing request' }, false);
        return;
      }
      this.counts.received();
      if (i === 0) {
        call.request = request;
      } else {
        this.sendStatus({ code: status.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${this.def.path}` }, true);
        return;
      }
    }
    try {
      this.impl(call, (err, value, trailer) => {
        if (err) this.sendStatus(errorToStatus(err, trailer), true);
        else this.sendMessage(value, trailer);
      });
    } catch {
      this.sendStatus({ code: status.UNKNOWN, details: 'Unknown error' }, true);
    }
    // Handlers read the request when called (unary.ts): the stream's listeners hold `call` until
    // the answer is sent, and a decoded 100-put txn (~400 objects) kept that long is copied by
    // every scavenge meanwhile.
    call.request = undefined;
  }

  private sendMessage(value: unknown, trailer: Metadata | undefined): void {
    // grpc-js counts the message (metrics), then drops it and the OK status if the client is gone.
    this.counts.sent();
    if (this.checkFinished()) return;
    let frame: Buffer;
    try {
      frame = frameOf(this.def.responseSerialize(value));
    } catch {
      this.sendStatus({ code: status.INTERNAL, details: 'Error serializing response' }, false);
      return;
    }
    this.counts.ended(status.OK);
    this.finish();
    const stream = this.stream;
    stream.respond(OK_HEADERS, RESPOND_OK);
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK', ...trailer?.toHttp2Headers() });
    });
    stream.end(frame);
  }

  /** `counted`: the status passes our interceptors (metrics counts it), not one grpc-js sends itself. */
  private sendStatus(s: LeanStatus, counted: boolean): void {
    if (counted) this.counts.ended(s.code);
    if (this.checkFinished()) return;
    this.finish();
    if (!counted) this.counts.cancelled();
    // Trailers-only, as grpc-js answers a call that sent no message.
    this.stream.respond({
      'grpc-status': String(s.code), 'grpc-message': encodeURI(s.details), ':status': 200, 'content-type': 'application/grpc+proto',
      ...s.metadata?.toHttp2Headers(),
    }, { endStream: true });
    // Drain what the client still sends, as grpc-js does once a call has its status.
    this.stream.resume();
  }

  private checkFinished(): boolean {
    if (!this.finished && (this.stream.destroyed || this.stream.closed)) this.cancel();
    return this.finished;
  }

  private finish(): void {
    this.finished = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
  }

  private cancel(): void {
    if (this.finished) return;
    this.finish();
    this.counts.cancelled();
    this.stream.resume();
  }
}

interface ConnectionInfo {
  localAddress?: string | undefined;
  localPort?: number | undefined;
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

/** grpc-js's getPeer. */
function peerOf(stream: http2.ServerHttp2Stream): string {
  const socket = stream.session?.socket;
  if (!socket?.remoteAddress) return 'unknown';
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

/** grpc-js's serverErrorToStatus. */
function errorToStatus(error: Partial<{ code: unknown; details: unknown; message: string; metadata: Metadata }>, trailer?: Metadata): LeanStatus {
  let code: number = status.UNKNOWN;
  let details = 'message' in error ? String(error.message) : 'Unknown Error';
  if (typeof error.code === 'number' && Number.isInteger(error.code)) {
    code = error.code;
    if (typeof error.details === 'string') details = error.details;
  }
  return { code, details, metadata: trailer ?? error.metadata ?? null };
}

const FRAMED = Symbol.for('raftkv.grpc.framed');

/** The 5-byte gRPC prefix and the message (a serializer's pre-framed output as it is, see the grpc-js patch). */
function frameOf(message: Buffer): Buffer {
  if ((message as unknown as Record<symbol, unknown>)[FRAMED] === true) return message;
  const out = Buffer.allocUnsafe(message.byteLength + 5);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  message.copy(out, 5);
  return out;
}

/**
 * Splits request bytes into gRPC messages as grpc-js's StreamDecoder does (the compressed flag
 * ignored: an identity call's messages are taken as they are), refusing a declared length over
 * the limit as soon as its prefix is in. A whole frame in one chunk is not copied.
 */
export class FrameReader {
  readonly messages: Buffer[] = [];
  /** Bytes of an incomplete frame; `need` is its whole size once its prefix is in, else 0. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private need = 0;

  constructor(private readonly maxLength: number) {}

  /** Takes a chunk; grpc-js's error text if a message is over the limit. */
  write(chunk: Buffer): string | undefined {
    let data = chunk;
    if (this.partialBytes > 0) {
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.need > 0 && this.partialBytes < this.need) return undefined;
      data = Buffer.concat(this.partial, this.partialBytes);
      this.partial = [];
      this.partialBytes = 0;
      this.need = 0;
    }
    let pos = 0;
    while (pos < data.length) {
      const left = data.length - pos;
      if (left < 5) {
        this.keep(data.subarray(pos), 0);
        return undefined;
      }
      const length = data.readUInt32BE(pos + 1);
      if (this.maxLength !== -1 && length > this.maxLength) return `Received message larger than max (${length} vs ${this.maxLength})`;
      if (left < 5 + length) {
        this.keep(data.subarray(pos), 5 + length);
        return undefined;
      }
      this.messages.push(data.subarray(pos + 5, pos + 5 + length));
      pos += 5 + length;
    }
    return undefined;
  }

  private keep(rest: Buffer, need: number): void {
    this.partial = [rest];
    this.partialBytes = rest.length;
    this.need = need;
  }
}
