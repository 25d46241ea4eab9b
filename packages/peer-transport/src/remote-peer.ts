import { once } from 'node:events';
import type tls from 'node:tls';
import {
  Client,
  credentials as grpcCredentials,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import type { PeerLogger as Logger } from './logger.js';
import { Backoff } from './backoff.js';
import { encodeFrame, frameBytes } from './frame.js';
import { encodeHello, RAW_PREFIX_BYTES, RawOutboundStream } from './raw-stream.js';
import { ERR_MEMBER_REMOVED, idToHex, peerMetadata, SNAPSHOT_OK, SNAPSHOT_PATH, STREAM_PATH } from './peer-service.js';
import { emptyPeerStats, type PeerStats } from './peer-stats.js';
import { encodeSnapshotChunk, encodeSnapshotEnd, SnapshotChunkKind, updateCrc } from './snapshot-chunk.js';

/** Limits and timings a RemotePeer runs with (resolved by PeerTransport). */
export interface RemoteConfig {
  selfId: bigint;
  clusterId: bigint;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  maxFrameBytes: number;
  maxMessagesPerFrame: number;
  maxInflightBytes: number;
  snapshotChunkBytes: number;
  dialTimeoutMs: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  channelOptions: ChannelOptions;
  /** For https URLs; a function is asked again at every dial (so rotated certificates are used). */
  credentials: ChannelCredentials | (() => ChannelCredentials) | undefined;
  /** TLS options of raw streams to https URLs; without them, https peers get the gRPC stream. */
  rawTls: (() => tls.ConnectionOptions) | undefined;
  random: () => number;
  logger: Logger;
  onUnreachable: (peer: bigint) => void;
  /** The peer says this member was removed from the cluster. */
  onRemoved: () => void;
}

type State = 'connecting' | 'active' | 'backoff' | 'closed';

/** What the flush needs of an outbound stream: the gRPC call or the raw stream. */
interface OutboundCall {
  write(frame: Buffer, cb: () => void): boolean;
  once(event: 'drain', fn: () => void): unknown;
  readonly writableNeedDrain: boolean;
  end(): void;
  cancel(): void;
}

const identity = (b: Buffer): Buffer => b;
const noop = (): void => {};

/** `http://host:port` → `host:port`; https needs credentials. */
export function peerUrlTarget(url: string, haveCredentials: boolean): string {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`peer URL ${url}: scheme must be http or https`);
  if (u.protocol === 'https:' && !haveCredentials) throw new TypeError(`peer URL ${url}: https needs transport credentials`);
  if (u.port === '') throw new TypeError(`peer URL ${url}: needs a port`);
  return u.host;
}

/**
 * The outbound half of one peer, as etcd's rafthttp `peer`: a bounded queue, one long-lived
 * stream that every flush writes ONE frame to, redials with backoff, and snapshot sends
 * on a connection of their own (so a large snapshot never sits in front of heartbeats).
 * The stream is the raw one (`raw-stream.ts`), but to https URLs without raw TLS options and to
 * a peer that answered the raw hello with HTTP/2 (an older build): the gRPC `Stream` call there.
 */
export class RemotePeer {
  readonly stats: PeerStats = emptyPeerStats();
  private urls: string[];
  private urlIndex = 0;
  private client: Client | undefined;
  private call: OutboundCall | undefined;
  /** Headroom the current call's frames need (the raw stream's length prefix). */
  private callPrefix = 0;
  /** False after a peer closed the raw hello unanswered, until a gRPC stream to it is lost. */
  private useRaw = true;
  private state: State = 'connecting';
  private everActive = false;
  private blocked = false;
  /** Bytes written to the call whose write callback has not fired: buffered in grpc-js/HTTP/2. */
  private inflightBytes = 0;
  private queue: Uint8Array[] = [];
  private head = 0;
  private flushScheduled = false;
  private droppedSinceFlush = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private readonly snapshots = new Set<{ cancel(): void }>();

  constructor(
    readonly id: bigint,
    urls: readonly string[],
    private readonly cfg: RemoteConfig,
  ) {
    this.urls = RemotePeer.checkUrls(urls, cfg);
    this.backoff = new Backoff(cfg.backoffInitialMs, cfg.backoffMaxMs, cfg.random);
    this.connect();
  }

  private static checkUrls(urls: readonly string[], cfg: RemoteConfig): string[] {
    if (urls.length === 0) throw new TypeError('peer: at least one URL');
    for (const u of urls) peerUrlTarget(u, cfg.credentials !== undefined);
    return [...urls];
  }

  /** Queue `msg`; false when the queue is full and the message was dropped. */
  send(msg: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    const queued = this.queue.length - this.head;
    if (queued >= this.cfg.maxQueuedMessages || this.stats.queuedBytes + msg.byteLength > this.cfg.maxQueuedBytes) {
      this.stats.drops++;
      this.droppedSinceFlush = true;
      this.scheduleFlush();
      return false;
    }
    this.queue.push(msg);
    this.stats.queuedMessages++;
    this.stats.queuedBytes += msg.byteLength;
    this.scheduleFlush();
    return true;
  }

  /** New URLs: redial at once when they differ, keeping the queue. */
  updateUrls(urls: readonly string[]): void {
    const next = RemotePeer.checkUrls(urls, this.cfg);
    if (next.length === this.urls.length && next.every((u, i) => u === this.urls[i])) return;
    this.urls = next;
    this.urlIndex = 0;
    if (this.state === 'closed') return;
    this.dropCall();
    this.closeClient();
    this.backoff.reset();
    this.connect();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stats.active = false;
    clearTimeout(this.timer);
    const call = this.call;
    this.call = undefined;
    if (call !== undefined) call.end();
    for (const s of this.snapshots) s.cancel();
    this.snapshots.clear();
    this.closeClient();
    this.queue = [];
    this.head = 0;
    this.stats.queuedMessages = 0;
    this.stats.queuedBytes = 0;
  }

  // Coalescing: the flush runs once per event-loop turn (setImmediate), so everything sent to
  // this peer in one turn leaves as one frame. Unreachable is reported from here too, once per
  // turn, never from inside send(): the caller may be iterating raft's Ready when it sends.
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
      if (this.droppedSinceFlush) {
        this.droppedSinceFlush = false;
        if (this.state !== 'closed') this.reportUnreachable();
      }
    });
  }

  private reportUnreachable(): void {
    try {
      this.cfg.onUnreachable(this.id);
    } catch (err) {
      this.cfg.logger.error('peer onUnreachable threw', { 'remote-peer-id': idToHex(this.id), error: err });
    }
  }

  private flush(): void {
    const call = this.call;
    if (this.state !== 'active' || call === undefined) return;
    while (!this.blocked && this.head < this.queue.length) {
      const start = this.head;
      let bytes = 0;
      let end = start;
      while (end < this.queue.length && end - start < this.cfg.maxMessagesPerFrame) {
        const len = this.queue[end]!.byteLength;
        if (end > start && frameBytes(bytes + len, end - start + 1) > this.cfg.maxFrameBytes) break;
        bytes += len;
        end++;
      }
      const frame = encodeFrame(this.queue.slice(start, end), this.callPrefix);
      this.head = end;
      this.stats.queuedMessages -= end - start;
      this.stats.queuedBytes -= bytes;
      this.stats.sentMessages += end - start;
      this.stats.sentBytes += bytes;
      this.stats.sentBatches++;
      this.inflightBytes += frame.byteLength;
      const size = frame.byteLength;
      const more = call.write(frame, () => {
        if (this.call !== call) return;
        this.inflightBytes -= size;
        this.unblock(call);
      });
      // grpc-js buffers up to 16 frames before write() says false, and a frame may be many MiB:
      // bound the bytes buffered below us too, not just our queue.
      if (!more || this.inflightBytes >= this.cfg.maxInflightBytes) {
        this.blocked = true;
        if (!more) call.once('drain', () => this.unblock(call));
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private unblock(call: OutboundCall): void {
    if (this.call !== call || !this.blocked || call.writableNeedDrain || this.inflightBytes >= this.cfg.maxInflightBytes) return;
    this.blocked = false;
    this.flush();
  }

  private makeClient(url: string): Client {
    const target = peerUrlTarget(url, this.cfg.credentials !== undefined);
    // TLS for https URLs only: a member may list http and https URLs (as etcd's transport does).
    const secure = new URL(url).protocol === 'https:';
    const tls = this.cfg.credentials;
    const creds = !secure ? grpcCredentials.createInsecure() : typeof tls === 'function' ? tls() : tls!;
    return new Client(target, creds, this.cfg.channelOptions);
  }

  private closeClient(): void {
    this.client?.close();
    this.client = undefined;
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const url = new URL(this.urls[this.urlIndex % this.urls.length]!);
    if (this.useRaw && (url.protocol === 'http:' || this.cfg.rawTls !== undefined)) this.connectRaw(url);
    else this.connectGrpc();
  }

  private connectRaw(url: URL): void {
    const stream: RawOutboundStream = new RawOutboundStream(
      url.hostname.replace(/^\[|\]$/g, ''), Number(url.port),
      encodeHello(this.cfg.clusterId, this.cfg.selfId, this.id),
      this.cfg.keepaliveTimeMs, this.cfg.keepaliveTimeoutMs,
      url.protocol === 'https:' ? this.cfg.rawTls!() : undefined,
      {
        onAccepted: () => {
          if (this.call === stream) this.up();
        },
        onFailed: (code, details, legacy) => this.failed(stream, { code, details }, legacy),
      },
    );
    this.call = stream;
    this.callPrefix = RAW_PREFIX_BYTES;
    this.timer = setTimeout(() => this.failed(stream, { code: status.DEADLINE_EXCEEDED, details: 'dial timeout' }), this.cfg.dialTimeoutMs);
    this.timer.unref();
  }

  /** The stream was accepted: send what waited. */
  private up(): void {
    clearTimeout(this.timer);
    this.state = 'active';
    this.stats.active = true;
    if (this.everActive) this.stats.reconnects++;
    this.everActive = true;
    this.backoff.reset();
    this.cfg.logger.info('peer stream established', { 'remote-peer-id': idToHex(this.id), stream: this.callPrefix !== 0 ? 'raw' : 'grpc' });
    this.flush();
  }

  private connectGrpc(): void {
    this.client ??= this.makeClient(this.urls[this.urlIndex % this.urls.length]!);
    const call = this.client.makeBidiStreamRequest(
      STREAM_PATH,
      identity,
      identity,
      peerMetadata(this.cfg.clusterId, this.cfg.selfId, this.id),
    );
    this.call = call;
    this.callPrefix = 0;
    // A peer that never answers (blackholed address, stopped process) must not hold the
    // stream in 'connecting' forever: give up after the dial timeout and redial.
    this.timer = setTimeout(() => this.failed(call, { code: status.DEADLINE_EXCEEDED, details: 'dial timeout' }), this.cfg.dialTimeoutMs);
    this.timer.unref();
    // The receiver answers headers only after it accepted us: that is "the stream is up".
    call.on('metadata', () => {
      if (this.call === call) this.up();
    });
    call.on('data', noop);
    call.on('error', (err: ServiceError) => this.failed(call, err));
    call.on('status', (s: StatusObject) => this.failed(call, s));
  }

  private dropCall(): void {
    const call = this.call;
    this.call = undefined;
    clearTimeout(this.timer);
    this.blocked = false;
    this.inflightBytes = 0;
    this.stats.active = false;
    call?.cancel();
  }

  private failed(call: OutboundCall, s: { code: number; details: string }, legacy = false): void {
    if (this.call !== call || this.state === 'closed') return;
    const wasActive = this.state === 'active';
    const wasRaw = this.callPrefix !== 0;
    this.dropCall();
    if (legacy) {
      // It took the connection and closed it at our hello: it speaks only gRPC. Not a failure.
      this.useRaw = false;
      this.cfg.logger.info('peer serves no raw stream; using the gRPC stream', { 'remote-peer-id': idToHex(this.id) });
      this.connect();
      return;
    }
    // It may have been upgraded since: the next stream tries the raw one again.
    if (wasActive && !wasRaw) this.useRaw = true;
    this.stats.streamFailures++;
    const fields = { 'remote-peer-id': idToHex(this.id), code: s.code, details: s.details };
    if (wasActive) this.cfg.logger.warn('peer stream lost', fields);
    else this.cfg.logger.debug('peer stream dial failed', fields);
    // Frames written to a lost stream may be lost with it: tell raft, which retries.
    this.reportUnreachable();
    if ((this.state as State) === 'closed') return; // onUnreachable may have removed the peer
    if (!wasActive && this.urls.length > 1) {
      this.urlIndex++;
      this.closeClient();
    }
    // Another cluster's member (or a member that does not know us) will not change its mind
    // soon: wait the longest backoff rather than hammer it.
    const delay = s.code === status.FAILED_PRECONDITION ? this.backoff.max() : this.backoff.next();
    if (s.code === status.FAILED_PRECONDITION) this.cfg.logger.error('peer refused the stream', fields);
    if (s.code === status.FAILED_PRECONDITION && s.details === ERR_MEMBER_REMOVED) setImmediate(() => this.cfg.onRemoved());
    this.state = 'backoff';
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }

  /** Streams one snapshot on a connection of its own; see PeerTransport.sendSnapshot. */
  async sendSnapshot(metadata: Uint8Array, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    if (this.state === 'closed') return false;
    const client = this.makeClient(this.urls[this.urlIndex % this.urls.length]!);
    let settle!: (ok: boolean) => void;
    const answered = new Promise<boolean>((resolve) => (settle = resolve));
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      SNAPSHOT_PATH,
      identity,
      identity,
      peerMetadata(this.cfg.clusterId, this.cfg.selfId, this.id),
      (err, res) => {
        if (err) this.cfg.logger.warn('peer snapshot send failed', { 'remote-peer-id': idToHex(this.id), code: err.code, details: err.details });
        settle(!err && res !== undefined && res.byteLength === 1 && res[0] === SNAPSHOT_OK);
      },
    );
    const handle = { cancel: () => call.cancel() };
    this.snapshots.add(handle);
    let done = false;
    void answered.then(() => (done = true));
    const ac = new AbortController();
    void answered.then(() => ac.abort());
    // Backpressure: wait while grpc-js says its buffer is full (write() false → 'drain') or
    // more than maxInflightBytes are written but not yet taken by HTTP/2.
    let inflight = 0;
    let progress: (() => void) | undefined;
    void answered.then(() => progress?.());
    const write = async (chunk: Buffer): Promise<void> => {
      inflight += chunk.byteLength;
      const more = call.write(chunk, () => {
        inflight -= chunk.byteLength;
        progress?.();
      });
      if (!more && !done) {
        try {
          await once(call, 'drain', { signal: ac.signal });
        } catch {
          // aborted: the call already ended; the loop below stops at `done`.
        }
      }
      while (inflight >= this.cfg.maxInflightBytes && !done) await new Promise<void>((r) => (progress = r));
      progress = undefined;
    };
    try {
      if (metadata.byteLength > this.cfg.maxFrameBytes) throw new RangeError(`snapshot metadata of ${metadata.byteLength} bytes exceeds maxFrameBytes`);
      await write(encodeSnapshotChunk(SnapshotChunkKind.Metadata, metadata));
      let total = 0;
      let crc = 0;
      const step = this.cfg.snapshotChunkBytes;
      outer: for await (const piece of data) {
        for (let off = 0; off < piece.byteLength; off += step) {
          if (done) break outer;
          const body = piece.subarray(off, Math.min(piece.byteLength, off + step));
          crc = updateCrc(crc, body);
          total += body.byteLength;
          await write(encodeSnapshotChunk(SnapshotChunkKind.Data, body));
        }
      }
      if (!done) {
        await write(encodeSnapshotEnd(total, crc));
        call.end();
      }
    } catch (err) {
      this.cfg.logger.warn('peer snapshot source failed', { 'remote-peer-id': idToHex(this.id), error: err });
      call.cancel();
    }
    const ok = await answered;
    this.snapshots.delete(handle);
    client.close();
    if (ok) this.stats.snapshotsSent++;
    else this.stats.snapshotsFailed++;
    return ok;
  }
}
