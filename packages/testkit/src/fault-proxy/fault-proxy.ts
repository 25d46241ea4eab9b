// A TCP proxy for fault tests: it stands in front of one member's peer listener and forwards,
// holds back, delays or resets the traffic, switchable at any time, per origin of a connection.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { OriginResolver } from './connection-origin.js';

/**
 * What the proxy does with a connection's bytes.
 *
 * - `pass`: forward both ways.
 * - `delay`: forward both ways, each chunk `ms` after it was read, order preserved.
 * - `blackhole`: a network partition. New connections are accepted but the target is not dialed;
 *   nothing is read, written, reset or closed in either direction (no RST, no FIN). The dialer's
 *   writes land in socket buffers until they fill, then its writes back up, as when TCP gets no
 *   acknowledgements. Bytes are held back, never discarded: when the mode leaves `blackhole` the
 *   held bytes (and a held FIN) are delivered in order, as TCP retransmission does after a short
 *   partition. (Discarding bytes TCP already acknowledged would corrupt HTTP/2 framing on the
 *   healed connection, which no real network does.)
 * - `drop`: open connections are reset (RST both ways) and new ones are accepted then reset at
 *   once, so a dialer sees ECONNRESET (the listening port is kept, for the heal).
 * - `lossy`: like `pass`, but each chunk read resets the whole connection with probability
 *   `cutProbability`, drawn from `random` (inject a seeded PRNG to replay a run).
 */
export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'lossy'; readonly cutProbability: number; readonly random: () => number };

export interface FaultProxyLimits {
  /** Open connections at most; more are reset on accept. Default 256. */
  readonly maxConnections?: number;
  /** Bytes read but not yet written, per direction of one connection, before reading pauses. Default 4 MiB. */
  readonly maxQueuedBytesPerDirection?: number;
}

export interface FaultProxyOptions {
  /** Port to listen on, 127.0.0.1. Default 0: any free port, read it from `port`. */
  readonly listenPort?: number;
  /** Where accepted connections are forwarded to (the member's real peer listener). */
  readonly target: { readonly host: string; readonly port: number };
  /** Names the dialer of each connection, for `setOriginMode`. Default: every origin unknown. */
  readonly resolveOrigin?: OriginResolver;
  /** Mode for connections whose origin is unknown; default: the proxy's mode (see `pass()` ...). */
  readonly unknownOriginMode?: ProxyMode;
  readonly limits?: FaultProxyLimits;
}

/** Counters since start. Bytes count what was written onward, not what was read and held. */
export interface FaultProxyStats {
  readonly connectionsAccepted: number;
  readonly connectionsOpen: number;
  /** Connections the proxy reset: `drop`, `lossy`, over `maxConnections`, or target refused. */
  readonly connectionsReset: number;
  readonly bytesToTarget: number;
  readonly bytesFromTarget: number;
  /** Bytes read from one side and not yet written to the other (delayed or held), now. */
  readonly bytesQueued: number;
  /**
   * Bytes that arrived on the proxy's sockets and that it has not read yet, now: Node's buffers
   * of paused sockets (`blackhole` reads nothing). More may wait in the kernel's receive queues.
   */
  readonly bytesUnread: number;
  /** Accepted connections per origin label; unknown origins under `''`. */
  readonly connectionsByOrigin: ReadonlyMap<string, number>;
}

const MAX_DELAY_MS = 60_000;

function checkMode(mode: ProxyMode): ProxyMode {
  if (mode.kind === 'delay' && !(Number.isFinite(mode.ms) && mode.ms >= 0 && mode.ms <= MAX_DELAY_MS)) {
    throw new RangeError(`delay must be within [0, ${MAX_DELAY_MS}] ms, got ${mode.ms}`);
  }
  if (mode.kind === 'lossy' && !(mode.cutProbability >= 0 && mode.cutProbability <= 1)) {
    throw new RangeError(`cutProbability must be within [0, 1], got ${mode.cutProbability}`);
  }
  return mode;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one target, for fault tests on loopback. Start it, give
 * its `url` to the member as the advertised peer URL while the member listens on `target`, and
 * switch modes at any time; a switch applies at once to open connections too.
 *
 * Modes are kept per origin: `pass()`, `delay()`, `blackhole()`, `drop()`, `lossy()` set the mode
 * for every origin without its own; `setOriginMode(origin, mode)` overrides it for connections
 * whose `resolveOrigin` answer is `origin` (see `Partition` for the wiring of a cluster).
 *
 * Timing: `delay` uses the real clock (this is test support for real processes, not the
 * simulator). Nothing here times out: a held connection stays open until a mode or a peer ends it.
 *
 * @example
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: peerPort } });
 * // member started with --listen-peer-urls http://127.0.0.1:<peerPort>
 * //   and --initial-advertise-peer-urls proxy.url
 * proxy.blackhole(); ... proxy.pass();
 * await proxy.close();
 */
export class FaultProxy {
  private readonly connections = new Set<ProxiedConnection>();
  private readonly originModes = new Map<string, ProxyMode>();
  private defaultMode: ProxyMode = { kind: 'pass' };
  private closed = false;
  private readonly counters = {
    connectionsAccepted: 0, connectionsReset: 0, bytesToTarget: 0, bytesFromTarget: 0,
    connectionsByOrigin: new Map<string, number>(),
  };
  private readonly maxConnections: number;
  /** What each connection may see and do of its proxy. */
  private readonly host: ConnectionHost;

  private constructor(private readonly server: Server, private readonly options: FaultProxyOptions) {
    this.maxConnections = options.limits?.maxConnections ?? 256;
    this.host = {
      target: options.target,
      maxQueuedBytes: options.limits?.maxQueuedBytesPerDirection ?? 4 * 1024 * 1024,
      modeFor: (origin) => this.modeFor(origin),
      forwarded: (toTarget, bytes) => {
        if (toTarget) this.counters.bytesToTarget += bytes;
        else this.counters.bytesFromTarget += bytes;
      },
      proxyReset: () => { this.counters.connectionsReset++; },
      forget: (c) => { this.connections.delete(c); },
    };
    if (options.unknownOriginMode !== undefined) checkMode(options.unknownOriginMode);
  }

  /** Listens on 127.0.0.1 (`listenPort`, default any free port); forwards in `pass` mode. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    // pauseOnConnect: not a byte is read before the origin is known and the mode decided.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port the proxy listens on (127.0.0.1). */
  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy is not listening');
    return address.port;
  }

  /** `http://127.0.0.1:<port>`, the URL to advertise in place of the target's. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get stats(): FaultProxyStats {
    let bytesQueued = 0;
    let bytesUnread = 0;
    for (const c of this.connections) {
      bytesQueued += c.queuedBytes;
      bytesUnread += c.unreadBytes;
    }
    return { ...this.counters, connectionsOpen: this.connections.size, bytesQueued, bytesUnread,
      connectionsByOrigin: new Map(this.counters.connectionsByOrigin) };
  }

  /** Forward both ways (the default). */
  pass(): void { this.setMode({ kind: 'pass' }); }
  /** Hold every byte back in both directions, as a partition does; see `ProxyMode`. */
  blackhole(): void { this.setMode({ kind: 'blackhole' }); }
  /** Reset open connections, and reset new ones on accept. */
  drop(): void { this.setMode({ kind: 'drop' }); }
  /** Forward with `ms` (0..60000) of added latency per chunk, order preserved. */
  delay(ms: number): void { this.setMode({ kind: 'delay', ms }); }
  /** Forward, resetting a connection with probability `cutProbability` per chunk read. */
  lossy(cutProbability: number, random: () => number): void {
    this.setMode({ kind: 'lossy', cutProbability, random });
  }

  /** Sets the mode of every origin that has no mode of its own. Throws RangeError on a bad mode. */
  setMode(mode: ProxyMode): void {
    this.defaultMode = checkMode(mode);
    this.reapply();
  }

  /** Overrides the mode for one origin (as named by `resolveOrigin`); `undefined` removes it. */
  setOriginMode(origin: string, mode: ProxyMode | undefined): void {
    if (mode === undefined) this.originModes.delete(origin);
    else this.originModes.set(origin, checkMode(mode));
    this.reapply();
  }

  /** Removes every per-origin mode. */
  clearOriginModes(): void {
    this.originModes.clear();
    this.reapply();
  }

  /** The mode a connection from `origin` (undefined: unknown) gets now. */
  modeFor(origin: string | undefined): ProxyMode {
    if (origin === undefined) return this.options.unknownOriginMode ?? this.defaultMode;
    return this.originModes.get(origin) ?? this.defaultMode;
  }

  /** Stops listening and resets every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.connections]) c.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private reapply(): void {
    for (const c of [...this.connections]) c.apply();
  }

  private accept(socket: Socket): void {
    this.counters.connectionsAccepted++;
    if (this.closed || this.connections.size >= this.maxConnections) {
      this.counters.connectionsReset++;
      socket.resetAndDestroy();
      return;
    }
    const c = new ProxiedConnection(this.host, socket);
    this.connections.add(c);
    const resolve = this.options.resolveOrigin ?? (async () => undefined);
    resolve(socket).catch(() => undefined).then((origin) => {
      const key = origin ?? '';
      this.counters.connectionsByOrigin.set(key, (this.counters.connectionsByOrigin.get(key) ?? 0) + 1);
      c.start(origin);
    });
  }
}

interface ConnectionHost {
  readonly target: { readonly host: string; readonly port: number };
  readonly maxQueuedBytes: number;
  modeFor(origin: string | undefined): ProxyMode;
  forwarded(toTarget: boolean, bytes: number): void;
  /** Counts a reset the proxy decided (not one it passed on). */
  proxyReset(): void;
  forget(c: ProxiedConnection): void;
}

/** One accepted connection and, once a mode lets traffic through, its connection to the target. */
class ProxiedConnection {
  private origin: string | undefined;
  private started = false;
  private target: Socket | undefined;
  private toTarget: Direction | undefined;
  private fromTarget: Direction | undefined;
  private done = false;

  constructor(private readonly proxy: ConnectionHost, private readonly client: Socket) {
    client.on('error', () => { /* handled on close */ });
    client.on('close', () => { if (this.toTarget === undefined) this.finish(); });
  }

  get queuedBytes(): number {
    return (this.toTarget?.queuedBytes ?? 0) + (this.fromTarget?.queuedBytes ?? 0);
  }

  get unreadBytes(): number {
    return this.client.readableLength + (this.target?.readableLength ?? 0);
  }

  start(origin: string | undefined): void {
    this.origin = origin;
    this.started = true;
    this.apply();
  }

  /** Brings the connection in line with the proxy's current mode for its origin. */
  apply(): void {
    if (!this.started || this.done) return;
    const mode = this.proxy.modeFor(this.origin);
    if (mode.kind === 'drop') {
      this.proxy.proxyReset();
      this.reset();
      return;
    }
    if (mode.kind === 'blackhole') {
      this.toTarget?.hold();
      this.fromTarget?.hold();
      return;
    }
    if (this.client.destroyed && this.toTarget === undefined) {
      this.finish();
      return;
    }
    if (this.target === undefined) this.connectTarget();
    this.toTarget?.release(mode);
    this.fromTarget?.release(mode);
  }

  reset(): void {
    if (this.done) return;
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (this.target !== undefined && !this.target.destroyed) this.target.resetAndDestroy();
    this.toTarget?.stop();
    this.fromTarget?.stop();
    this.finish();
  }

  /** A lossy cut decided by a direction. */
  cut(): void {
    this.proxy.proxyReset();
    this.reset();
  }

  /** Called by a direction when both of its sockets are gone. */
  maybeFinish(): void {
    if (this.client.destroyed && (this.target === undefined || this.target.destroyed)) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.proxy.forget(this);
  }

  private connectTarget(): void {
    const { host, port } = this.proxy.target;
    const target = createConnection({ host, port, allowHalfOpen: true });
    this.target = target;
    target.pause();
    target.once('connect', () => {
      if (this.done) {
        if (!target.destroyed) target.resetAndDestroy();
        return;
      }
      const max = this.proxy.maxQueuedBytes;
      this.toTarget = new Direction(this, this.client, target, (n) => this.proxy.forwarded(true, n), max);
      this.fromTarget = new Direction(this, target, this.client, (n) => this.proxy.forwarded(false, n), max);
      this.apply();
    });
    target.on('error', () => {
      // Target refused or reset before the connection was up: the dialer sees a reset, as if the
      // target had refused it directly.
      if (this.toTarget === undefined) {
        this.proxy.proxyReset();
        this.reset();
      }
    });
    target.on('close', () => this.maybeFinish());
  }
}

interface Queued { readonly chunk: Buffer; readonly dueMs: number }

/** One direction of a connection: reads `src`, queues, writes `dst` when due, with backpressure. */
class Direction {
  private readonly queue: Queued[] = [];
  queuedBytes = 0;
  private lastDueMs = 0;
  private delayMs = 0;
  private mode: ProxyMode = { kind: 'blackhole' };
  private held = true;
  private waitingDrain = false;
  private srcEnded = false;
  private srcReset = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: ProxiedConnection,
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly forwarded: (bytes: number) => void,
    private readonly maxQueuedBytes: number,
  ) {
    // The source went away while the target was being dialed: nothing more will come from it.
    if (src.destroyed) this.srcEnded = true;
    src.on('data', (chunk: Buffer) => this.onData(chunk));
    src.on('end', () => { this.srcEnded = true; this.pump(); });
    src.on('close', (hadError) => {
      if (hadError) this.srcReset = true;
      else this.srcEnded = true;
      this.pump();
      conn.maybeFinish();
    });
    src.on('error', () => { this.srcReset = true; });
    dst.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    src.pause();
  }

  hold(): void {
    this.held = true;
    this.clearTimer();
    this.flow();
  }

  release(mode: ProxyMode): void {
    this.mode = mode;
    this.held = false;
    this.delayMs = mode.kind === 'delay' ? mode.ms : 0;
    this.pump();
  }

  stop(): void {
    this.finished = true;
    this.clearTimer();
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    if (this.mode.kind === 'lossy' && this.mode.random() < this.mode.cutProbability) {
      this.conn.cut();
      return;
    }
    // The queue is FIFO, so a shorter delay set later cannot reorder bytes; keeping due times
    // monotonic as well means the head is always the next chunk due, the only one timed.
    const dueMs = Math.max(Date.now() + this.delayMs, this.lastDueMs);
    this.lastDueMs = dueMs;
    this.queue.push({ chunk, dueMs });
    this.queuedBytes += chunk.length;
    this.pump();
  }

  private pump(): void {
    if (this.finished) return;
    this.clearTimer();
    if (!this.held && !this.waitingDrain && !this.dst.destroyed) {
      const now = Date.now();
      while (this.queue.length > 0) {
        const head = this.queue[0]!;
        if (head.dueMs > now) {
          this.timer = setTimeout(() => { this.timer = undefined; this.pump(); }, head.dueMs - now);
          break;
        }
        this.queue.shift();
        this.queuedBytes -= head.chunk.length;
        this.forwarded(head.chunk.length);
        if (!this.dst.write(head.chunk)) {
          this.waitingDrain = true;
          break;
        }
      }
      if (this.queue.length === 0) this.propagateEnd();
    }
    this.flow();
  }

  /** Passes on a FIN or a reset from `src` once every byte before it was written. */
  private propagateEnd(): void {
    if (this.srcReset) {
      this.finished = true;
      if (!this.dst.destroyed) this.dst.resetAndDestroy();
      this.conn.maybeFinish();
    } else if (this.srcEnded) {
      this.finished = true;
      if (!this.dst.destroyed) this.dst.end();
      this.conn.maybeFinish();
    }
  }

  private flow(): void {
    if (this.src.destroyed) return;
    const read = !this.finished && !this.held && !this.waitingDrain && this.queuedBytes < this.maxQueuedBytes;
    if (read) this.src.resume();
    else this.src.pause();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
