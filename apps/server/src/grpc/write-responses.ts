// The answers to a put and a lease grant, the commonest writes, encoded by hand straight into
// their gRPC frame. The generated encoders build a wire object with four BigInts for the header,
// check each BigInt's range, grow a fresh writer from 128 bytes and copy its bytes out, and the
// unary path then copies them again behind the 5-byte prefix. The header's cluster and member
// IDs are the same in every answer of a member: their bytes are encoded once.
import { FRAME_PREFIX_BYTES, markFramed } from './encoded-responses.js';
import { taggedVarint, varintSize, writeVarint } from './varint.js';

// ResponseHeader: cluster_id = 1, member_id = 2, revision = 3, raft_term = 4 (varints).
// PutResponse: header = 1 (prev_kv = 2 is left to the generated encoder).
// LeaseGrantResponse: header = 1, ID = 2, TTL = 3 (error = 4, always empty here).
const TAG_HEADER = (1 << 3) | 2;
const TAG_REVISION = 3 << 3;
const TAG_TERM = 4 << 3;
const TAG_LEASE_ID = 2 << 3;
const TAG_LEASE_TTL = 3 << 3;

/** A field that protobuf omits at zero: its size, tag included. */
function numberFieldSize(v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

function writeNumberField(out: Buffer, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  out[pos++] = tag;
  return writeVarint(out, pos, v);
}

/** Encodes one member's Put and LeaseGrant answers as complete gRPC frames (see {@link markFramed}), and its response headers. */
export class WriteResponses {
  /** Fields 1 and 2 of every ResponseHeader this member sends. */
  private readonly ids: Buffer;

  constructor(clusterId: bigint, memberId: bigint) {
    const parts: Buffer[] = [];
    if (clusterId !== 0n) parts.push(taggedVarint(1 << 3, clusterId));
    if (memberId !== 0n) parts.push(taggedVarint(2 << 3, memberId));
    this.ids = Buffer.concat(parts);
  }

  /** A PutResponse with its header and no prev_kv. */
  put(revision: number, term: number): Buffer {
    const header = this.headerSize(revision, term);
    const body = 1 + varintSize(header) + header;
    const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body);
    const end = this.writeHeader(out, this.writePrefix(out, body), header, revision, term);
    return this.done(out, end);
  }

  /** A LeaseGrantResponse: header, the lease's ID and TTL, no error. */
  leaseGrant(revision: number, term: number, id: bigint, ttlSeconds: number): Buffer {
    const header = this.headerSize(revision, term);
    const body = 1 + varintSize(header) + header + (id === 0n ? 0 : 1 + varintSize(id)) + numberFieldSize(ttlSeconds);
    const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body);
    let pos = this.writeHeader(out, this.writePrefix(out, body), header, revision, term);
    if (id !== 0n) {
      out[pos++] = TAG_LEASE_ID;
      pos = writeVarint(out, pos, id);
    }
    pos = writeNumberField(out, pos, TAG_LEASE_TTL, ttlSeconds);
    return this.done(out, pos);
  }

  /** A ResponseHeader's own bytes (for a range answer, see range-response.ts). */
  header(revision: number, term: number): Buffer {
    const size = this.headerSize(revision, term);
    const out = Buffer.allocUnsafe(size);
    const ids = this.ids;
    let pos = 0;
    for (let i = 0; i < ids.length; i++) out[pos++] = ids[i]!;
    pos = writeNumberField(out, pos, TAG_REVISION, revision);
    pos = writeNumberField(out, pos, TAG_TERM, term);
    if (pos !== size) throw new Error(`write response: wrote ${pos} header bytes of ${size}`);
    return out;
  }

  private headerSize(revision: number, term: number): number {
    return this.ids.length + numberFieldSize(revision) + numberFieldSize(term);
  }

  private writePrefix(out: Buffer, body: number): number {
    out[0] = 0;
    out.writeUInt32BE(body, 1);
    return FRAME_PREFIX_BYTES;
  }

  private writeHeader(out: Buffer, pos: number, size: number, revision: number, term: number): number {
    out[pos++] = TAG_HEADER;
    pos = writeVarint(out, pos, size);
    const ids = this.ids;
    for (let i = 0; i < ids.length; i++) out[pos++] = ids[i]!;
    pos = writeNumberField(out, pos, TAG_REVISION, revision);
    return writeNumberField(out, pos, TAG_TERM, term);
  }

  private done(out: Buffer, end: number): Buffer {
    if (end !== out.length) throw new Error(`write response: wrote ${end} bytes of ${out.length}`);
    return markFramed(out, 1);
  }
}
