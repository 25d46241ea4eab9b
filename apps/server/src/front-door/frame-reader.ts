/** HTTP/2 framing (RFC 9113 §4): what the front door needs to read and write frames itself. */

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;

export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_SETTINGS = 0x4;
export const FRAME_GOAWAY = 0x7;
export const FRAME_CONTINUATION = 0x9;

export const FLAG_ACK = 0x1;
export const FLAG_END_STREAM = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

/** RFC 9113 §7 error codes the door sends in GOAWAY. */
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const FRAME_SIZE_ERROR = 0x6;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

/** A server's SETTINGS frame that changes nothing: no parameters. */
export const EMPTY_SETTINGS = Buffer.from([0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);

/** An HTTP/2 frame header (RFC 9113 §4.1). */
export interface FrameHeader { length: number; type: number; flags: number; stream: number }

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

/** The header block fragment of a HEADERS payload: padding and priority fields removed. undefined if malformed. */
export function headerFragment(payload: Buffer, flags: number): Buffer | undefined {
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

/** One HTTP/2 frame: the 9-byte header (length, type, flags, stream) then `payload`. */
export function encodeFrame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fff_ffff, 5);
  return Buffer.concat([head, payload]);
}

/** A GOAWAY frame on stream 0. */
export function goawayFrame(lastStream: number, code: number, debug: string): Buffer {
  const payload = Buffer.alloc(8 + Buffer.byteLength(debug, 'latin1'));
  payload.writeUInt32BE(lastStream & 0x7fff_ffff, 0);
  payload.writeUInt32BE(code, 4);
  payload.write(debug, 8, 'latin1');
  return encodeFrame(FRAME_GOAWAY, 0, 0, payload);
}
