/**
 * Every limit the front door enforces, in one place. Defaults follow etcd 3.4 where etcd has
 * one (no connection cap, no idle timeout) and Node's or nghttp2's where the bytes reach
 * Node's HTTP/2 or HTTP/1.1 stack anyway (frame size, header list size, header timeout).
 */
export interface FrontDoorLimits {
  /**
   * Most client connections open at once over all of the door's URLs (metrics URLs included);
   * one more is closed at accept. 0: no cap, as etcd (the process's file limit still applies).
   */
  readonly maxConnections: number;
  /**
   * A connection must have identified its protocol within this long of being accepted: the
   * TLS handshake done (https), then the HTTP/2 preface or an HTTP/1.1 request line's method
   * received. A socket that sends nothing is closed when it runs out; others are unaffected.
   * An HTTP/2 connection that sent its preface but no complete first request by then is handed
   * to the gRPC server (through the relay, so a URL-form :authority still works later).
   */
  readonly handshakeTimeoutMs: number;
  /**
   * An HTTP connection with no request in progress (HTTP/1.1 keep-alive, HTTP/2 without
   * streams) is closed after this long; for gRPC the gRPC server's `grpc.max_connection_idle_ms`
   * (see grpcServerOptions). 0: never, as etcd.
   */
  readonly idleTimeoutMs: number;
  /**
   * HTTP/2 connections are pinged after this long without one (etcd's --grpc-keepalive-interval,
   * 2 h) and closed when the answer takes longer than keepaliveTimeoutMs (--grpc-keepalive-timeout,
   * 20 s); 0: never. Besides finding dead peers, this is what ends a connection after Node's
   * HTTP/2 refused a client frame: it sends GOAWAY, then stops reading the socket without
   * closing it, so the client's close goes unseen and the socket stays open until a ping fails.
   * For gRPC through grpc-js's keepalive options (see grpcServerOptions).
   */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** HTTP/1.1: the request's headers must arrive within this long (Node's `headersTimeout`). */
  readonly headersTimeoutMs: number;
  /** HTTP/1.1: the whole request must arrive within this long (Node's `requestTimeout`); 0: none. */
  readonly requestTimeoutMs: number;
  /**
   * Largest HTTP/2 frame payload a client may send: SETTINGS_MAX_FRAME_SIZE, left at RFC 9113's
   * default by the door and by Node's HTTP/2 servers behind it. A larger frame ends the
   * connection with GOAWAY FRAME_SIZE_ERROR on its header, before its payload is buffered.
   */
  readonly maxFrameBytes: number;
  /** Largest header block (HEADERS + CONTINUATIONs, compressed) the door buffers: nghttp2's 64 KiB. */
  readonly maxHeaderBlockBytes: number;
  /** Most CONTINUATION frames one header block may use (64 KiB needs 4 of 16 KiB; empty ones cost the sender 9 bytes). */
  readonly maxContinuationFrames: number;
  /**
   * Most a header block may decode to, counted as SETTINGS_MAX_HEADER_LIST_SIZE (name + value
   * + 32 per field): Node's default. A larger block costs its stream only.
   */
  readonly maxHeaderListBytes: number;
  /** Bytes of an HTTP/2 connection's start buffered while looking for its first request. */
  readonly maxSniffBytes: number;
}

export const DEFAULT_FRONT_DOOR_LIMITS: FrontDoorLimits = Object.freeze({
  maxConnections: 0,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  keepaliveIntervalMs: 2 * 60 * 60 * 1000,
  keepaliveTimeoutMs: 20_000,
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 300_000,
  maxFrameBytes: 16_384,
  maxHeaderBlockBytes: 64 * 1024,
  maxContinuationFrames: 16,
  maxHeaderListBytes: 65_535,
  maxSniffBytes: 64 * 1024,
});

/**
 * The defaults with `overrides` applied, checked: every value a non-negative integer,
 * timeouts and caps that 0 cannot mean "none" for positive.
 *
 * @throws RangeError naming the limit that is out of range.
 */
export function resolveLimits(overrides: Partial<FrontDoorLimits> = {}): FrontDoorLimits {
  const limits: FrontDoorLimits = { ...DEFAULT_FRONT_DOOR_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`front door: ${name} must be a non-negative integer, got ${value}`);
  }
  for (const name of ['handshakeTimeoutMs', 'headersTimeoutMs', 'keepaliveTimeoutMs', 'maxHeaderBlockBytes', 'maxHeaderListBytes', 'maxSniffBytes'] as const) {
    if (limits[name] === 0) throw new RangeError(`front door: ${name} must be positive`);
  }
  // RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE lies between 2^14 and 2^24-1.
  if (limits.maxFrameBytes < 16_384 || limits.maxFrameBytes > 16_777_215) {
    throw new RangeError(`front door: maxFrameBytes must be within [16384, 16777215], got ${limits.maxFrameBytes}`);
  }
  if (limits.requestTimeoutMs !== 0 && limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new RangeError('front door: requestTimeoutMs must be 0 or at least headersTimeoutMs');
  }
  return Object.freeze(limits);
}

/**
 * Options for the gRPC server behind the door that carry the door's limits into grpc-js
 * (which owns the HTTP/2 sessions of gRPC connections): pass them to `new Server(...)`.
 */
export function grpcServerOptions(limits: FrontDoorLimits): Record<string, number> {
  return {
    'grpc.max_metadata_size': limits.maxHeaderListBytes,
    ...(limits.idleTimeoutMs > 0 ? { 'grpc.max_connection_idle_ms': limits.idleTimeoutMs } : {}),
    ...(limits.keepaliveIntervalMs > 0 ? { 'grpc.keepalive_time_ms': limits.keepaliveIntervalMs, 'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs } : {}),
  };
}
