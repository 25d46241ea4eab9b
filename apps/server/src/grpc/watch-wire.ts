// The bytes of the Watch service's responses, written by hand for the hot path. With many
// watchers on a prefix every put becomes one response per watcher: encoding each with the
// generated code (a header of four bigints, the events again) and handing each to grpc-js as its
// own write cost more CPU per delivered event than everything else (profile in docs/profiles.md).
// Here an event's bytes are made once for all its watchers, a header's once per revision, and a
// stream's queued responses leave as one write of gRPC frames (the grpc-js patch in patches/
// passes such a batch through unchanged).
import { etcdserverpb, mvccpb } from '@raftkv/api';
import type { Event } from '@raftkv/mvcc';
import type { WatchResponse } from '@raftkv/watch';
import { keyValueToWire } from '../apply/convert.js';
import { FRAME_PREFIX_BYTES, isFramed, markFramed } from './encoded-responses.js';

// WatchResponse fields: header = 1 (bytes), watch_id = 2 (int64), fragment = 7 (bool), events = 11 (bytes).
const HEADER_TAG = (1 << 3) | 2;
const WATCH_ID_TAG = 2 << 3;
const FRAGMENT_TAG = 7 << 3;
const EVENTS_TAG = (11 << 3) | 2;


function varintBytes(v: bigint): number[] {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

function lengthPrefix(tag: number, length: number): number[] {
  return [tag, ...varintBytes(BigInt(length))];
}

// Every watcher of a revision is handed the same Event objects: encode each once, as the bytes
// of a WatchResponse `events` field, not once per watcher.
const encodedEvents = new WeakMap<Event, Buffer>();

/** An event as the bytes of one WatchResponse `events` field (tag, length, mvccpb.Event). */
export function encodedEvent(ev: Event): Buffer {
  let bytes = encodedEvents.get(ev);
  if (bytes === undefined) {
    const body = mvccpb.Event.encode({
      type: ev.type === 'put' ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE,
      kv: keyValueToWire(ev.kv),
      prevKv: ev.prevKv ? keyValueToWire(ev.prevKv) : undefined,
    }).finish();
    bytes = Buffer.concat([Buffer.from(lengthPrefix(EVENTS_TAG, body.byteLength)), body]);
    encodedEvents.set(ev, bytes);
  }
  return bytes;
}

/**
 * Encodes WatchResponses as etcdserverpb.WatchResponse bytes (the same bytes the generated
 * encoder gives) and gathers them into one write. `header` is the server's header for a
 * revision; the encoded header field of the last (revision, term) is kept, as consecutive
 * responses mostly share it.
 */
export class WatchResponseEncoder {
  private lastHeader: etcdserverpb.ResponseHeader | undefined;
  private lastHeaderField: Buffer = Buffer.alloc(0);
  /** The pieces of the messages gathered so far: per message a 5-byte frame prefix, then its parts. */
  private parts: Buffer[] = [];
  private messages = 0;
  private total = 0;
  private single: Buffer | undefined;

  constructor(private readonly header: (revision: number) => etcdserverpb.ResponseHeader) {}

  /** Bytes gathered since the last {@link take}, frame prefixes included. */
  get pendingBytes(): number {
    return this.total;
  }

  /** Adds one response to the write being gathered. */
  add(r: WatchResponse): void {
    const prefix = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
    const at = this.parts.length;
    this.parts.push(prefix);
    const length = this.encodeInto(r, this.parts);
    prefix[0] = 0; // not compressed
    prefix.writeUInt32BE(length, 1);
    this.total += FRAME_PREFIX_BYTES + length;
    this.single = ++this.messages === 1 && this.parts.length === at + 2 ? this.parts[at + 1] : undefined;
  }

  /**
   * What was gathered, as one write: a single message as its bytes (grpc-js frames it), several
   * as one Buffer of gRPC frames marked for the patched grpc-js to write unchanged. Undefined
   * when nothing was gathered.
   */
  take(): Buffer | undefined {
    if (this.messages === 0) return undefined;
    let out: Buffer;
    if (this.messages === 1) {
      out = this.single ?? Buffer.concat(this.parts.slice(1));
    } else {
      out = markFramed(Buffer.concat(this.parts, this.total), this.messages);
    }
    this.parts = [];
    this.messages = 0;
    this.total = 0;
    this.single = undefined;
    return out;
  }

  /** Encodes one response into `parts`; returns its length. */
  private encodeInto(r: WatchResponse, parts: Buffer[]): number {
    const header = this.header(r.revision);
    let length = 0;
    if (r.events.length === 0 || r.created || r.canceled || r.compactRevision !== 0 || r.cancelReason !== '') {
      // Control responses are rare: the generated encoder.
      const bytes = etcdserverpb.WatchResponse.encode({
        header, watchId: r.watchId, created: r.created, canceled: r.canceled, compactRevision: BigInt(r.compactRevision),
        cancelReason: r.cancelReason, fragment: r.fragment, events: [],
      }).finish();
      parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      length += bytes.byteLength;
    } else {
      const head = this.headerField(header);
      parts.push(head);
      length += head.byteLength;
      if (r.watchId !== 0n || r.fragment) {
        const tail = [...(r.watchId !== 0n ? [WATCH_ID_TAG, ...varintBytes(r.watchId)] : []), ...(r.fragment ? [FRAGMENT_TAG, 1] : [])];
        parts.push(Buffer.from(tail));
        length += tail.length;
      }
    }
    for (const ev of r.events) {
      const bytes = encodedEvent(ev);
      parts.push(bytes);
      length += bytes.byteLength;
    }
    return length;
  }

  private headerField(h: etcdserverpb.ResponseHeader): Buffer {
    const last = this.lastHeader;
    if (last === undefined || last.revision !== h.revision || last.raftTerm !== h.raftTerm
      || last.memberId !== h.memberId || last.clusterId !== h.clusterId) {
      const body = etcdserverpb.ResponseHeader.encode(h).finish();
      this.lastHeaderField = Buffer.concat([Buffer.from(lengthPrefix(HEADER_TAG, body.byteLength)), body]);
      this.lastHeader = h;
    }
    return this.lastHeaderField;
  }
}

/** The messages of one write: the frames of a batch {@link WatchResponseEncoder.take} marked, or the one message it is. */
export function messagesOfWrite(write: Buffer): Buffer[] {
  if (!isFramed(write)) return [write];
  const out: Buffer[] = [];
  for (let pos = 0; pos < write.byteLength;) {
    const len = write.readUInt32BE(pos + 1);
    out.push(write.subarray(pos + FRAME_PREFIX_BYTES, pos + FRAME_PREFIX_BYTES + len));
    pos += FRAME_PREFIX_BYTES + len;
  }
  return out;
}
