import { MAX_LEASE_TTL_SECONDS } from './lease-ttl.js';

/**
 * The durable part of a lease: what `LeaseStore.put` receives (encoded) and what recovery
 * reads back. Expiry times are deliberately absent: they are local wall-clock facts, rebuilt
 * by `promote`; only the checkpointed remaining TTL survives a restart.
 */
export interface LeaseRecord {
  readonly id: bigint;
  /** Granted TTL in seconds, 1..MAX_LEASE_TTL_SECONDS. */
  readonly ttlSeconds: number;
  /** Last checkpointed remaining TTL in seconds; 0 = none (use the full TTL). */
  readonly remainingTtlSeconds: number;
}

// Layout, version 1 (11 bytes for typical TTLs, 19 at most):
//   u8 version | i64 big-endian id | uvarint ttl | uvarint remainingTtl
// Big-endian id so a store that keys by these bytes' id prefix sorts like etcd's lease bucket.
const VERSION = 1;
const ID_BYTES = 8;
// MAX_LEASE_TTL_SECONDS < 2^34, so a canonical varint needs at most 5 bytes.
const MAX_VARINT_BYTES = 5;
const MAX_RECORD_BYTES = 1 + ID_BYTES + 2 * MAX_VARINT_BYTES;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Throws RangeError unless `id` is a valid lease ID: a non-zero signed 64-bit integer. */
export function assertLeaseId(id: bigint): void {
  if (typeof id !== 'bigint' || id === 0n || id < INT64_MIN || id > INT64_MAX) {
    throw new RangeError(`lease ID must be a non-zero int64 bigint, got ${String(id)}`);
  }
}

function assertSeconds(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > MAX_LEASE_TTL_SECONDS) {
    throw new RangeError(`${name} must be an integer in [${min}, ${MAX_LEASE_TTL_SECONDS}], got ${value}`);
  }
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, offset: number, value: number): number {
  // Arithmetic, not bit operations: values exceed 32 bits.
  while (value >= 0x80) {
    out[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[offset++] = value;
  return offset;
}

/** Encodes a lease record. Validates first: an invalid record never reaches the store. */
export function encodeLease(record: LeaseRecord): Uint8Array {
  assertLeaseId(record.id);
  assertSeconds('ttlSeconds', record.ttlSeconds, 1);
  assertSeconds('remainingTtlSeconds', record.remainingTtlSeconds, 0);
  const out = new Uint8Array(
    1 + ID_BYTES + varintLength(record.ttlSeconds) + varintLength(record.remainingTtlSeconds),
  );
  out[0] = VERSION;
  new DataView(out.buffer).setBigInt64(1, record.id, false);
  const end = writeVarint(out, writeVarint(out, 1 + ID_BYTES, record.ttlSeconds), record.remainingTtlSeconds);
  if (end !== out.length) throw new Error('lease codec: length mismatch (bug)');
  return out;
}

/**
 * Decodes bytes written by {@link encodeLease}. Rejects anything else (unknown version,
 * short or trailing bytes, non-canonical varints, out-of-range values) with a RangeError:
 * a corrupt lease store must stop recovery, not grant a wrong lease.
 */
export function decodeLease(bytes: Uint8Array): LeaseRecord {
  if (bytes.length < 1 + ID_BYTES + 2 || bytes.length > MAX_RECORD_BYTES) {
    throw new RangeError(`corrupt lease record: length ${bytes.length}`);
  }
  if (bytes[0] !== VERSION) throw new RangeError(`corrupt lease record: version ${bytes[0]}`);
  const id = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(1, false);
  let offset = 1 + ID_BYTES;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (offset >= bytes.length) throw new RangeError('corrupt lease record: truncated varint');
      const b = bytes[offset++] as number;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new RangeError('corrupt lease record: non-canonical varint');
        return value;
      }
      scale *= 0x80;
    }
    throw new RangeError('corrupt lease record: varint too long');
  };
  const ttlSeconds = readVarint();
  const remainingTtlSeconds = readVarint();
  if (offset !== bytes.length) throw new RangeError('corrupt lease record: trailing bytes');
  try {
    assertLeaseId(id);
    assertSeconds('ttlSeconds', ttlSeconds, 1);
    assertSeconds('remainingTtlSeconds', remainingTtlSeconds, 0);
  } catch (err) {
    throw new RangeError(`corrupt lease record: ${(err as Error).message}`);
  }
  return { id, ttlSeconds, remainingTtlSeconds };
}
