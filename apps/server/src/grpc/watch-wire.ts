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
import { taggedVarint, varintSize, writeVarint } from './varint.js';

// WatchResponse fields: header = 1 (bytes), watch_id = 2 (int64), fragment = 7 (bool), events = 11 (bytes).
const HEADER_TAG = (1 << 3) | 2;
const WATCH_ID_TAG = 2 << 3;
const FRAGMENT_TAG = 7 << 3;
const EVENTS_TAG = (11 << 3) | 2;
const EMPTY = Buffer.alloc(0);

/** A length-delimited field's tag and length, then `body`. */
function lengthDelimited(tag: number, body: Uint8Array): Buffer {
  return Buffer.concat([taggedVarint(tag, body.byteLength), body]);
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
    bytes = lengthDelimited(EVENTS_TAG, body);
    encodedEvents.set(ev, bytes);
  }
  return bytes;
}

/**
 * Encodes WatchResponses as etcdserverpb.WatchResponse bytes (the same bytes the generated
 * encoder gives) and gathers them into one write. `header` is the server's header for a
 * revision: it is asked once per revision per write (a send loop runs without yielding, so the
 * term cannot change within a write), and its encoded field is shared by every stream's encoder.
 *
 * Responses are kept as they are until {@link take} writes every message into one Buffer, rather
 * than allocating a frame prefix, a header object and a watch-id field per response (garbage once
 * per watcher per revision).
 */
export class WatchResponseEncoder {
  private responses: WatchResponse[] = [];
  /** Per response: its header field (an event response), or all its bytes but the events (a control response). */
  private heads: Buffer[] = [];
  /** Per response: its message length, negative for a control response. */
  private lengths: number[] = [];
  private total = 0;
  /** The revision whose header field `batchHead` is, within the write being gathered (-1: none yet). */
  private batchRevision = -1;
  private batchHead: Buffer = EMPTY;

  constructor(private readonly header: (revision: number) => etcdserverpb.ResponseHeader) {}

  /** Bytes gathered since the last {@link take}, frame prefixes included. */
  get pendingBytes(): number {
    return this.total;
  }

  /** Adds one response to the write being gathered. */
  add(r: WatchResponse): void {
    let head: Buffer;
    let length: number;
    if (r.events.length === 0 || r.created || r.canceled || r.compactRevision !== 0 || r.cancelReason !== '') {
      // Control responses are rare: the generated encoder.
      const bytes = etcdserverpb.WatchResponse.encode({
        header: this.header(r.revision), watchId: r.watchId, created: r.created, canceled: r.canceled,
        compactRevision: BigInt(r.compactRevision), cancelReason: r.cancelReason, fragment: r.fragment, events: [],
      }).finish();
      head = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      length = head.byteLength + eventsLength(r.events);
      this.lengths.push(-length);
    } else {
      if (r.revision !== this.batchRevision) {
        this.batchHead = headerField(r.revision, this.header(r.revision));
        this.batchRevision = r.revision;
      }
      head = this.batchHead;
      length = head.byteLength + idAndFragmentLength(r) + eventsLength(r.events);
      this.lengths.push(length);
    }
    this.responses.push(r);
    this.heads.push(head);
    this.total += FRAME_PREFIX_BYTES + length;
  }

  /**
   * What was gathered, as one Buffer of gRPC frames marked for the patched grpc-js to write
   * unchanged (grpc-js would copy a lone message into a framed buffer of its own). Undefined
   * when nothing was gathered.
   */
  take(): Buffer | undefined {
    const n = this.responses.length;
    if (n === 0) return undefined;
    const out = Buffer.allocUnsafe(this.total);
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const r = this.responses[i]!;
      const signed = this.lengths[i]!;
      out[pos] = 0; // not compressed
      out.writeUInt32BE(signed < 0 ? -signed : signed, pos + 1);
      pos += FRAME_PREFIX_BYTES;
      const head = this.heads[i]!;
      out.set(head, pos);
      pos += head.byteLength;
      if (signed > 0) {
        if (r.watchId !== 0n) {
          out[pos++] = WATCH_ID_TAG;
          pos = writeVarint(out, pos, r.watchId);
        }
        if (r.fragment) {
          out[pos++] = FRAGMENT_TAG;
          out[pos++] = 1;
        }
      }
      for (const ev of r.events) {
        const bytes = encodedEvent(ev);
        out.set(bytes, pos);
        pos += bytes.byteLength;
      }
    }
    const messages = n;
    this.responses = [];
    this.heads = [];
    this.lengths = [];
    this.total = 0;
    this.batchRevision = -1;
    return markFramed(out, messages);
  }
}

/** Recent header fields, by revision modulo the slot count (a slot keeps the newest). */
const HEADER_SLOTS = 256;
const headerSlots: Array<{ header: etcdserverpb.ResponseHeader; field: Buffer } | undefined> = new Array(HEADER_SLOTS);

/**
 * The WatchResponse `header` field of `h`, encoded once for every stream: with 1,000 watchers on 200
 * streams a revision's header was encoded 200 times (8% of the server's time), and with one
 * watcher per stream and many puts in flight each stream's write walks the same recent revisions.
 */
function headerField(revision: number, h: etcdserverpb.ResponseHeader): Buffer {
  const slot = revision % HEADER_SLOTS;
  const kept = headerSlots[slot];
  if (kept !== undefined && kept.header.revision === h.revision && kept.header.raftTerm === h.raftTerm
    && kept.header.memberId === h.memberId && kept.header.clusterId === h.clusterId) {
    return kept.field;
  }
  const body = etcdserverpb.ResponseHeader.encode(h).finish();
  const field = lengthDelimited(HEADER_TAG, body);
  headerSlots[slot] = { header: h, field };
  return field;
}

function eventsLength(events: readonly Event[]): number {
  let n = 0;
  for (const ev of events) n += encodedEvent(ev).byteLength;
  return n;
}

/** Bytes of an event response's watch_id (absent when 0) and fragment (absent when false) fields. */
function idAndFragmentLength(r: WatchResponse): number {
  return (r.watchId !== 0n ? 1 + varintSize(r.watchId) : 0) + (r.fragment ? 2 : 0);
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
