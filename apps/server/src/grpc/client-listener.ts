import net from 'node:net';
import { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { encodeHeaderBlock, HeaderBlockDecoder, type HeaderField } from './hpack/header-block.js';

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
/** Largest header block (HEADERS + CONTINUATIONs) the relay accumulates; nghttp2's default is 64 KiB too. */
const MAX_HEADER_BLOCK_BYTES = 64 * 1024;
/** Largest frame payload the relay accepts from a client (RFC 9113's maximum SETTINGS_MAX_FRAME_SIZE). */
const MAX_IN_FRAME_BYTES = (1 << 24) - 1;

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

  const onConnection = (socket: net.Socket): void => {
    pending.add(socket);
    inspectFirstHeaders(socket, (verdict, buffered) => {
      pending.delete(socket);
      if (socket.destroyed) return;
      if (verdict === 'rewrite') {
        const relay = new ClientRelay(socket, buffered, () => relays.delete(relay));
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
  return { endpoints, close };
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

/**
 * Reads the start of a connection until its first complete header block, then reports
 * whether the connection needs the relay, with every byte read so far (the caller puts them
 * back or replays them). Reports 'as-is' on anything unexpected, so the gRPC server decides.
 *
 * gRPC clients (Go's and grpc-js) send no request before the server's SETTINGS, and the
 * server's HTTP/2 session only exists after the hand-over: so this sends an empty SETTINGS
 * frame itself (all defaults, which changes nothing for the client), waits for the client's
 * ACK of it as well and removes that ACK from the bytes handed over; the session then sends
 * its own SETTINGS and receives the ACK it expects.
 */
function inspectFirstHeaders(socket: net.Socket, done: (verdict: Verdict, buffered: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (verdict: Verdict, ackAt: number): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    const handed = ackAt < 0 ? buffered
      : Buffer.concat([buffered.subarray(0, ackAt), buffered.subarray(ackAt + FRAME_HEADER_BYTES)]);
    done(verdict, handed);
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const scan = scanConnectionStart(buffered);
    if (scan === 'as-is') finish('as-is', -1);
    else if (scan.verdict !== undefined && scan.ackAt >= 0) finish(scan.verdict, scan.ackAt);
    else if (buffered.length >= MAX_INSPECT_BYTES) finish('as-is', scan.ackAt);
  };
  const onClose = (): void => finish('as-is', -1);
  // Errors before the hand-over end the socket ('close' follows); afterwards the HTTP/2
  // session installs its own handler, this one only keeps a late error from being unhandled.
  socket.on('error', () => {});
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.write(EMPTY_SETTINGS);
  const timer = setTimeout(() => {
    const scan = buffered.length === 0 ? 'as-is' : scanConnectionStart(buffered);
    finish('as-is', scan === 'as-is' ? -1 : scan.ackAt);
  }, INSPECT_TIMEOUT_MS);
  timer.unref();
}

const FRAME_SETTINGS = 0x4;
const FLAG_ACK = 0x1;
/** A server's SETTINGS frame that changes nothing: no parameters. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);

/**
 * What the bytes read so far say: 'as-is' (not HTTP/2 as expected), or the verdict once the
 * first header block is complete (undefined before) and the offset of the client's first
 * SETTINGS ACK frame (-1 before).
 */
function scanConnectionStart(buf: Buffer): 'as-is' | { verdict: Verdict | undefined; ackAt: number } {
  const prefaceBytes = Math.min(buf.length, CLIENT_PREFACE.length);
  if (!buf.subarray(0, prefaceBytes).equals(CLIENT_PREFACE.subarray(0, prefaceBytes))) return 'as-is';
  let at = CLIENT_PREFACE.length;
  const fragments: Buffer[] = [];
  let headersStream = -1;
  let ackAt = -1;
  let verdict: Verdict | undefined;
  while (buf.length >= at + FRAME_HEADER_BYTES && (verdict === undefined || ackAt < 0)) {
    const length = buf.readUIntBE(at, 3);
    const type = buf[at + 3]!;
    const flags = buf[at + 4]!;
    const stream = buf.readUInt32BE(at + 5) & 0x7fff_ffff;
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > MAX_INSPECT_BYTES) return 'as-is';
    if (buf.length < end) break;
    const payload = buf.subarray(at + FRAME_HEADER_BYTES, end);
    const frameAt = at;
    at = end;
    if (type === FRAME_SETTINGS && (flags & FLAG_ACK) !== 0 && ackAt < 0) {
      if (length !== 0 || headersStream !== -1 && verdict === undefined) return 'as-is';
      ackAt = frameAt;
      continue;
    }
    if (verdict !== undefined) continue;
    if (headersStream === -1) {
      if (type !== FRAME_HEADERS) continue; // SETTINGS, WINDOW_UPDATE, PING... before the first request
      const fragment = headerFragment(payload, flags);
      if (fragment === undefined) return 'as-is';
      fragments.push(fragment);
      headersStream = stream;
    } else {
      if (type !== FRAME_CONTINUATION || stream !== headersStream) return 'as-is';
      fragments.push(payload);
    }
    if ((flags & FLAG_END_HEADERS) === 0) continue;
    let fields: HeaderField[];
    try {
      fields = new HeaderBlockDecoder().decode(Buffer.concat(fragments));
    } catch {
      return 'as-is';
    }
    const authority = fields.find((f) => f.name === ':authority');
    verdict = authority !== undefined && authority.value.includes('://') ? 'rewrite' : 'as-is';
  }
  return { verdict, ackAt };
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

/**
 * Sits between a client socket whose `:authority` is a URL and the gRPC server. Client →
 * server: frames are parsed; each header block (HEADERS + CONTINUATIONs) is decoded with
 * the connection's HPACK state, `:authority` is rewritten, and the block is re-encoded with
 * literals that never touch the server's dynamic table, then re-framed (padding dropped,
 * priority kept, END_STREAM kept). Every other frame passes unchanged. Server → client:
 * bytes pass unchanged (the client's decoder stays in sync with the server's encoder).
 * A malformed block or frame ends both sides: after it the contexts cannot be trusted.
 */
class ClientRelay {
  /** The end injected into the gRPC server. */
  readonly serverSide: Duplex;
  private readonly decoder = new HeaderBlockDecoder();
  private pending: Buffer = Buffer.alloc(0);
  private prefaceDone = false;
  /** The open header block: its stream, HEADERS flags and priority fields, fragments so far. */
  private block: { stream: number; flags: number; priority: Buffer | undefined; fragments: Buffer[]; bytes: number } | undefined;
  private destroyed = false;

  constructor(private readonly client: net.Socket, replay: Buffer, private readonly onGone: () => void) {
    this.serverSide = new Duplex({
      read: () => { if (!this.client.destroyed) this.client.resume(); },
      write: (chunk: Buffer, _enc, cb) => {
        if (this.client.destroyed) { cb(); return; }
        if (this.client.write(chunk)) cb();
        else this.client.once('drain', () => cb());
      },
      final: (cb) => { this.client.end(); cb(); },
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

    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => { if (!this.destroyed) this.serverSide.push(null); });
    client.on('close', () => this.destroy());
    if (replay.length > 0) this.fromClient(replay);
    client.resume();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.client.destroy();
    this.serverSide.destroy();
    this.onGone();
  }

  private fromClient(chunk: Buffer): void {
    if (this.destroyed) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    if (!this.prefaceDone) {
      if (this.pending.length < CLIENT_PREFACE.length) return;
      out.push(this.pending.subarray(0, CLIENT_PREFACE.length));
      at = CLIENT_PREFACE.length;
      this.prefaceDone = true;
    }
    while (this.pending.length >= at + FRAME_HEADER_BYTES) {
      const length = this.pending.readUIntBE(at, 3);
      if (length > MAX_IN_FRAME_BYTES) { this.destroy(); return; }
      const end = at + FRAME_HEADER_BYTES + length;
      if (this.pending.length < end) break;
      const type = this.pending[at + 3]!;
      const flags = this.pending[at + 4]!;
      const stream = this.pending.readUInt32BE(at + 5) & 0x7fff_ffff;
      const payload = this.pending.subarray(at + FRAME_HEADER_BYTES, end);
      if (type === FRAME_HEADERS || type === FRAME_CONTINUATION || this.block !== undefined) {
        const frames = this.headerFrame(type, flags, stream, payload);
        if (frames === undefined) { this.destroy(); return; }
        out.push(...frames);
      } else {
        out.push(this.pending.subarray(at, end));
      }
      at = end;
    }
    this.pending = this.pending.subarray(at);
    // Copy the leftover so a small partial frame does not pin a large read buffer.
    if (this.pending.length > 0 && at > 0) this.pending = Buffer.from(this.pending);
    if (out.length === 0) return;
    if (!this.serverSide.push(out.length === 1 ? out[0] : Buffer.concat(out))) this.client.pause();
  }

  /** Frames to send for one HEADERS/CONTINUATION frame (none until END_HEADERS); undefined = protocol violation. */
  private headerFrame(type: number, flags: number, stream: number, payload: Buffer): Buffer[] | undefined {
    if (this.block === undefined) {
      if (type !== FRAME_HEADERS) return undefined;
      const fragment = headerFragment(payload, flags);
      if (fragment === undefined) return undefined;
      const padding = flags & FLAG_PADDED ? 1 : 0;
      const priority = flags & FLAG_PRIORITY ? Buffer.from(payload.subarray(padding, padding + 5)) : undefined;
      this.block = { stream, flags, priority, fragments: [], bytes: 0 };
      payload = fragment;
    } else if (type !== FRAME_CONTINUATION || stream !== this.block.stream) {
      return undefined;
    }
    const block = this.block;
    block.bytes += payload.length;
    if (block.bytes > MAX_HEADER_BLOCK_BYTES) return undefined;
    block.fragments.push(Buffer.from(payload));
    if ((flags & FLAG_END_HEADERS) === 0) return [];
    this.block = undefined;
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(Buffer.concat(block.fragments));
    } catch {
      return undefined;
    }
    const rewritten = fields.map((f) =>
      f.name === ':authority' && f.value.includes('://') ? { ...f, value: authorityOfUrl(f.value) } : f);
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
