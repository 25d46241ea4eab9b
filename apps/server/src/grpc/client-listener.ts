import net from 'node:net';
import { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { encodeHeaderBlock, HeaderBlockDecoder, HeaderListTooLargeError, type HeaderField } from '../front-door/header-block.js';

/** What listenForClients started; see there. */
export interface ClientListener {
  /** One per URL, in order: `host:port` with the bound port, or `unix:path`. */
  readonly endpoints: string[];
  /**
   * Stops listening (new connections are refused once it resolves), drops connections still
   * being inspected and destroys the rewriting relays. Sessions injected as they are stay
   * with the gRPC server: its tryShutdown / forceShutdown ends them.
   */
  close(): Promise<void>;
  /** Work counters since start, over every connection: what tests bound. */
  readonly stats: ListenerStats;
}

/** What the listener did with client bytes before handing them on. */
export interface ListenerStats {
  /** Bytes read from client sockets while inspecting or relaying (not after an as-is hand-over). */
  bytesReceived: number;
  /** Reads (socket chunks) those bytes came in. */
  chunksReceived: number;
  /** Bytes copied to reassemble frames, hand over and forward them: linear in bytesReceived. */
  bytesCopied: number;
}

const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const FRAME_HEADERS = 0x1;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** RFC 9113's smallest SETTINGS_MAX_FRAME_SIZE: frames this size fit every server. */
const MAX_OUT_FRAME_BYTES = 16_384;

/** Bytes buffered while looking for the first HEADERS block before handing the socket over as is. */
const MAX_INSPECT_BYTES = 64 * 1024;
/** A client that opens a connection and idles gets handed over as is after this long. */
const INSPECT_TIMEOUT_MS = 10_000;
/**
 * Largest frame payload accepted from a client: the SETTINGS_MAX_FRAME_SIZE in force, as the
 * listener's SETTINGS and the gRPC server's (Node's HTTP/2) both leave it at its default.
 */
const MAX_IN_FRAME_BYTES = 16_384;
/** Largest header block (HEADERS + CONTINUATIONs) the relay accumulates; nghttp2's default is 64 KiB too. */
const MAX_HEADER_BLOCK_BYTES = 64 * 1024;
/**
 * Most CONTINUATION frames one header block may use. A 64 KiB block needs 4 at 16 KiB each;
 * empty ones cost the sender 9 bytes and the receiver a frame's work, unbounded otherwise.
 */
const MAX_CONTINUATION_FRAMES = 16;
/**
 * Most a header block may decode to, counted as SETTINGS_MAX_HEADER_LIST_SIZE is (name +
 * value + 32 per field). Neither SETTINGS advertises one, but Node's HTTP/2 server behind the
 * listener refuses larger lists (its default maxHeaderListSize), so no request it would serve
 * is lost; without a cap 1-byte indexed references expand to megabytes per block.
 */
const MAX_HEADER_LIST_BYTES = 65_535;
/** After refusing a connection, how long its GOAWAY may wait for the server's frame in flight. */
const REFUSE_GRACE_MS = 2_000;

/** RFC 9113 §7 error codes the listener sends in GOAWAY. */
const PROTOCOL_ERROR = 0x1;
const FRAME_SIZE_ERROR = 0x6;
const COMPRESSION_ERROR = 0x9;
const ENHANCE_YOUR_CALM = 0xb;
const FRAME_GOAWAY = 0x7;

/**
 * Listens on every client URL and hands the connections to `server`, like
 * `server.bindAsync` per URL, except that it also serves etcd's Go clients that send the
 * whole endpoint URL as the HTTP/2 `:authority` (`http://127.0.0.1:2379`: etcdctl 3.4's
 * `endpoint status`, `hashkv`, `move-leader`, `defrag`, `snapshot save`, `--cluster`).
 * Node's HTTP/2 stack refuses such a stream with PROTOCOL_ERROR; Go's gRPC server accepts it.
 *
 * Each connection's first header block is decoded: when its `:authority` has no `://`
 * (every other client) the buffered bytes are put back and the socket itself is injected
 * into the gRPC server, so no JavaScript sits in the data path. Otherwise the connection
 * goes through a relay that rewrites `:authority` to its `host:port` part in every client
 * header block and passes all other bytes unchanged. Connections that are not HTTP/2, that
 * are malformed, that idle for 10 s or whose first 64 KiB hold no complete header block are
 * injected as they are (the gRPC server then refuses what it cannot parse).
 *
 * gRPC clients send no request before the server's SETTINGS, so the listener sends an empty
 * SETTINGS frame itself at accept and removes the client's ACK of it before the hand-over
 * (a client that sends no ACK within the limits above may then see its connection refused
 * for an unexpected ACK: no known client does that).
 *
 * Addresses: `http://host:port` listens on that host and port (port 0 picks a free one;
 * `localhost` binds the first address it resolves to, unlike bindAsync which binds all),
 * `unix:path` / `unix://path` on a Unix socket. The gRPC server's `tryShutdown` and
 * `forceShutdown` end the injected sessions; call `close()` as well to stop listening.
 *
 * TLS is not supported yet: `credentials` must be insecure, and `https:` / `unixs:` URLs
 * are rejected.
 *
 * @throws Error for a TLS or unknown URL scheme; the listen error (EADDRINUSE...) when a
 *   URL cannot be bound, after closing the listeners already opened.
 */
export async function listenForClients(server: grpc.Server, urls: readonly URL[], credentials: grpc.ServerCredentials): Promise<ClientListener> {
  if (credentials._isSecure()) throw new Error('client listener: TLS credentials are not supported yet');
  for (const url of urls) {
    if (url.protocol !== 'http:' && url.protocol !== 'unix:') {
      throw new Error(`client listener: ${url.href}: only http:// and unix: client URLs are supported`);
    }
  }
  const injector = server.createConnectionInjector(credentials);
  const pending = new Set<net.Socket>();
  const relays = new Set<ClientRelay>();
  const listeners: net.Server[] = [];
  const endpoints: string[] = [];
  const stats: ListenerStats = { bytesReceived: 0, chunksReceived: 0, bytesCopied: 0 };

  const onConnection = (socket: net.Socket): void => {
    pending.add(socket);
    inspectFirstHeaders(socket, stats, (verdict, buffered) => {
      pending.delete(socket);
      if (socket.destroyed) return;
      if (verdict === 'rewrite') {
        const relay = new ClientRelay(socket, buffered, stats, () => relays.delete(relay));
        relays.add(relay);
        injector.injectConnection(relay.serverSide);
      } else {
        if (buffered.length > 0) socket.unshift(buffered);
        injector.injectConnection(socket);
      }
    });
  };

  const close = async (): Promise<void> => {
    // net.Server#close calls back only once every accepted connection has ended, and the
    // injected ones belong to the gRPC server's sessions: stop listening without waiting.
    for (const l of listeners) if (l.listening) l.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const s of pending) s.destroy();
    pending.clear();
    for (const r of relays) r.destroy();
    relays.clear();
  };

  try {
    for (const url of urls) {
      const listener = net.createServer({ noDelay: true }, onConnection);
      listener.on('error', () => { /* only listen errors, reported by listen() below */ });
      listeners.push(listener);
      if (url.protocol === 'unix:') {
        const path = `${url.host}${url.pathname}`;
        await listen(listener, { path });
        endpoints.push(`unix:${path}`);
      } else {
        const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
        const port = url.port === '' ? 80 : Number(url.port);
        await listen(listener, { host, port });
        const bound = listener.address() as net.AddressInfo;
        endpoints.push(`${url.hostname}:${bound.port}`);
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { endpoints, close, stats };
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

type Verdict = 'as-is' | 'rewrite';

/** An HTTP/2 frame header (RFC 9113 §4.1). */
interface FrameHeader { length: number; type: number; flags: number; stream: number }

/**
 * Cuts a byte stream into HTTP/2 frames in time linear in the bytes received, however the
 * stream is chunked: chunks are queued, never concatenated as a whole, and a frame's bytes are
 * copied at most once (only when the frame spans chunks). Copies are counted in `stats`.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Index of the first chunk still holding unread bytes, and the bytes of it already read. */
  private first = 0;
  private offset = 0;
  /** Bytes queued and not yet taken. */
  length = 0;
  private readonly scratch = Buffer.alloc(FRAME_HEADER_BYTES);
  /** The next frame's header once parsed: a frame arriving in many chunks is parsed once. */
  private head: FrameHeader | undefined;

  constructor(private readonly stats: { bytesCopied: number } = { bytesCopied: 0 }) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The next frame's header, not consumed; undefined while fewer than 9 bytes are queued. */
  peekHeader(): FrameHeader | undefined {
    if (this.head !== undefined) return this.head;
    if (this.length < FRAME_HEADER_BYTES) return undefined;
    const b = this.peek(FRAME_HEADER_BYTES);
    this.head = { length: b.readUIntBE(0, 3), type: b[3]!, flags: b[4]!, stream: b.readUInt32BE(5) & 0x7fff_ffff };
    return this.head;
  }

  /** The first `n` bytes (n ≤ length), not consumed; a copy into scratch space when they span chunks. */
  peek(n: number): Buffer {
    const head = this.chunks[this.first]!;
    if (head.length - this.offset >= n) return head.subarray(this.offset, this.offset + n);
    const out = n <= this.scratch.length ? this.scratch.subarray(0, n) : Buffer.allocUnsafe(n);
    this.copyInto(out, false);
    return out;
  }

  /** Removes and returns the first `n` bytes (n ≤ length). */
  take(n: number): Buffer {
    this.head = undefined;
    const head = this.chunks[this.first]!;
    let out: Buffer;
    if (head.length - this.offset >= n) {
      out = head.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === head.length) this.advance();
    } else {
      out = Buffer.allocUnsafe(n);
      this.copyInto(out, true);
    }
    this.length -= n;
    return out;
  }

  /** Copies the first out.length bytes into `out`, consuming them when `consume`. */
  private copyInto(out: Buffer, consume: boolean): void {
    let at = 0;
    let index = this.first;
    let offset = this.offset;
    while (at < out.length) {
      const chunk = this.chunks[index]!;
      const n = Math.min(out.length - at, chunk.length - offset);
      chunk.copy(out, at, offset, offset + n);
      at += n;
      offset += n;
      if (offset === chunk.length) { index++; offset = 0; }
    }
    this.stats.bytesCopied += out.length;
    if (!consume) return;
    this.first = index;
    this.offset = offset;
    this.compact();
  }

  /** The first chunk is used up. */
  private advance(): void {
    this.first++;
    this.offset = 0;
    this.compact();
  }

  /** Drops used-up chunks once they are half the array: amortised O(1), and nothing stays pinned. */
  private compact(): void {
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first >= 64 && 2 * this.first >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

/**
 * Reads the start of a connection until its first complete header block, then reports
 * whether the connection needs the relay, with every byte read so far (the caller puts them
 * back or replays them). Reports 'as-is' on anything unexpected, so the gRPC server decides
 * (it refuses an oversized frame with GOAWAY FRAME_SIZE_ERROR, and so on).
 *
 * gRPC clients (Go's and grpc-js) send no request before the server's SETTINGS, and the
 * server's HTTP/2 session only exists after the hand-over: so this sends an empty SETTINGS
 * frame itself (all defaults, which changes nothing for the client), waits for the client's
 * ACK of it as well and removes that ACK from the bytes handed over; the session then sends
 * its own SETTINGS and receives the ACK it expects.
 */
function inspectFirstHeaders(socket: net.Socket, stats: ListenerStats, done: (verdict: Verdict, buffered: Buffer) => void): void {
  const scan = new ConnectionStartScan(stats);
  let finished = false;
  const finish = (verdict: Verdict): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    done(verdict, scan.handOver());
  };
  const onData = (chunk: Buffer): void => {
    stats.bytesReceived += chunk.length;
    stats.chunksReceived++;
    const verdict = scan.push(chunk);
    if (verdict !== undefined) finish(verdict);
    else if (scan.bytes >= MAX_INSPECT_BYTES) finish('as-is');
  };
  const onClose = (): void => finish('as-is');
  // Errors before the hand-over end the socket ('close' follows); afterwards the HTTP/2
  // session installs its own handler, this one only keeps a late error from being unhandled.
  socket.on('error', () => {});
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.write(EMPTY_SETTINGS);
  const timer = setTimeout(() => finish('as-is'), INSPECT_TIMEOUT_MS);
  timer.unref();
}

const FRAME_SETTINGS = 0x4;
const FLAG_ACK = 0x1;
/** A server's SETTINGS frame that changes nothing: no parameters. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);

/**
 * The inspection's parse of a connection's first bytes, fed chunk by chunk: each frame is
 * looked at once, when it is complete. `push` returns the verdict once the first header
 * block is complete and the client's ACK of the listener's SETTINGS was seen, 'as-is' at
 * once on anything unexpected, undefined while it needs more bytes.
 */
class ConnectionStartScan {
  /** Every byte read, for the hand-over. */
  private readonly raw: Buffer[] = [];
  bytes = 0;
  private readonly reader: FrameReader;
  /** Stream offset of the next unparsed frame. */
  private at = CLIENT_PREFACE.length;
  private prefaceChecked = false;
  private headersStream = -1;
  private readonly fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private continuations = 0;
  private verdict: Verdict | undefined;
  /** Stream offset of the client's first SETTINGS ACK, -1 before. */
  private ackAt = -1;

  constructor(private readonly stats: ListenerStats) {
    this.reader = new FrameReader(stats);
  }

  push(chunk: Buffer): Verdict | undefined {
    this.raw.push(chunk);
    this.bytes += chunk.length;
    this.reader.push(chunk);
    if (!this.prefaceChecked) {
      if (this.reader.length === 0) return undefined;
      const n = Math.min(this.reader.length, CLIENT_PREFACE.length);
      if (!this.reader.peek(n).equals(CLIENT_PREFACE.subarray(0, n))) return 'as-is';
      if (n < CLIENT_PREFACE.length) return undefined;
      this.reader.take(CLIENT_PREFACE.length);
      this.prefaceChecked = true;
    }
    for (;;) {
      if (this.verdict !== undefined && this.ackAt >= 0) return this.verdict;
      const head = this.reader.peekHeader();
      if (head === undefined) return undefined;
      // Oversized: the gRPC server refuses it with FRAME_SIZE_ERROR, before its payload arrives.
      if (head.length > MAX_IN_FRAME_BYTES) return 'as-is';
      if (this.reader.length < FRAME_HEADER_BYTES + head.length) return undefined;
      const frameAt = this.at;
      const payload = this.reader.take(FRAME_HEADER_BYTES + head.length).subarray(FRAME_HEADER_BYTES);
      this.at += FRAME_HEADER_BYTES + head.length;
      if (this.frame(head, payload, frameAt) === 'as-is') return 'as-is';
    }
  }

  private frame(head: FrameHeader, payload: Buffer, frameAt: number): 'as-is' | undefined {
    const { type, flags, stream } = head;
    if (type === FRAME_SETTINGS && (flags & FLAG_ACK) !== 0 && this.ackAt < 0) {
      if (head.length !== 0 || this.headersStream !== -1 && this.verdict === undefined) return 'as-is';
      this.ackAt = frameAt;
      return undefined;
    }
    if (this.verdict !== undefined) return undefined;
    if (this.headersStream === -1) {
      if (type !== FRAME_HEADERS) return undefined; // SETTINGS, WINDOW_UPDATE, PING... before the first request
      const fragment = headerFragment(payload, flags);
      if (fragment === undefined) return 'as-is';
      this.fragments.push(fragment);
      this.fragmentBytes += fragment.length;
      this.headersStream = stream;
    } else {
      if (type !== FRAME_CONTINUATION || stream !== this.headersStream) return 'as-is';
      if (++this.continuations > MAX_CONTINUATION_FRAMES) return 'as-is';
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
    }
    if (this.fragmentBytes > MAX_HEADER_BLOCK_BYTES) return 'as-is';
    if ((flags & FLAG_END_HEADERS) === 0) return undefined;
    let fields: HeaderField[];
    try {
      this.stats.bytesCopied += this.fragmentBytes;
      fields = new HeaderBlockDecoder(undefined, MAX_HEADER_LIST_BYTES).decode(Buffer.concat(this.fragments));
    } catch {
      return 'as-is';
    }
    const authority = fields.find((f) => f.name === ':authority');
    this.verdict = authority !== undefined && authority.value.includes('://') ? 'rewrite' : 'as-is';
    return undefined;
  }

  /** Every byte read, in one copy, without the client's ACK of the listener's SETTINGS when seen. */
  handOver(): Buffer {
    if (this.ackAt < 0 && this.raw.length === 1) return this.raw[0]!;
    const skipFrom = this.ackAt < 0 ? this.bytes : this.ackAt;
    const skipTo = this.ackAt < 0 ? this.bytes : this.ackAt + FRAME_HEADER_BYTES;
    const out = Buffer.allocUnsafe(this.bytes - (skipTo - skipFrom));
    let at = 0; // offset in the stream
    let written = 0;
    for (const chunk of this.raw) {
      const end = at + chunk.length;
      // The parts of [at, end) outside [skipFrom, skipTo).
      if (at < skipFrom) written += chunk.copy(out, written, 0, Math.min(end, skipFrom) - at);
      if (end > skipTo) written += chunk.copy(out, written, Math.max(skipTo - at, 0));
      at = end;
    }
    this.stats.bytesCopied += written;
    return out;
  }
}

/** The header block fragment of a HEADERS payload: padding and priority fields removed. undefined if malformed. */
function headerFragment(payload: Buffer, flags: number): Buffer | undefined {
  let start = 0;
  let end = payload.length;
  if (flags & FLAG_PADDED) {
    if (payload.length < 1) return undefined;
    end -= payload[0]!;
    start = 1;
  }
  if (flags & FLAG_PRIORITY) start += 5;
  return start <= end ? payload.subarray(start, end) : undefined;
}

/** `http://127.0.0.1:2379` → `127.0.0.1:2379`; what Go's gRPC would have sent for a `host:port` target. */
export function authorityOfUrl(value: string): string {
  const afterScheme = value.slice(value.indexOf('://') + 3);
  const slash = afterScheme.search(/[/?#]/);
  const hostPort = slash === -1 ? afterScheme : afterScheme.slice(0, slash);
  const at = hostPort.lastIndexOf('@');
  return at === -1 ? hostPort : hostPort.slice(at + 1);
}

/** A client frame the relay refuses: the connection ends with GOAWAY carrying `code`. */
class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/**
 * Tracks frame boundaries in the server → client bytes, which pass in arbitrary chunks, so
 * the relay can put its own GOAWAY between two frames.
 */
class FrameBoundary {
  private readonly head = Buffer.alloc(FRAME_HEADER_BYTES);
  private headBytes = 0;
  private payloadLeft = 0;

  get atBoundary(): boolean {
    return this.headBytes === 0 && this.payloadLeft === 0;
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - at);
        this.payloadLeft -= n;
        at += n;
        continue;
      }
      const n = Math.min(FRAME_HEADER_BYTES - this.headBytes, chunk.length - at);
      chunk.copy(this.head, this.headBytes, at, at + n);
      this.headBytes += n;
      at += n;
      if (this.headBytes === FRAME_HEADER_BYTES) {
        this.payloadLeft = this.head.readUIntBE(0, 3);
        this.headBytes = 0;
      }
    }
  }
}

function goawayFrame(lastStream: number, code: number, debug: string): Buffer {
  const text = Buffer.from(debug, 'latin1');
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + 8 + text.length);
  frame.writeUIntBE(8 + text.length, 0, 3);
  frame[3] = FRAME_GOAWAY;
  frame.writeUInt32BE(lastStream & 0x7fff_ffff, FRAME_HEADER_BYTES);
  frame.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  text.copy(frame, FRAME_HEADER_BYTES + 8);
  return frame;
}

/**
 * Sits between a client socket whose `:authority` is a URL and the gRPC server. Client →
 * server: frames are parsed; each header block (HEADERS + CONTINUATIONs) is decoded with
 * the connection's HPACK state, `:authority` is rewritten, and the block is re-encoded with
 * literals that never touch the server's dynamic table, then re-framed (padding dropped,
 * priority kept, END_STREAM kept). Every other frame passes unchanged. Server → client:
 * bytes pass unchanged (the client's decoder stays in sync with the server's encoder).
 *
 * Limits: a frame over MAX_IN_FRAME_BYTES ends the connection with GOAWAY FRAME_SIZE_ERROR
 * as soon as its header arrives; a header block over MAX_HEADER_BLOCK_BYTES or with more than
 * MAX_CONTINUATION_FRAMES CONTINUATIONs with ENHANCE_YOUR_CALM; malformed HPACK with
 * COMPRESSION_ERROR, frames out of order with PROTOCOL_ERROR (after such a block the HPACK
 * contexts cannot be trusted). The GOAWAY is sent between two of the server's frames, then
 * both sides are closed. A block that decodes to more than MAX_HEADER_LIST_BYTES only costs
 * its stream: the server is handed an empty block for it and resets it.
 */
class ClientRelay {
  /** The end injected into the gRPC server. */
  readonly serverSide: Duplex;
  private readonly decoder = new HeaderBlockDecoder(undefined, MAX_HEADER_LIST_BYTES);
  private readonly reader: FrameReader;
  private readonly outbound = new FrameBoundary();
  private prefaceDone = false;
  /** The open header block: its stream, HEADERS flags and priority fields, fragments so far. */
  private block: { stream: number; flags: number; priority: Buffer | undefined; fragments: Buffer[]; bytes: number; continuations: number } | undefined;
  /** Highest stream whose HEADERS reached the server: GOAWAY's last-stream-id. */
  private lastStream = 0;
  /** Set once a client frame is refused: the GOAWAY waits for a server frame boundary. */
  private refusal: ConnectionError | undefined;
  private goawaySent = false;
  private destroyed = false;

  constructor(private readonly client: net.Socket, replay: Buffer, private readonly stats: ListenerStats, private readonly onGone: () => void) {
    this.reader = new FrameReader(stats);
    this.serverSide = new Duplex({
      read: () => { if (!this.client.destroyed && this.refusal === undefined) this.client.resume(); },
      write: (chunk: Buffer, _enc, cb) => {
        if (this.client.destroyed || this.goawaySent) { cb(); return; }
        this.outbound.feed(chunk);
        const more = this.client.write(chunk);
        this.sendGoawayAtBoundary();
        if (more) cb();
        else this.client.once('drain', () => cb());
      },
      final: (cb) => { if (!this.goawaySent) this.client.end(); cb(); },
      destroy: (err, cb) => { this.destroy(); cb(err); },
    });
    // The HTTP/2 session reads these through session.socket (gRPC's getPeer, channelz).
    Object.defineProperties(this.serverSide, {
      remoteAddress: { get: () => client.remoteAddress },
      remotePort: { get: () => client.remotePort },
      remoteFamily: { get: () => client.remoteFamily },
      localAddress: { get: () => client.localAddress },
      localPort: { get: () => client.localPort },
    });
    const side = this.serverSide as Duplex & Record<string, unknown>;
    side['setTimeout'] = (ms: number, cb?: () => void) => { client.setTimeout(ms, cb); return side; };
    side['setNoDelay'] = (noDelay?: boolean) => { client.setNoDelay(noDelay); return side; };
    side['setKeepAlive'] = (enable?: boolean, delayMs?: number) => { client.setKeepAlive(enable, delayMs); return side; };

    client.on('data', (chunk: Buffer) => {
      stats.bytesReceived += chunk.length;
      stats.chunksReceived++;
      this.fromClient(chunk);
    });
    client.on('end', () => { if (!this.destroyed && this.refusal === undefined) this.serverSide.push(null); });
    client.on('close', () => this.destroy());
    if (replay.length > 0) this.fromClient(replay);
    if (this.refusal === undefined) client.resume();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.client.destroy();
    this.serverSide.destroy();
    this.onGone();
  }

  private fromClient(chunk: Buffer): void {
    if (this.destroyed || this.refusal !== undefined) return;
    this.reader.push(chunk);
    const out: Buffer[] = [];
    try {
      if (!this.prefaceDone) {
        if (this.reader.length < CLIENT_PREFACE.length) return;
        out.push(this.reader.take(CLIENT_PREFACE.length));
        this.prefaceDone = true;
      }
      for (let head = this.reader.peekHeader(); head !== undefined; head = this.reader.peekHeader()) {
        // Refused on its header: a 16 MiB frame is never buffered.
        if (head.length > MAX_IN_FRAME_BYTES) {
          throw new ConnectionError(FRAME_SIZE_ERROR, `frame of ${head.length} bytes, SETTINGS_MAX_FRAME_SIZE is ${MAX_IN_FRAME_BYTES}`);
        }
        if (this.reader.length < FRAME_HEADER_BYTES + head.length) break;
        const frame = this.reader.take(FRAME_HEADER_BYTES + head.length);
        if (head.type === FRAME_HEADERS || head.type === FRAME_CONTINUATION || this.block !== undefined) {
          out.push(...this.headerFrame(head, frame.subarray(FRAME_HEADER_BYTES)));
        } else {
          out.push(frame);
        }
      }
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      this.forward(out);
      this.refuse(err);
      return;
    }
    this.forward(out);
  }

  private forward(out: Buffer[]): void {
    if (out.length === 0) return;
    let bytes: Buffer;
    if (out.length === 1) {
      bytes = out[0]!;
    } else {
      bytes = Buffer.concat(out);
      this.stats.bytesCopied += bytes.length;
    }
    if (!this.serverSide.push(bytes)) this.client.pause();
  }

  /**
   * Stops reading the client, ends the server's side (its streams are cancelled) and sends
   * GOAWAY at the next server frame boundary; destroys everything if that takes too long.
   */
  private refuse(err: ConnectionError): void {
    this.refusal = err;
    this.client.pause();
    this.sendGoawayAtBoundary();
    setTimeout(() => this.destroy(), REFUSE_GRACE_MS).unref();
  }

  /** Sends the refusal's GOAWAY if the server is between frames; then the server's end sees EOF (what it writes after is dropped). */
  private sendGoawayAtBoundary(): void {
    if (this.refusal === undefined || this.goawaySent || !this.outbound.atBoundary || this.client.destroyed) return;
    this.goawaySent = true;
    this.client.end(goawayFrame(this.lastStream, this.refusal.code, this.refusal.message));
    this.serverSide.push(null);
  }

  /** Frames to send for one HEADERS/CONTINUATION frame (none until END_HEADERS). */
  private headerFrame(head: FrameHeader, payload: Buffer): Buffer[] {
    const { type, flags, stream } = head;
    if (this.block === undefined) {
      if (type !== FRAME_HEADERS) throw new ConnectionError(PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
      const fragment = headerFragment(payload, flags);
      if (fragment === undefined) throw new ConnectionError(PROTOCOL_ERROR, 'malformed HEADERS padding');
      const padding = flags & FLAG_PADDED ? 1 : 0;
      const priority = flags & FLAG_PRIORITY ? Buffer.from(payload.subarray(padding, padding + 5)) : undefined;
      this.block = { stream, flags, priority, fragments: [], bytes: 0, continuations: 0 };
      payload = fragment;
    } else if (type !== FRAME_CONTINUATION || stream !== this.block.stream) {
      throw new ConnectionError(PROTOCOL_ERROR, 'header block interrupted');
    } else if (++this.block.continuations > MAX_CONTINUATION_FRAMES) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, `header block of more than ${MAX_CONTINUATION_FRAMES} CONTINUATION frames`);
    }
    const block = this.block;
    block.bytes += payload.length;
    if (block.bytes > MAX_HEADER_BLOCK_BYTES) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK_BYTES} bytes`);
    }
    // A copy, so a fragment does not pin the whole chunk it came in.
    block.fragments.push(Buffer.from(payload));
    this.stats.bytesCopied += payload.length;
    if ((flags & FLAG_END_HEADERS) === 0) return [];
    this.block = undefined;
    let fields: HeaderField[];
    try {
      this.stats.bytesCopied += block.bytes;
      fields = this.decoder.decode(Buffer.concat(block.fragments));
    } catch (err) {
      if (!(err instanceof HeaderListTooLargeError)) throw new ConnectionError(COMPRESSION_ERROR, 'malformed header block');
      // Refused for this stream only, as the gRPC server refuses a large list on the fast path:
      // an empty block (no :method, no :path) makes it reset the stream, and the decoder is
      // still in sync for the next blocks.
      fields = [];
    }
    const rewritten = fields.map((f) =>
      f.name === ':authority' && f.value.includes('://') ? { ...f, value: authorityOfUrl(f.value) } : f);
    this.lastStream = Math.max(this.lastStream, block.stream);
    return frameHeaderBlock(block.stream, block.flags & FLAG_END_STREAM, block.priority, encodeHeaderBlock(rewritten));
  }
}

/** HEADERS then CONTINUATIONs, each payload within MAX_OUT_FRAME_BYTES. */
function frameHeaderBlock(stream: number, endStream: number, priority: Buffer | undefined, block: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  let first = true;
  do {
    const room = MAX_OUT_FRAME_BYTES - (first && priority ? priority.length : 0);
    const piece = block.subarray(at, at + room);
    at += piece.length;
    const last = at >= block.length;
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    const prio = first && priority ? priority : undefined;
    head.writeUIntBE(piece.length + (prio?.length ?? 0), 0, 3);
    head[3] = first ? FRAME_HEADERS : FRAME_CONTINUATION;
    head[4] = (first ? endStream | (prio ? FLAG_PRIORITY : 0) : 0) | (last ? FLAG_END_HEADERS : 0);
    head.writeUInt32BE(stream, 5);
    frames.push(head);
    if (prio) frames.push(prio);
    frames.push(piece);
    first = false;
  } while (at < block.length);
  return frames;
}
