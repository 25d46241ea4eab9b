import type { BinaryReader } from '@bufbuild/protobuf/wire';

/** A tag whose field number (the largest there is) no message of ours has: decoders skip it. */
const UNKNOWN_FIELD_TAG = 0x1fffffff << 3;

/**
 * Reads a field tag as etcd's Go decoder does. A tag varint over 32 bits is read whole, its field
 * number taken as Go's int32(wire >> 3): not positive, it is an illegal tag; otherwise it is some
 * field no message has, skipped by its wire type — never, as a truncating read would have it,
 * one of the message's own fields. Used by the generated decoders (scripts/strict-decode.mjs).
 */
export function readTag(reader: BinaryReader): number {
  const start = reader.pos;
  const tag = reader.uint32();
  const length = reader.pos - start;
  const buf = (reader as unknown as { buf: Uint8Array }).buf;
  if (length < 5 || (length === 5 && buf[reader.pos - 1]! <= 0x0f)) return tag;
  let wire = 0n;
  for (let i = start, shift = 0n; i < reader.pos; i++, shift += 7n) wire |= BigInt(buf[i]! & 0x7f) << shift;
  wire = BigInt.asUintN(64, wire);
  const field = Number(BigInt.asIntN(32, wire >> 3n));
  const wireType = Number(wire & 7n);
  if (field <= 0) throw new Error(`proto: illegal tag ${field} (wire type ${wireType})`);
  return UNKNOWN_FIELD_TAG | wireType;
}

/** Go reads at most 10 bytes of a varint (64 bits); an 11th is "proto: integer overflow". */
const MAX_VARINT_BYTES = 10;

/**
 * Skips an unknown field as etcd's Go decoder does: a varint longer than 64 bits is refused
 * rather than skipped (the reader's own skip scans any length). Other wire types skip as before.
 */
export function skipField(reader: BinaryReader, wireType: number): void {
  if (wireType !== 0) {
    reader.skip(wireType);
    return;
  }
  const buf = (reader as unknown as { buf: Uint8Array }).buf;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const pos = reader.pos + i;
    if (pos >= reader.len) throw new Error('proto: unexpected EOF');
    if ((buf[pos]! & 0x80) === 0) {
      reader.pos = pos + 1;
      return;
    }
  }
  throw new Error('proto: integer overflow');
}
