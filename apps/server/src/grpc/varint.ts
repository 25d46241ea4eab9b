// Protobuf varints for the answers this server encodes by hand (range, put, lease grant, watch,
// snapshot): one writer, so each encoder cannot drift from the generated one in its own way.
// Numbers are written with arithmetic, not 32-bit operators, above 2^31 (revisions, terms and
// byte counts may pass it); an int64 below zero takes 10 bytes, as protobuf writes it.

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Bytes of the varint of `v` (an int64 or uint64; a number must be an integer). */
export function varintSize(v: number | bigint): number {
  if (typeof v === 'bigint') {
    if (v >= 0n && v <= SAFE) return varintSize(Number(v));
  } else if (v >= 0 && v < 2 ** 31) {
    let n = 1;
    for (let x = v; x >= 0x80; x >>>= 7) n++;
    return n;
  } else if (v > 0 && v <= Number.MAX_SAFE_INTEGER) {
    let n = 1;
    for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
    return n;
  }
  let u = BigInt.asUintN(64, BigInt(v));
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

/** Writes the varint of `v` at `out[pos]`; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, v: number | bigint): number {
  if (typeof v === 'bigint') {
    if (v >= 0n && v <= SAFE) return writeVarint(out, pos, Number(v));
  } else if (v >= 0 && v < 2 ** 31) {
    let x = v;
    while (x >= 0x80) {
      out[pos++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    out[pos++] = x;
    return pos;
  } else if (v > 0 && v <= Number.MAX_SAFE_INTEGER) {
    let x = v;
    while (x >= 0x80) {
      out[pos++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    out[pos++] = x;
    return pos;
  }
  let u = BigInt.asUintN(64, BigInt(v));
  while (u >= 0x80n) {
    out[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  out[pos++] = Number(u);
  return pos;
}

/** A tag followed by the varint of `v`, as a Buffer of its own (for bytes encoded once and kept). */
export function taggedVarint(tag: number, v: number | bigint): Buffer {
  const out = Buffer.allocUnsafe(1 + varintSize(v));
  out[0] = tag;
  writeVarint(out, 1, v);
  return out;
}
