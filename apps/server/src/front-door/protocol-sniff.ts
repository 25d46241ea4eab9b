import type { DoorStats } from './authority-relay.js';
import {
  CLIENT_PREFACE, FLAG_ACK, FLAG_END_HEADERS, FRAME_CONTINUATION, FRAME_HEADER_BYTES, FRAME_HEADERS, FRAME_SETTINGS, FrameReader,
  headerFragment, type FrameHeader,
} from './frame-reader.js';
import { HeaderBlockDecoder, type HeaderField } from './header-block.js';
import type { FrontDoorLimits } from './limits.js';

/** What a connection's first bytes say it speaks. */
export type StartKind =
  /** Too few bytes to tell yet. */
  | 'need-more'
  /** The whole HTTP/2 client preface (RFC 9113 §3.4). */
  | 'http2'
  /** A whole HTTP/1.x request line, `METHOD target HTTP/1.x` (Node's parser judges the rest). */
  | 'http1'
  /** Starts like the HTTP/2 preface ("PRI ") and then differs. */
  | 'malformed-preface'
  /** Anything else: neither protocol. */
  | 'garbage';

/** Longest method token accepted before its space; real methods are far shorter. */
const MAX_METHOD_BYTES = 32;
/** Longest request line looked for, as etcd's listener (cmux's HTTP1 matcher reads up to 4096 bytes). */
export const MAX_REQUEST_LINE_BYTES = 4096;

/** RFC 9110 §5.6.2 tchar. */
function isTokenChar(b: number): boolean {
  if (b >= 0x30 && b <= 0x39) return true; // 0-9
  if ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a) return true; // A-Z a-z
  return "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b));
}

/**
 * Classifies the first bytes of a connection (at most the first 4096 matter). As etcd's
 * listener (cmux) does, anything that is neither the HTTP/2 preface nor an HTTP/1.x request
 * line is closed without an answer; a request whose headers are malformed gets Node's 400.
 */
export function classifyStart(bytes: Buffer): StartKind {
  const n = Math.min(bytes.length, CLIENT_PREFACE.length);
  if (bytes.subarray(0, n).equals(CLIENT_PREFACE.subarray(0, n))) {
    return n === CLIENT_PREFACE.length ? 'http2' : 'need-more';
  }
  if (bytes.length >= 4 && bytes.subarray(0, 4).equals(CLIENT_PREFACE.subarray(0, 4))) return 'malformed-preface';
  let space = -1;
  for (let i = 0; i < bytes.length && i <= MAX_METHOD_BYTES; i++) {
    const b = bytes[i]!;
    if (b === 0x20) {
      space = i;
      break;
    }
    if (!isTokenChar(b)) return 'garbage';
  }
  if (space === -1) return bytes.length > MAX_METHOD_BYTES ? 'garbage' : 'need-more';
  if (space === 0) return 'garbage';
  const end = bytes.subarray(0, MAX_REQUEST_LINE_BYTES).indexOf(0x0a);
  if (end === -1) return bytes.length >= MAX_REQUEST_LINE_BYTES ? 'garbage' : 'need-more';
  const line = bytes.subarray(0, end).toString('latin1').replace(/\r$/, '');
  const parts = line.split(' ');
  return parts.length === 3 && parts[1] !== '' && /^HTTP\/1\.\d$/.test(parts[2]!) ? 'http1' : 'garbage';
}

/** The first request of an HTTP/2 connection, as far as routing needs it. */
export interface FirstRequest {
  /** Its content-type is gRPC's (`application/grpc`, `+proto`, `;...`): the connection goes to the gRPC server. */
  readonly grpc: boolean;
  /** Its `:authority` is a URL (`http://host:port`, `unix://...`): Node's HTTP/2 would refuse the stream. */
  readonly urlAuthority: boolean;
}

/**
 * How the scan of an HTTP/2 connection's start ended:
 * - `request`: the first request's header block decoded;
 * - `refused`: something a server must refuse (a frame over the limit, malformed HPACK, a
 *   header block too long or interrupted): the relay, replaying the bytes, refuses it with the
 *   right GOAWAY or stream reset.
 */
export type ScanResult = { readonly kind: 'request'; readonly request: FirstRequest } | { readonly kind: 'refused' };

/** `application/grpc`, `application/grpc+proto`, `application/grpc; charset=...` — not grpc-web. */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  return v === 'application/grpc' || v.startsWith('application/grpc+') || v.startsWith('application/grpc;');
}

/**
 * The door's parse of an HTTP/2 connection's first bytes (preface included), fed chunk by
 * chunk, each frame looked at once when complete: finds the first request's header block and
 * notes the client's ACK of the door's SETTINGS (which must not reach the server behind: it
 * sent no SETTINGS yet). Frames before the first request (SETTINGS, WINDOW_UPDATE, PING) are
 * kept for the hand-over, not answered.
 */
export class Http2StartScan {
  /** Every byte read, for the hand-over. */
  private readonly raw: Buffer[] = [];
  bytes = 0;
  private readonly reader: FrameReader;
  /** Stream offset of the next unparsed frame. */
  private at = CLIENT_PREFACE.length;
  private prefaceTaken = false;
  private headersStream = -1;
  private readonly fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private continuations = 0;
  /** Stream offset of the client's first SETTINGS ACK, -1 before. */
  private ackAt = -1;

  constructor(private readonly limits: FrontDoorLimits, private readonly stats: DoorStats) {
    this.reader = new FrameReader(stats);
  }

  /** The client's ACK of the door's SETTINGS was read (and is left out of the hand-over). */
  get ackSeen(): boolean {
    return this.ackAt >= 0;
  }

  /** Feeds bytes; the result once the scan is over, undefined while it needs more. */
  push(chunk: Buffer): ScanResult | undefined {
    this.raw.push(chunk);
    this.bytes += chunk.length;
    this.reader.push(chunk);
    if (!this.prefaceTaken) {
      if (this.reader.length < CLIENT_PREFACE.length) return undefined;
      if (!this.reader.take(CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) return { kind: 'refused' };
      this.prefaceTaken = true;
    }
    for (;;) {
      const head = this.reader.peekHeader();
      if (head === undefined) return undefined;
      // Refused on its header: an oversized frame is never buffered.
      if (head.length > this.limits.maxFrameBytes) return { kind: 'refused' };
      if (this.reader.length < FRAME_HEADER_BYTES + head.length) return undefined;
      const frameAt = this.at;
      const payload = this.reader.take(FRAME_HEADER_BYTES + head.length).subarray(FRAME_HEADER_BYTES);
      this.at += FRAME_HEADER_BYTES + head.length;
      const result = this.frame(head, payload, frameAt);
      if (result !== undefined) return result;
    }
  }

  private frame(head: FrameHeader, payload: Buffer, frameAt: number): ScanResult | undefined {
    const { type, flags, stream } = head;
    if (type === FRAME_SETTINGS && (flags & FLAG_ACK) !== 0 && this.ackAt < 0) {
      if (head.length !== 0 || this.headersStream !== -1) return { kind: 'refused' };
      this.ackAt = frameAt;
      return undefined;
    }
    if (this.headersStream === -1) {
      if (type !== FRAME_HEADERS) return undefined; // SETTINGS, WINDOW_UPDATE, PING... before the first request
      const fragment = headerFragment(payload, flags);
      if (fragment === undefined) return { kind: 'refused' };
      this.fragments.push(fragment);
      this.fragmentBytes += fragment.length;
      this.headersStream = stream;
    } else {
      if (type !== FRAME_CONTINUATION || stream !== this.headersStream) return { kind: 'refused' };
      if (++this.continuations > this.limits.maxContinuationFrames) return { kind: 'refused' };
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
    }
    if (this.fragmentBytes > this.limits.maxHeaderBlockBytes) return { kind: 'refused' };
    if ((flags & FLAG_END_HEADERS) === 0) return undefined;
    let fields: HeaderField[];
    try {
      this.stats.bytesCopied += this.fragmentBytes;
      fields = new HeaderBlockDecoder(undefined, this.limits.maxHeaderListBytes).decode(Buffer.concat(this.fragments));
    } catch {
      return { kind: 'refused' };
    }
    const authority = fields.find((f) => f.name === ':authority');
    const contentType = fields.find((f) => f.name === 'content-type');
    return { kind: 'request', request: { grpc: isGrpcContentType(contentType?.value), urlAuthority: authority !== undefined && authority.value.includes('://') } };
  }

  /** Every byte read, in one copy, without the client's ACK of the door's SETTINGS when seen. */
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
