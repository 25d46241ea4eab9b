// The answers to a put and a lease grant, the commonest writes, encoded by hand straight into
// their gRPC frame. The generated encoders build a wire object with four BigInts for the header,
// check each BigInt's range, grow a fresh writer from 128 bytes and copy its bytes out, and the
// unary path then copies them again behind the 5-byte prefix. The header's cluster and member
// IDs are the same in every answer of a member: their bytes are encoded once.
import type { ResponseOp } from '@raftkv/mvcc';
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
// TxnResponse: header = 1, succeeded = 2, responses = 3. ResponseOp: response_put = 2.
const TAG_SUCCEEDED = 2 << 3;
const TAG_RESPONSES = (3 << 3) | 2;
const TAG_RESPONSE_PUT = (2 << 3) | 2;

/** A ResponseOp of a put in a txn, no prev_kv: its PutResponse's header holds only the revision. */
function putOpSize(revision: number): number {
  const header = numberFieldSize(revision);
  const put = 2 + header;
  return 1 + varintSize(put) + put;
}

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

  /**
   * A TxnResponse whose ops are all puts without prev_kv (a bulk load's txn), or undefined for
   * any other: each op's answer is a PutResponse whose header holds only its revision, as etcd
   * nests them (convert.ts). Spares a wire object, a header and a BigInt per op, and the
   * generated encoder.
   */
  txnOfPuts(revision: number, term: number, succeeded: boolean, ops: readonly ResponseOp[]): Buffer | undefined {
    let opsBytes = 0;
    for (const op of ops) {
      if (!('put' in op) || op.put.prevKv !== undefined) return undefined;
      const size = putOpSize(op.put.revision);
      opsBytes += 1 + varintSize(size) + size;
    }
    const header = this.headerSize(revision, term);
    const body = 1 + varintSize(header) + header + (succeeded ? 2 : 0) + opsBytes;
    const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body);
    let pos = this.writeHeader(out, this.writePrefix(out, body), header, revision, term);
    if (succeeded) {
      out[pos++] = TAG_SUCCEEDED;
      out[pos++] = 1;
    }
    for (const op of ops) {
      const rev = (op as { put: { revision: number } }).put.revision;
      const size = putOpSize(rev);
      const put = size - 2;
      out[pos++] = TAG_RESPONSES;
      pos = writeVarint(out, pos, size);
      out[pos++] = TAG_RESPONSE_PUT;
      pos = writeVarint(out, pos, put);
      out[pos++] = TAG_HEADER;
      out[pos++] = put - 2;
      pos = writeNumberField(out, pos, TAG_REVISION, rev);
    }
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
