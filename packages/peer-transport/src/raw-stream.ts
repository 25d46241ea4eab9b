/**
 * The raw peer stream: the same frames as the gRPC `Stream` call (see `frame.ts`), carried on a
 * plain TCP connection to the peer URL's port instead of an HTTP/2 stream. A grpc-js call costs
 * every frame its interceptor, filter and stream layers at both ends; here a frame is one socket
 * write and one parse (see docs/profiles.md, three members, 2026-12-06 wave 5).
 *
 * The receiver tells it from HTTP/2 by its first byte (the HTTP/2 preface starts with `P`):
 *
 * ```
 * sender:   MAGIC (8 bytes) [cluster ID u64] [from u64] [to u64]      then records
 * receiver: MAGIC [status u8]   0 = accepted; else a gRPC status code, [length u16] [details utf-8], close
 * record:   [length u32] [frame of `length` bytes]                    (length ≥ 4: a frame)
 *           [0 u32]                                                     a ping; the receiver answers PONG
 * ```
 *
 * All integers big-endian. The receiver writes nothing but the status and pongs. A member that
 * serves no raw streams (an older build) answers the bad HTTP/2 preface with something else (a
 * GOAWAY) or closes the connection: the sender then dials the gRPC call.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';

export const RAW_MAGIC = Buffer.from('RAFTKVP1', 'latin1');
export const RAW_HELLO_BYTES = RAW_MAGIC.length + 24;
/** Bytes before each frame on the raw stream (its length). */
export const RAW_PREFIX_BYTES = 4;
export const RAW_ACCEPTED = 0;
export const RAW_PONG = 0xff;

/** Whether a connection's first byte says it is a raw peer stream (not HTTP/2). */
export function isRawStart(firstByte: number): boolean {
  return firstByte === RAW_MAGIC[0];
}

export function encodeHello(clusterId: bigint, from: bigint, to: bigint): Buffer {
  const b = Buffer.allocUnsafe(RAW_HELLO_BYTES);
  RAW_MAGIC.copy(b, 0);
  b.writeBigUInt64BE(clusterId, 8);
  b.writeBigUInt64BE(from, 16);
  b.writeBigUInt64BE(to, 24);
  return b;
}

/** The IDs of a hello, or undefined when it does not start with the magic. */
export function decodeHello(b: Buffer): { clusterId: bigint; from: bigint; to: bigint } | undefined {
  if (b.length < RAW_HELLO_BYTES || !b.subarray(0, RAW_MAGIC.length).equals(RAW_MAGIC)) return undefined;
  return { clusterId: b.readBigUInt64BE(8), from: b.readBigUInt64BE(16), to: b.readBigUInt64BE(24) };
}

/** The receiver's answer to a hello: accepted, or a refusal with a gRPC status code. */
export function encodeStatus(code: number, details = ''): Buffer {
  const m = RAW_MAGIC.length;
  if (code === RAW_ACCEPTED) return Buffer.concat([RAW_MAGIC, Buffer.from([RAW_ACCEPTED])]);
  const text = Buffer.from(details.slice(0, 1024), 'utf8');
  const b = Buffer.allocUnsafe(m + 3 + text.length);
  RAW_MAGIC.copy(b, 0);
  b[m] = code;
  b.writeUInt16BE(text.length, m + 1);
  text.copy(b, m + 3);
  return b;
}

/**
 * Reads the receiver's answer: `pending` while incomplete, `legacy` when it is no answer of
 * ours (an older member's HTTP/2), else the status (code 0: accepted).
 */
export function decodeStatus(b: Buffer): 'pending' | 'legacy' | { code: number; details: string } {
  const m = RAW_MAGIC.length;
  const known = Math.min(b.length, m);
  if (!b.subarray(0, known).equals(RAW_MAGIC.subarray(0, known))) return 'legacy';
  if (b.length <= m) return 'pending';
  const code = b[m]!;
  if (code === RAW_ACCEPTED) return { code, details: '' };
  if (b.length < m + 3 || b.length < m + 3 + b.readUInt16BE(m + 1)) return 'pending';
  return { code, details: b.subarray(m + 3, m + 3 + b.readUInt16BE(m + 1)).toString('utf8') };
}

/**
 * Cuts a byte stream into records: `onFrame` for each frame (a view, valid during the call),
 * `onPing` for each ping. Returns an error message for a record longer than `maxFrameBytes` or
 * shorter than a frame's header; the stream must then be closed.
 */
export class RecordReader {
  /** Bytes not yet cut: joined once `need` of them are here (a large frame arrives in many reads). */
  private chunks: Buffer[] = [];
  private have = 0;
  private need = RAW_PREFIX_BYTES;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly onPing: () => void,
  ) {}

  push(chunk: Buffer): string | undefined {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return undefined;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
    this.chunks = [];
    this.have = 0;
    this.need = RAW_PREFIX_BYTES;
    let off = 0;
    while (buf.length - off >= RAW_PREFIX_BYTES) {
      const len = buf.readUInt32BE(off);
      if (len === 0) {
        off += RAW_PREFIX_BYTES;
        this.onPing();
        continue;
      }
      if (len < 4 || len > this.maxFrameBytes) return `raftkv: raw peer record of ${len} bytes`;
      if (buf.length - off - RAW_PREFIX_BYTES < len) {
        this.need = RAW_PREFIX_BYTES + len;
        break;
      }
      const start = off + RAW_PREFIX_BYTES;
      off = start + len;
      this.onFrame(buf.subarray(start, off));
    }
    if (off < buf.length) {
      this.chunks.push(buf.subarray(off));
      this.have = buf.length - off;
    }
    return undefined;
  }
}

/** What the sender's side of a raw stream reports. */
export interface RawStreamEvents {
  /** The receiver accepted the stream. */
  onAccepted(): void;
  /**
   * The stream ended. `code`/`details` as a gRPC status: a refusal carries the receiver's;
   * `legacy` is set when the peer closed before answering the hello (it serves gRPC only).
   */
  onFailed(code: number, details: string, legacy: boolean): void;
}

/** 14, UNAVAILABLE, as gRPC reports a lost connection. */
const UNAVAILABLE = 14;

/**
 * The sender's side of one raw stream: `write` takes a frame built with {@link RAW_PREFIX_BYTES}
 * of headroom (it fills in the length), with the same backpressure contract as a gRPC call
 * (`false` → wait for 'drain').
 */
export class RawOutboundStream {
  private readonly socket: net.Socket;
  private accepted = false;
  private ended = false;
  private answer: Buffer | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;

  constructor(
    host: string,
    port: number,
    hello: Buffer,
    private readonly keepaliveTimeMs: number,
    private readonly keepaliveTimeoutMs: number,
    tlsOptions: tls.ConnectionOptions | undefined,
    private readonly events: RawStreamEvents,
  ) {
    const socket = tlsOptions === undefined ? net.connect({ host, port, noDelay: true }) : tls.connect({ ...tlsOptions, host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    let connected = false;
    socket.once(tlsOptions === undefined ? 'connect' : 'secureConnect', () => (connected = true));
    socket.write(hello);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.fail(UNAVAILABLE, this.accepted ? 'raftkv: raw peer stream closed' : 'raftkv: closed before the hello was answered', connected && !this.accepted);
    });
  }

  get writableNeedDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  once(event: 'drain', fn: () => void): this {
    this.socket.once(event, fn);
    return this;
  }

  write(frame: Buffer, cb: () => void): boolean {
    frame.writeUInt32BE(frame.length - RAW_PREFIX_BYTES, 0);
    return this.socket.write(frame, cb);
  }

  /** Closes the stream; no event follows. */
  end(): void {
    this.ended = true;
    this.stopTimers();
    this.socket.end();
  }

  cancel(): void {
    this.ended = true;
    this.stopTimers();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.accepted) {
      // Only pongs follow the status.
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
      return;
    }
    this.answer = this.answer === undefined ? chunk : Buffer.concat([this.answer, chunk]);
    const a = decodeStatus(this.answer);
    if (a === 'pending') return;
    this.answer = undefined;
    if (a === 'legacy') return this.fail(UNAVAILABLE, 'raftkv: the peer answered the raw hello with something else', true);
    if (a.code !== RAW_ACCEPTED) return this.fail(a.code, a.details, false);
    this.accepted = true;
    this.schedulePing();
    this.events.onAccepted();
  }

  // HTTP/2 keepalive's job: a peer that stopped answering is noticed even while writes pile up.
  private schedulePing(): void {
    this.pingTimer = setTimeout(() => {
      if (this.ended) return;
      this.socket.write(Buffer.alloc(RAW_PREFIX_BYTES));
      this.pongTimer ??= setTimeout(() => this.fail(UNAVAILABLE, 'raftkv: raw peer stream keepalive timeout', false), this.keepaliveTimeoutMs);
      this.pongTimer.unref();
      this.schedulePing();
    }, this.keepaliveTimeMs);
    this.pingTimer.unref();
  }

  private stopTimers(): void {
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  private fail(code: number, details: string, legacy: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimers();
    this.socket.destroy();
    this.events.onFailed(code, details, legacy);
  }
}
