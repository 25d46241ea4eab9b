import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { PeerLogger as Logger } from './logger.js';
import { decodeFrame, FrameError } from './frame.js';
import { checkPeerIds, checkPeerMetadata, idToHex, peerServiceDefinition, SNAPSHOT_OK, type Refusal } from './peer-service.js';
import { isRawStart } from './raw-stream.js';
import { serveRawStream } from './raw-inbound.js';
import { emptyPeerStats, type PeerStats } from './peer-stats.js';
import { peerUrlTarget, RemotePeer, type RemoteConfig } from './remote-peer.js';
import { decodeSnapshotChunk, SnapshotChunkError, SnapshotChunkKind, updateCrc } from './snapshot-chunk.js';

/** Limits of a {@link PeerTransport}; every field has a default (see {@link DEFAULT_PEER_LIMITS}). */
export interface PeerTransportLimits {
  /** Messages waiting for one peer's stream; beyond it `send()` drops (etcd: 4096). */
  maxQueuedMessages: number;
  /** Bytes waiting for one peer's stream; beyond it `send()` drops. */
  maxQueuedBytes: number;
  /** Largest frame sent or accepted; a single raft message must fit in one (8 bytes of framing). */
  maxFrameBytes: number;
  /** Most raft messages in one frame, sent or accepted. */
  maxMessagesPerFrame: number;
  /**
   * Bytes written to one peer's stream but not yet taken by HTTP/2 (flow control); beyond it the
   * transport stops writing and messages wait in the queue. Per-peer memory is bounded by
   * maxQueuedBytes + maxInflightBytes + one frame.
   */
  maxInflightBytes: number;
  /** Snapshot data is cut into chunks of at most this many bytes (≤ maxFrameBytes). */
  snapshotChunkBytes: number;
  /** Largest snapshot accepted from a peer. */
  maxSnapshotBytes: number;
  /** Inbound message streams at once (one per sender; a newer stream replaces an older one). */
  maxInboundStreams: number;
  /** Inbound snapshots being received at once. */
  maxInboundSnapshots: number;
  /** A stream the peer has not accepted within this time is abandoned and redialled. */
  dialTimeoutMs: number;
  /** Redial backoff: doubles from initial to max, jittered into [d/2, d). */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** HTTP/2 keepalive pings on peer connections, so a silent peer is noticed. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
}

export const DEFAULT_PEER_LIMITS: Readonly<PeerTransportLimits> = Object.freeze({
  maxQueuedMessages: 4096,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxFrameBytes: 16 * 1024 * 1024,
  maxMessagesPerFrame: 8192,
  maxInflightBytes: 4 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  maxSnapshotBytes: 64 * 1024 * 1024 * 1024,
  maxInboundStreams: 128,
  maxInboundSnapshots: 4,
  dialTimeoutMs: 5_000,
  backoffInitialMs: 50,
  backoffMaxMs: 2_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
});

/** Options of {@link PeerTransport}. */
export interface PeerTransportOptions {
  /** This member's ID (the `raftkv-from` header of every call, checked as `raftkv-to` inbound). */
  selfId: bigint;
  /** The cluster's ID; calls carrying another one are refused with FAILED_PRECONDITION. */
  clusterId: bigint;
  /**
   * Called once per received frame, with the raft messages in the order `from` sent them
   * (views into the frame: copy to keep them past the call). Must not throw; a throw is logged.
   */
  onMessages: (from: bigint, msgs: Uint8Array[]) => void;
  /**
   * Called for each received snapshot. `data` yields the snapshot bytes in order and throws if
   * the sender stopped early or the bytes fail the length/CRC check at the end. The sender is
   * told "ok" only if this resolves AND `data` was read to its end; a rejection tells it "failed".
   */
  onSnapshot: (from: bigint, metadata: Uint8Array, data: AsyncIterable<Uint8Array>) => Promise<void>;
  /**
   * Called when messages to `peer` may have been lost: its queue was full (at most once per
   * event-loop turn per peer) or its stream failed. Raft's `reportUnreachable` goes here.
   * Never called from inside `send()`.
   */
  onUnreachable?: (peer: bigint) => void;
  /**
   * When true, inbound calls from a member not added with `addPeer` are refused with
   * FAILED_PRECONDITION "raftkv: unknown sender member ID". Default false: a member that joins
   * may speak before this member applied its conf change.
   */
  checkSender?: boolean;
  /** Members removed from the cluster: their calls are refused with {@link ERR_MEMBER_REMOVED}. */
  isRemoved?: (id: bigint) => boolean;
  /** A peer refused this member's stream because it was removed from the cluster: stop. */
  onRemoved?: () => void;
  logger?: Logger;
  limits?: Partial<PeerTransportLimits>;
  /** Source of backoff jitter in [0, 1); inject a seeded one to replay. Default Math.random. */
  random?: () => number;
  /**
   * TLS for https peer URLs: credentials to dial peers with (or a function asked at every dial,
   * to pick up rotated certificates) and to serve `listen()` with.
   */
  credentials?: {
    channel: ChannelCredentials | (() => ChannelCredentials);
    server: ServerCredentials;
    /**
     * TLS options (asked at every dial) for raw streams to https URLs, whose listener hands
     * connections to {@link PeerTransport.serveConnection} after TLS; without it, https peers
     * get the gRPC stream.
     */
    raw?: () => tls.ConnectionOptions;
  };
}

/** Counters of the whole transport: per-peer stats plus what belongs to no added peer. */
export interface PeerTransportStats {
  peers: Map<bigint, PeerStats>;
  /** `send()` calls to a peer that was never added (or was removed): ignored. */
  unknownPeerSends: number;
  /** Frames/messages from senders that are not added peers (accepted when checkSender is off). */
  unknownSenderMessages: number;
  /** Inbound calls refused (cluster ID, to ID, unknown sender, limits, bad headers). */
  refusedCalls: number;
  /** Inbound streams ended because a frame was malformed. */
  badFrames: number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function resolveLimits(partial: Partial<PeerTransportLimits> | undefined): PeerTransportLimits {
  const l: PeerTransportLimits = { ...DEFAULT_PEER_LIMITS, ...partial };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`peer limits: ${k} must be a positive integer, got ${v}`);
  }
  if (l.snapshotChunkBytes > l.maxFrameBytes - 1) throw new RangeError('peer limits: snapshotChunkBytes must be < maxFrameBytes');
  if (l.maxFrameBytes > 2 ** 31 - 2) throw new RangeError('peer limits: maxFrameBytes must be < 2 GiB');
  if (l.backoffMaxMs < l.backoffInitialMs) throw new RangeError('peer limits: backoffMaxMs must be >= backoffInitialMs');
  return l;
}

/**
 * The raft transport between raftkv members: gRPC service `raftkvpb.Peer` on the peer URLs.
 *
 * Outbound, each peer has a bounded queue and one long-lived stream. Everything `send()` hands
 * to one peer within one event-loop turn leaves as ONE frame (one gRPC message), pipelined:
 * no round trip per message. Messages to one peer arrive in the order sent, unless dropped; a
 * full queue drops and reports `onUnreachable` (raft retries), so a slow or dead peer never
 * blocks the caller or other peers. A lost stream is redialled with jittered exponential
 * backoff (50 ms → 2 s by default).
 *
 * Inbound, it serves `Stream` and `Snapshot` for the peer listener: either hand
 * {@link PeerTransport.service} to your own `grpc.Server` (with {@link PeerTransport.serverOptions}),
 * or let {@link PeerTransport.listen} create one.
 *
 * @example
 * ```ts
 * const t = new PeerTransport({ selfId, clusterId, onMessages: (from, msgs) => msgs.forEach((m) => node.step(decodeMessage(m))),
 *   onSnapshot: receiveSnapshot, onUnreachable: (id) => node.reportUnreachable(id) });
 * await t.listen(['http://127.0.0.1:2380']);
 * t.addPeer(2n, ['http://10.0.0.2:2380']);
 * for (const m of ready.messages) t.send(m.to, encodeMessage(m));
 * ```
 */
export class PeerTransport {
  private readonly limits: PeerTransportLimits;
  private readonly logger: Logger;
  private readonly remotes = new Map<bigint, RemotePeer>();
  private readonly inbound = new Map<bigint, { end(): void }>();
  private readonly rawSockets = new Set<Duplex>();
  private readonly netServers: net.Server[] = [];
  private inboundSnapshots = 0;
  private readonly remoteConfig: RemoteConfig;
  private server: Server | undefined;
  private closed = false;
  private readonly totals = { unknownPeerSends: 0, unknownSenderMessages: 0, refusedCalls: 0, badFrames: 0 };

  constructor(private readonly opts: PeerTransportOptions) {
    this.limits = resolveLimits(opts.limits);
    this.logger = opts.logger ?? silent;
    const onUnreachable = opts.onUnreachable ?? (() => {});
    this.remoteConfig = {
      selfId: opts.selfId,
      clusterId: opts.clusterId,
      maxQueuedMessages: this.limits.maxQueuedMessages,
      maxQueuedBytes: this.limits.maxQueuedBytes,
      maxFrameBytes: this.limits.maxFrameBytes,
      maxMessagesPerFrame: this.limits.maxMessagesPerFrame,
      maxInflightBytes: this.limits.maxInflightBytes,
      snapshotChunkBytes: this.limits.snapshotChunkBytes,
      dialTimeoutMs: this.limits.dialTimeoutMs,
      keepaliveTimeMs: this.limits.keepaliveTimeMs,
      keepaliveTimeoutMs: this.limits.keepaliveTimeoutMs,
      backoffInitialMs: this.limits.backoffInitialMs,
      backoffMaxMs: this.limits.backoffMaxMs,
      channelOptions: {
        ...this.channelOptions(),
        // Our own backoff decides when to redial; keep grpc-js's channel backoff below it.
        'grpc.initial_reconnect_backoff_ms': this.limits.backoffInitialMs,
        'grpc.max_reconnect_backoff_ms': this.limits.backoffMaxMs,
        // Retries buffer writes and complete them early, hiding HTTP/2 backpressure.
        'grpc.enable_retries': 0,
        // One connection per peer (and per snapshot), not shared through the process-wide pool.
        'grpc.use_local_subchannel_pool': 1,
      },
      credentials: opts.credentials?.channel,
      rawTls: opts.credentials?.raw,
      random: opts.random ?? Math.random,
      logger: this.logger,
      onRemoved: () => this.opts.onRemoved?.(),
      onUnreachable,
    };
  }

  private channelOptions(): ChannelOptions {
    return {
      'grpc.max_receive_message_length': this.limits.maxFrameBytes + 1,
      'grpc.max_send_message_length': this.limits.maxFrameBytes + 1,
      'grpc.keepalive_time_ms': this.limits.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.limits.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
    };
  }

  /**
   * Options for a `grpc.Server` that serves {@link PeerTransport.service}: message size limits
   * matching this transport's frames and chunks, and keepalive.
   */
  serverOptions(): ChannelOptions {
    return this.channelOptions();
  }

  /**
   * The `raftkvpb.Peer` service for `server.addService(definition, implementation)` on the peer
   * listener. The server must accept messages of `maxFrameBytes + 1` (see {@link serverOptions}).
   */
  service(): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
    return {
      definition: peerServiceDefinition,
      implementation: {
        Stream: (call: ServerDuplexStream<Buffer, Buffer>) => this.handleStream(call),
        Snapshot: (call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void this.handleSnapshot(call, cb),
      },
    };
  }

  /**
   * Creates a grpc Server for peers serving {@link service}, bound to each `http://host:port`
   * (or https with `credentials`). Resolves to the bound `host:port` per URL (useful with port 0).
   * The server stops with {@link close}.
   *
   * @throws if already listening or closed, or when a URL cannot be bound.
   */
  async listen(urls: readonly string[]): Promise<string[]> {
    if (this.closed) throw new Error('peer transport: closed');
    if (this.server !== undefined) throw new Error('peer transport: already listening');
    const server = new Server(this.serverOptions());
    const { definition, implementation } = this.service();
    server.addService(definition, implementation);
    this.server = server;
    const bound: string[] = [];
    let injector: ReturnType<Server['createConnectionInjector']> | undefined;
    for (const url of urls) {
      const target = peerUrlTarget(url, this.opts.credentials !== undefined);
      const u = new URL(url);
      if (u.protocol === 'http:') {
        // Our own listener, so raw streams and gRPC share the port (see serveConnection).
        const grpc = (injector ??= server.createConnectionInjector(ServerCredentials.createInsecure()));
        const host = u.hostname.replace(/^\[|\]$/g, '');
        bound.push(`${host}:${await this.listenNet(host, Number(u.port), (s) => grpc.injectConnection(s))}`);
        continue;
      }
      // TLS on https URLs only, as etcd serves each peer URL by its scheme.
      const creds = new URL(url).protocol === 'https:' ? this.opts.credentials!.server : ServerCredentials.createInsecure();
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(target, creds, (err, p) => (err ? reject(err) : resolve(p))),
      );
      bound.push(`${new URL(url).hostname.replace(/^\[|\]$/g, '')}:${port}`);
    }
    return bound;
  }

  private async listenNet(host: string, port: number, grpc: (socket: Duplex) => void): Promise<number> {
    const ns = net.createServer((socket) => {
      socket.on('error', () => {});
      this.serveConnection(socket, grpc);
    });
    this.netServers.push(ns);
    await new Promise<void>((resolve, reject) => {
      ns.once('error', reject);
      ns.listen(port, host, () => {
        ns.off('error', reject);
        resolve();
      });
    });
    return (ns.address() as net.AddressInfo).port;
  }

  /**
   * Serves one accepted connection of the peer listener (after TLS, if any): a raw peer stream
   * (`raw-stream.ts`) is served here; anything else goes to `grpc` with its first bytes put
   * back (grpc-js's connection injector: `injector.injectConnection`).
   */
  serveConnection(socket: Duplex, grpc: (socket: Duplex) => void): void {
    const first = (chunk: Buffer): void => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.length > 0 && isRawStart(chunk[0]!)) this.handleRawStream(socket);
      else grpc(socket);
    };
    socket.once('data', first);
  }

  /**
   * Starts sending to member `id` at `urls` (tried in turn when dialling fails). Messages sent
   * before the stream is up wait in the queue.
   *
   * @throws TypeError for an empty or non-http(s) URL list; Error if `id` is already a peer or is selfId.
   */
  addPeer(id: bigint, urls: readonly string[]): void {
    if (this.closed) throw new Error('peer transport: closed');
    if (id === this.opts.selfId) throw new Error(`peer transport: cannot add self ${idToHex(id)} as a peer`);
    if (this.remotes.has(id)) throw new Error(`peer transport: peer ${idToHex(id)} already added`);
    this.remotes.set(id, new RemotePeer(id, urls, this.remoteConfig));
  }

  /** Replaces a peer's URLs; redials at once if they changed. @throws Error for an unknown peer. */
  updatePeer(id: bigint, urls: readonly string[]): void {
    const r = this.remotes.get(id);
    if (r === undefined) throw new Error(`peer transport: unknown peer ${idToHex(id)}`);
    r.updateUrls(urls);
  }

  /** Stops sending to `id`: ends its stream, discards its queue and stats; unknown ids are ignored. */
  removePeer(id: bigint): void {
    const r = this.remotes.get(id);
    if (r === undefined) return;
    this.remotes.delete(id);
    r.close();
    this.inbound.get(id)?.end();
  }

  /** Whether `id` was added and not removed. */
  hasPeer(id: bigint): boolean {
    return this.remotes.has(id);
  }

  /**
   * Queues one encoded raft message for `to`; never blocks and never throws for a slow or dead
   * peer. `msg` is copied when its frame is built (end of this turn): do not modify it before. Returns false when it was not queued: `to` is not a peer (ignored, counted) or its
   * queue is full (dropped, counted, and `onUnreachable(to)` follows in a later turn).
   *
   * @throws RangeError when `msg` cannot fit in one frame (`maxFrameBytes - 8`): raft's
   * message size limit is misconfigured.
   */
  send(to: bigint, msg: Uint8Array): boolean {
    if (msg.byteLength > this.limits.maxFrameBytes - 8) {
      throw new RangeError(`peer transport: message of ${msg.byteLength} bytes exceeds maxFrameBytes ${this.limits.maxFrameBytes} - 8`);
    }
    const r = this.remotes.get(to);
    if (r === undefined) {
      this.totals.unknownPeerSends++;
      return false;
    }
    return r.send(msg);
  }

  /**
   * Streams a snapshot to `to` on its own connection: `metadata` (the raft MsgSnap message) first,
   * then `data` cut into chunks of `snapshotChunkBytes`, reading `data` only as fast as the peer
   * takes it (gRPC write backpressure). Resolves true when the peer's `onSnapshot` accepted it,
   * false on any failure (unknown peer, refused, connection lost, `data` threw, closed) — report
   * it to raft with `reportSnapshot`. Never rejects.
   */
  async sendSnapshot(to: bigint, metadata: Uint8Array, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    const r = this.remotes.get(to);
    if (r === undefined || this.closed) return false;
    return r.sendSnapshot(metadata, data);
  }

  /** A snapshot of the counters (copies; safe to keep). */
  stats(): PeerTransportStats {
    const peers = new Map<bigint, PeerStats>();
    for (const [id, r] of this.remotes) peers.set(id, { ...r.stats });
    return { peers, ...this.totals };
  }

  /**
   * Ends every outbound stream and snapshot, stops timers, and shuts the `listen()` server down
   * (waiting for calls to finish, cancelling them after a second). Queued messages are discarded.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.remotes.values()) r.close();
    for (const call of this.inbound.values()) call.end();
    this.inbound.clear();
    for (const s of this.rawSockets) s.destroy();
    this.rawSockets.clear();
    await Promise.all(this.netServers.splice(0).map((ns) => new Promise<void>((resolve) => ns.close(() => resolve()))));
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 1_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
  }

  private refuse(refusal: Refusal, what: string): Refusal {
    this.totals.refusedCalls++;
    this.logger.warn(`peer ${what} refused`, { code: refusal.code, details: refusal.details });
    return refusal;
  }

  private check(md: Metadata, what: string): { from: bigint } | Refusal {
    if (this.closed) return this.refuse({ code: status.UNAVAILABLE, details: 'raftkv: peer transport closed' }, what);
    const isKnown = this.opts.checkSender ? (id: bigint) => this.remotes.has(id) : undefined;
    const res = checkPeerMetadata(md, this.opts.clusterId, this.opts.selfId, isKnown, this.opts.isRemoved);
    return 'from' in res ? res : this.refuse(res, what);
  }

  private checkIds(ids: { clusterId: bigint; from: bigint; to: bigint }, what: string): { from: bigint } | Refusal {
    if (this.closed) return this.refuse({ code: status.UNAVAILABLE, details: 'raftkv: peer transport closed' }, what);
    const isKnown = this.opts.checkSender ? (id: bigint) => this.remotes.has(id) : undefined;
    const res = checkPeerIds(ids, this.opts.clusterId, this.opts.selfId, isKnown, this.opts.isRemoved);
    return 'from' in res ? res : this.refuse(res, what);
  }

  /** Admits `stream` as `from`'s inbound stream, or says why not. */
  private admit(from: bigint, stream: { end(): void }): Refusal | undefined {
    // One stream per sender: a newer one means the sender gave up on the old (which may not
    // have noticed yet), and it bounds inbound streams by the number of senders.
    const previous = this.inbound.get(from);
    if (previous !== undefined) {
      this.inbound.delete(from);
      previous.end();
    } else if (this.inbound.size >= this.limits.maxInboundStreams) {
      return this.refuse({ code: status.RESOURCE_EXHAUSTED, details: 'raftkv: too many peer streams' }, 'stream');
    }
    this.inbound.set(from, stream);
    return undefined;
  }

  /** One received frame: decoded and handed on; the error to end the stream with when malformed. */
  private receiveFrame(from: bigint, frame: Buffer): Refusal | undefined {
    let msgs: Uint8Array[];
    try {
      msgs = decodeFrame(frame, this.limits.maxMessagesPerFrame);
    } catch (err) {
      this.totals.badFrames++;
      this.logger.error('peer sent a malformed frame', { 'remote-peer-id': idToHex(from), error: err });
      return { code: status.INVALID_ARGUMENT, details: err instanceof FrameError ? err.message : 'raftkv: bad frame' };
    }
    const s = this.remotes.get(from)?.stats;
    if (s !== undefined) {
      s.receivedBatches++;
      s.receivedMessages += msgs.length;
      s.receivedBytes += frame.byteLength - 4 - 4 * msgs.length;
    } else {
      this.totals.unknownSenderMessages += msgs.length;
    }
    try {
      this.opts.onMessages(from, msgs);
    } catch (err) {
      this.logger.error('peer onMessages threw', { 'remote-peer-id': idToHex(from), error: err });
    }
    return undefined;
  }

  private handleRawStream(socket: Duplex): void {
    if (this.closed) return void socket.destroy();
    this.rawSockets.add(socket);
    socket.once('close', () => this.rawSockets.delete(socket));
    serveRawStream(socket, {
      helloTimeoutMs: this.limits.dialTimeoutMs,
      maxFrameBytes: this.limits.maxFrameBytes,
      accept: (ids, stream) => {
        const res = this.checkIds(ids, 'stream');
        return 'from' in res ? (this.admit(res.from, stream) ?? res) : res;
      },
      receiveFrame: (from, frame) => this.receiveFrame(from, frame),
      badRecord: (from, error) => {
        this.totals.badFrames++;
        this.logger.error('peer sent a malformed frame', { 'remote-peer-id': idToHex(from), error });
      },
      ended: (from, stream) => {
        if (this.inbound.get(from) === stream) this.inbound.delete(from);
      },
    });
  }

  private handleStream(call: ServerDuplexStream<Buffer, Buffer>): void {
    const res = this.check(call.metadata, 'stream');
    if (!('from' in res)) {
      call.emit('error', res);
      return;
    }
    const from = res.from;
    const refusal = this.admit(from, call);
    if (refusal !== undefined) {
      call.emit('error', refusal);
      return;
    }
    call.sendMetadata(new Metadata());
    const done = (): void => {
      if (this.inbound.get(from) === call) this.inbound.delete(from);
    };
    call.on('data', (frame: Buffer) => {
      const bad = this.receiveFrame(from, frame);
      if (bad === undefined) return;
      done();
      call.emit('error', bad);
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('cancelled', done);
    call.on('close', done);
  }

  private async handleSnapshot(call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>): Promise<void> {
    const res = this.check(call.metadata, 'snapshot');
    if (!('from' in res)) return cb(res);
    if (this.inboundSnapshots >= this.limits.maxInboundSnapshots) {
      return cb(this.refuse({ code: status.RESOURCE_EXHAUSTED, details: 'raftkv: too many snapshots in flight' }, 'snapshot'));
    }
    const from = res.from;
    this.inboundSnapshots++;
    const source = call[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // grpc-js leaves a cancelled call's readable side pending forever: race every read with
    // the cancellation, so onSnapshot sees an error instead of hanging (and holding a slot).
    let onCancel!: (err: Error) => void;
    const cancelled = new Promise<never>((_, reject) => (onCancel = reject));
    cancelled.catch(() => {});
    call.once('cancelled', () => onCancel(new SnapshotChunkError('snapshot: sender cancelled')));
    if (call.cancelled) onCancel(new SnapshotChunkError('snapshot: sender cancelled'));
    const it = { next: () => Promise.race([source.next(), cancelled]) };
    const maxBytes = this.limits.maxSnapshotBytes;
    let complete = false;
    try {
      const first = await it.next();
      if (first.done) throw new SnapshotChunkError('snapshot: no metadata chunk');
      const meta = decodeSnapshotChunk(first.value);
      if (meta.kind !== SnapshotChunkKind.Metadata) throw new SnapshotChunkError('snapshot: first chunk is not metadata');
      async function* data(): AsyncGenerator<Uint8Array> {
        let total = 0;
        let crc = 0;
        for (;;) {
          const next = await it.next();
          if (next.done) throw new SnapshotChunkError('snapshot: sender stopped before the end chunk');
          const chunk = decodeSnapshotChunk(next.value);
          if (chunk.kind === SnapshotChunkKind.End) {
            if (chunk.totalBytes !== total || chunk.crc !== crc >>> 0) {
              throw new SnapshotChunkError(`snapshot: received ${total} bytes crc ${crc >>> 0}, sender says ${chunk.totalBytes} crc ${chunk.crc}`);
            }
            const after = await it.next();
            if (!after.done) throw new SnapshotChunkError('snapshot: chunks after the end chunk');
            complete = true;
            return;
          }
          if (chunk.kind !== SnapshotChunkKind.Data) throw new SnapshotChunkError('snapshot: second metadata chunk');
          total += chunk.body.byteLength;
          if (total > maxBytes) throw new SnapshotChunkError(`snapshot: more than maxSnapshotBytes ${maxBytes}`);
          crc = updateCrc(crc, chunk.body);
          yield chunk.body;
        }
      }
      await this.opts.onSnapshot(from, meta.body, data());
      if (!complete) throw new SnapshotChunkError('snapshot: onSnapshot resolved before reading the data to its end');
      const s = this.remotes.get(from)?.stats;
      if (s !== undefined) s.snapshotsReceived++;
      cb(null, Buffer.from([SNAPSHOT_OK]));
    } catch (err) {
      this.logger.warn('peer snapshot receive failed', { 'remote-peer-id': idToHex(from), error: err });
      const code = err instanceof SnapshotChunkError ? status.INVALID_ARGUMENT : status.INTERNAL;
      cb({ code, details: err instanceof Error ? err.message : String(err) });
    } finally {
      this.inboundSnapshots--;
    }
  }
}

