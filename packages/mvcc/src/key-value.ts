import { assertRevisionNumber } from './revision.js';

/**
 * One version of a key, as etcd's mvccpb.KeyValue. Objects returned by the store are
 * shared snapshots: treat them (and their byte arrays) as read-only.
 */
export interface KeyValue {
  key: Uint8Array;
  /** Revision of the put that created this generation of the key (0 for a deletion). */
  createRevision: number;
  /** Revision of the last change of the key. */
  modRevision: number;
  /** Number of puts since the key was (re)created; 0 for a deletion. */
  version: number;
  value: Uint8Array;
  /** Lease attached to the key; `0n` means none. */
  lease: bigint;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const newBytes = (n: number): Uint8Array => new Uint8Array(n);

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

function leaseVarint(lease: bigint): Uint8Array {
  // int64 on the wire: negatives are their 64-bit two's complement (10 bytes).
  let v = BigInt.asUintN(64, lease);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Uint8Array.from(bytes);
}

/**
 * Encodes a KeyValue exactly as gogoproto marshals mvccpb.KeyValue: fields in number
 * order, proto3 zero values omitted. Equal bytes are what makes hashKV agree with etcd.
 * `alloc(n)` gives the n-byte output buffer (default: a new one); every byte is written.
 */
export function encodeKeyValue(kv: KeyValue, alloc: (bytes: number) => Uint8Array = newBytes): Uint8Array {
  return writeKeyValue(kv.key, kv.createRevision, kv.modRevision, kv.version, kv.value, kv.lease, alloc, undefined);
}

/** {@link encodeKeyValue} of these fields (no KeyValue object made for it); `alloc` as there. */
export function encodeKeyValueOf(
  key: Uint8Array, createRevision: number, modRevision: number, version: number, value: Uint8Array, lease: bigint,
  alloc: (bytes: number) => Uint8Array = newBytes,
): Uint8Array {
  return writeKeyValue(key, createRevision, modRevision, version, value, lease, alloc, undefined);
}

/** Where writeKeyValue put the key and the value in its output. */
interface Placed { key: number; value: number }

function writeKeyValue(
  key: Uint8Array, createRevision: number, modRevision: number, version: number, value: Uint8Array, lease: bigint,
  alloc: (bytes: number) => Uint8Array, placed: Placed | undefined,
): Uint8Array {
  const leaseBytes = lease === 0n ? undefined : leaseVarint(lease);
  let size = 0;
  if (key.length > 0) size += 1 + varintLength(key.length) + key.length;
  if (createRevision !== 0) size += 1 + varintLength(createRevision);
  if (modRevision !== 0) size += 1 + varintLength(modRevision);
  if (version !== 0) size += 1 + varintLength(version);
  if (value.length > 0) size += 1 + varintLength(value.length) + value.length;
  if (leaseBytes) size += 1 + leaseBytes.length;
  const out = alloc(size);
  let pos = 0;
  if (key.length > 0) {
    out[pos++] = 0x0a;
    pos = writeVarint(out, pos, key.length);
    if (placed) placed.key = pos;
    out.set(key, pos);
    pos += key.length;
  }
  if (createRevision !== 0) {
    out[pos++] = 0x10;
    pos = writeVarint(out, pos, createRevision);
  }
  if (modRevision !== 0) {
    out[pos++] = 0x18;
    pos = writeVarint(out, pos, modRevision);
  }
  if (version !== 0) {
    out[pos++] = 0x20;
    pos = writeVarint(out, pos, version);
  }
  if (value.length > 0) {
    out[pos++] = 0x2a;
    pos = writeVarint(out, pos, value.length);
    if (placed) placed.value = pos;
    out.set(value, pos);
    pos += value.length;
  }
  if (leaseBytes) {
    out[pos++] = 0x30;
    out.set(leaseBytes, pos);
    pos += leaseBytes.length;
  }
  return out;
}

/** Reused by encodeKeyValueOwned (synchronous): where the key and value landed. */
const PLACED: Placed = { key: 0, value: 0 };

/**
 * Encodes a KeyValue of these fields and returns the bytes plus a KeyValue whose key and value
 * are views into them: one allocation instead of three copies on the write path, and the
 * caller's buffers are not retained. `alloc` gives the output buffer (exactly the encoded
 * size; every byte is written). Fields are passed one by one so that the write path builds
 * one KeyValue object per put, not an argument object and then its copy.
 */
export function encodeKeyValueOwned(
  key: Uint8Array, createRevision: number, modRevision: number, version: number, value: Uint8Array, lease: bigint,
  alloc: (bytes: number) => Uint8Array = newBytes,
): { bytes: Uint8Array; kv: KeyValue } {
  const bytes = writeKeyValue(key, createRevision, modRevision, version, value, lease, alloc, PLACED);
  const kv: KeyValue = {
    key: key.length > 0 ? bytes.subarray(PLACED.key, PLACED.key + key.length) : EMPTY,
    createRevision,
    modRevision,
    version,
    value: value.length > 0 ? bytes.subarray(PLACED.value, PLACED.value + value.length) : EMPTY,
    lease,
  };
  return { bytes, kv };
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varintBig(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new RangeError('KeyValue: varint too long');
  }

  /** A non-negative int64 that must fit a JS number (revisions, versions, lengths). */
  varintNumber(what: string): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        assertRevisionNumber(result, `KeyValue ${what}`);
        return result;
      }
      mul *= 128;
    }
    throw new RangeError('KeyValue: varint too long');
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError('KeyValue: truncated');
    return this.buf[this.pos++]!;
  }

  bytes(): Uint8Array {
    const len = this.varintNumber('length');
    if (this.pos + len > this.buf.length) throw new RangeError('KeyValue: truncated bytes field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

/** What rebuilding the index (and checking an import) needs from stored KeyValue bytes. */
export interface KeyValueIndexFields {
  keyStart: number;
  keyEnd: number;
  createRevision: number;
  modRevision: number;
  version: number;
}

/**
 * Reads the key position, revisions and version of KeyValue bytes into `out` without
 * allocating (the open path parses every stored revision, an import checks every entry);
 * throws on malformed input, as {@link decodeKeyValue} does.
 */
export function peekKeyValue(buf: Uint8Array, out: KeyValueIndexFields): void {
  const r = new Reader(buf);
  out.keyStart = out.keyEnd = out.createRevision = out.modRevision = out.version = 0;
  while (r.pos < buf.length) {
    const tag = r.byte();
    switch (tag) {
      case 0x0a:
      case 0x2a: {
        const len = r.varintNumber('length');
        if (r.pos + len > buf.length) throw new RangeError('KeyValue: truncated bytes field');
        if (tag === 0x0a) {
          out.keyStart = r.pos;
          out.keyEnd = r.pos + len;
        }
        r.pos += len;
        break;
      }
      case 0x10:
        out.createRevision = r.varintNumber('create_revision');
        break;
      case 0x18:
        out.modRevision = r.varintNumber('mod_revision');
        break;
      case 0x20:
        out.version = r.varintNumber('version');
        break;
      case 0x30:
        r.varintBig();
        break;
      default:
        throw new RangeError(`KeyValue: unexpected tag 0x${tag.toString(16)}`);
    }
  }
}

const scratch: KeyValueIndexFields = { keyStart: 0, keyEnd: 0, createRevision: 0, modRevision: 0, version: 0 };

/** The mod_revision of KeyValue bytes (0 when absent), checked as {@link peekKeyValue} checks them. */
export function keyValueModRevision(buf: Uint8Array): number {
  peekKeyValue(buf, scratch);
  return scratch.modRevision;
}

/**
 * Decodes mvccpb.KeyValue bytes; throws on malformed input. Copies `buf` once (it may be
 * an LMDB buffer reused by the next read); key and value are views into that copy.
 */
export function decodeKeyValue(buf: Uint8Array): KeyValue {
  return decodeKeyValueShared(new Uint8Array(buf));
}

/** Like {@link decodeKeyValue} without the copy: key and value are views into `buf`. */
export function decodeKeyValueShared(buf: Uint8Array): KeyValue {
  const r = new Reader(buf);
  const kv: KeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
  while (r.pos < buf.length) {
    const tag = r.byte();
    switch (tag) {
      case 0x0a:
        kv.key = r.bytes();
        break;
      case 0x10:
        kv.createRevision = r.varintNumber('create_revision');
        break;
      case 0x18:
        kv.modRevision = r.varintNumber('mod_revision');
        break;
      case 0x20:
        kv.version = r.varintNumber('version');
        break;
      case 0x2a:
        kv.value = r.bytes();
        break;
      case 0x30:
        kv.lease = BigInt.asIntN(64, r.varintBig());
        break;
      default:
        throw new RangeError(`KeyValue: unexpected tag 0x${tag.toString(16)}`);
    }
  }
  return kv;
}
