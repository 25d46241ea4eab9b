import type net from 'node:net';
import { Duplex } from 'node:stream';
import {
  CLIENT_PREFACE, COMPRESSION_ERROR, ENHANCE_YOUR_CALM, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY,
  FRAME_CONTINUATION, FRAME_HEADER_BYTES, FRAME_HEADERS, FRAME_SETTINGS, FRAME_SIZE_ERROR, FrameReader, goawayFrame, headerFragment,
  PROTOCOL_ERROR, type FrameHeader,
} from './frame-reader.js';
import { encodeHeaderBlock, HeaderBlockDecoder, HeaderListTooLargeError, type HeaderField } from './header-block.js';
import type { FrontDoorLimits } from './limits.js';

/** What the door did with client bytes before handing them on: work counters that tests bound. */
export interface DoorStats {
  /** Bytes read from client sockets while sniffing or relaying (not after an as-is hand-over). */
  bytesReceived: number;
  /** Reads (socket chunks) those bytes came in. */
  chunksReceived: number;
  /** Bytes copied to reassemble frames, hand over and forward them: linear in bytesReceived. */
  bytesCopied: number;
}

/** RFC 9113's smallest SETTINGS_MAX_FRAME_SIZE: frames this size fit every server. */
const MAX_OUT_FRAME_BYTES = 16_384;
/** After refusing a connection, how long its GOAWAY may wait for the server's frame in flight. */
const REFUSE_GRACE_MS = 2_000;

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

/**
 * Sits between a client connection and the HTTP/2 server that serves it (grpc-js's, or the
 * door's own for plain HTTP/2). Client → server: frames are parsed; each header block
 * (HEADERS + CONTINUATIONs) is decoded with the connection's HPACK state, a URL-form
 * `:authority` is rewritten to its `host:port`, and the block is re-encoded with literals that
 * never touch the server's dynamic table, then re-framed (padding dropped, priority kept,
 * END_STREAM kept). The client's ACK of the door's own SETTINGS is removed when
 * `dropSettingsAck` (the door sent that SETTINGS, the server expects no ACK for it). Every
 * other frame passes unchanged. Server → client: bytes pass unchanged (the client's decoder
 * stays in sync with the server's encoder).
 *
 * Limits (see FrontDoorLimits): a frame over maxFrameBytes ends the connection with GOAWAY
 * FRAME_SIZE_ERROR as soon as its header arrives; a header block over maxHeaderBlockBytes or
 * with more than maxContinuationFrames CONTINUATIONs with ENHANCE_YOUR_CALM; malformed HPACK
 * with COMPRESSION_ERROR, frames out of order with PROTOCOL_ERROR (after such a block the
 * HPACK contexts cannot be trusted). The GOAWAY is sent between two of the server's frames,
 * then both sides are closed. A block that decodes to more than maxHeaderListBytes only costs
 * its stream: the server is handed an empty block for it and resets it.
 */
export class AuthorityRelay {
  /** The end injected into the gRPC server. */
  readonly serverSide: Duplex;
  private readonly decoder: HeaderBlockDecoder;
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

  /**
   * @param client the client's connection, paused; `replay` holds the bytes already read from it (the preface first).
   * @param onGone called once when the relay ends.
   */
  constructor(
    private readonly client: net.Socket,
    replay: Buffer,
    private readonly limits: FrontDoorLimits,
    private dropSettingsAck: boolean,
    private readonly stats: DoorStats,
    private readonly onGone: () => void,
    /** A header every request on this connection carries (the client connection's name for auth); clients' own values are dropped. */
    private readonly connectionHeader?: { readonly name: string; readonly value: string },
  ) {
    this.reader = new FrameReader(stats);
    this.decoder = new HeaderBlockDecoder(undefined, limits.maxHeaderListBytes);
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
        if (head.length > this.limits.maxFrameBytes) {
          throw new ConnectionError(FRAME_SIZE_ERROR, `frame of ${head.length} bytes, SETTINGS_MAX_FRAME_SIZE is ${this.limits.maxFrameBytes}`);
        }
        if (this.reader.length < FRAME_HEADER_BYTES + head.length) break;
        const frame = this.reader.take(FRAME_HEADER_BYTES + head.length);
        if (this.dropSettingsAck && head.type === FRAME_SETTINGS && (head.flags & FLAG_ACK) !== 0 && this.block === undefined) {
          this.dropSettingsAck = false; // the ACK of the door's SETTINGS, the first one sent
        } else if (head.type === FRAME_HEADERS || head.type === FRAME_CONTINUATION || this.block !== undefined) {
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
    } else if (++this.block.continuations > this.limits.maxContinuationFrames) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, `header block of more than ${this.limits.maxContinuationFrames} CONTINUATION frames`);
    }
    const block = this.block;
    block.bytes += payload.length;
    if (block.bytes > this.limits.maxHeaderBlockBytes) {
      throw new ConnectionError(ENHANCE_YOUR_CALM, `header block larger than ${this.limits.maxHeaderBlockBytes} bytes`);
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
    const own = this.connectionHeader;
    const rewritten = fields.filter((f) => own === undefined || f.name !== own.name).map((f) =>
      f.name === ':authority' && f.value.includes('://') ? { ...f, value: authorityOfUrl(f.value) } : f);
    if (own !== undefined && rewritten.some((f) => f.name === ':path')) rewritten.push({ name: own.name, value: own.value, neverIndex: true });
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
