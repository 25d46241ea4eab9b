// A Range answer can hold every key of the store. Encoding it with the generated code is one
// synchronous call that also builds a wire object (bigints) per KV — about half a second for
// 200,000 keys of 256 bytes, with the event loop blocked. Here the KVs are measured, then
// written into one buffer of the right size, in steps that give the event loop back; the KV
// service's serializer passes the bytes through (as the Watch service does for its events), and
// the buffer starts with the gRPC frame prefix, so grpc-js writes it without another copy.
import { etcdserverpb } from '@raftkv/api';
import type { KeyValue, RangeResponse, ReadPacing } from '@raftkv/mvcc';
import { FRAME_PREFIX_BYTES, markFramed, passingEncoded } from './encoded-responses.js';
import { varintSize, writeVarint } from './varint.js';

// RangeResponse fields: header = 1, kvs = 2, more = 3, count = 4; KeyValue: key = 1,
// create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6.
const TAG_HEADER = (1 << 3) | 2;
const TAG_KVS = (2 << 3) | 2;
const TAG_MORE = 3 << 3;
const TAG_COUNT = 4 << 3;
const TAG_KEY = (1 << 3) | 2;
const TAG_CREATE = 2 << 3;
const TAG_MOD = 3 << 3;
const TAG_VERSION = 4 << 3;
const TAG_VALUE = (5 << 3) | 2;
const TAG_LEASE = 6 << 3;

function intField(v: number | bigint): number {
  return v === 0 || v === 0n ? 0 : 1 + varintSize(v);
}

function bytesField(b: Uint8Array): number {
  return b.length === 0 ? 0 : 1 + varintSize(b.length) + b.length;
}

function keyValueSize(kv: KeyValue): number {
  return bytesField(kv.key) + intField(kv.createRevision) + intField(kv.modRevision) + intField(kv.version)
    + bytesField(kv.value) + intField(kv.lease);
}

function writeBytes(out: Buffer, pos: number, tag: number, b: Uint8Array): number {
  if (b.length === 0) return pos;
  out[pos++] = tag;
  pos = writeVarint(out, pos, b.length);
  out.set(b, pos);
  return pos + b.length;
}

function writeInt(out: Buffer, pos: number, tag: number, v: number | bigint): number {
  if (v === 0 || v === 0n) return pos;
  out[pos++] = tag;
  return writeVarint(out, pos, v);
}

/**
 * `RangeResponse{header, kvs, more, count}` as one gRPC frame (marked, see `markFramed`): the
 * frame prefix, then the same bytes the generated encoder gives for `rangeResponseToWire(res,
 * header)`. Built in steps of `pacing.entriesPerStep` KVs with `pacing.pause()` between them.
 */
export async function encodeRangeResponse(res: RangeResponse, header: etcdserverpb.ResponseHeader, pacing: ReadPacing): Promise<Buffer> {
  const headerBytes = etcdserverpb.ResponseHeader.encode(header).finish();
  const sizes = new Array<number>(res.kvs.length);
  let total = headerFieldSize(headerBytes);
  // Awaited only when a step is over: an `await` per KV was two promises and a microtask each
  // (a 100-key answer paid 200 of them).
  let inStep = 0;
  const stepOver = (): boolean => {
    if (++inStep < pacing.entriesPerStep) return false;
    inStep = 0;
    return true;
  };
  for (let i = 0; i < res.kvs.length; i++) {
    const size = keyValueSize(res.kvs[i]!);
    sizes[i] = size;
    total += 1 + varintSize(size) + size;
    if (stepOver()) await pacing.pause();
  }
  total += tailSize(res);
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + total);
  let pos = writeHead(out, total, headerBytes);
  for (let i = 0; i < res.kvs.length; i++) {
    pos = writeKeyValue(out, pos, res.kvs[i]!, sizes[i]!);
    if (stepOver()) await pacing.pause();
  }
  return writeTail(out, pos, res, total);
}

/**
 * {@link encodeRangeResponse} at once, for an answer of at most one KV (a single-key get),
 * given the ResponseHeader's own bytes: no steps, no promises.
 */
export function encodeSmallRangeResponse(res: RangeResponse, headerBytes: Uint8Array): Buffer {
  if (res.kvs.length > 1) throw new RangeError(`encodeSmallRangeResponse: ${res.kvs.length} KVs`);
  const kv = res.kvs[0];
  const size = kv === undefined ? 0 : keyValueSize(kv);
  const total = headerFieldSize(headerBytes) + (kv === undefined ? 0 : 1 + varintSize(size) + size) + tailSize(res);
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + total);
  let pos = writeHead(out, total, headerBytes);
  if (kv !== undefined) pos = writeKeyValue(out, pos, kv, size);
  return writeTail(out, pos, res, total);
}

function headerFieldSize(headerBytes: Uint8Array): number {
  return 1 + varintSize(headerBytes.length) + headerBytes.length;
}

/** `more` and `count`. */
function tailSize(res: RangeResponse): number {
  return (res.more ? 2 : 0) + intField(res.count);
}

/** The frame prefix and the header field; the position after them. */
function writeHead(out: Buffer, total: number, headerBytes: Uint8Array): number {
  out[0] = 0; // not compressed
  out.writeUInt32BE(total, 1);
  let pos = FRAME_PREFIX_BYTES;
  out[pos++] = TAG_HEADER;
  pos = writeVarint(out, pos, headerBytes.length);
  out.set(headerBytes, pos);
  return pos + headerBytes.length;
}

function writeKeyValue(out: Buffer, pos: number, kv: KeyValue, size: number): number {
  out[pos++] = TAG_KVS;
  pos = writeVarint(out, pos, size);
  pos = writeBytes(out, pos, TAG_KEY, kv.key);
  pos = writeInt(out, pos, TAG_CREATE, kv.createRevision);
  pos = writeInt(out, pos, TAG_MOD, kv.modRevision);
  pos = writeInt(out, pos, TAG_VERSION, kv.version);
  pos = writeBytes(out, pos, TAG_VALUE, kv.value);
  return writeInt(out, pos, TAG_LEASE, kv.lease);
}

function writeTail(out: Buffer, pos: number, res: RangeResponse, total: number): Buffer {
  if (res.more) {
    out[pos++] = TAG_MORE;
    out[pos++] = 1;
  }
  pos = writeInt(out, pos, TAG_COUNT, res.count);
  if (pos !== FRAME_PREFIX_BYTES + total) throw new Error(`range response: wrote ${pos - FRAME_PREFIX_BYTES} bytes of ${total}`);
  return markFramed(out, 1);
}

/** The KV service definition, with Range, Put and Txn serializers that pass pre-encoded responses through (Put, Txn: write-responses.ts). */
export const KVServiceWithEncodedRange = {
  ...etcdserverpb.KVService,
  range: passingEncoded(etcdserverpb.KVService.range),
  put: passingEncoded(etcdserverpb.KVService.put),
  txn: passingEncoded(etcdserverpb.KVService.txn),
} as const;
