import { BinaryReader } from '@bufbuild/protobuf/wire';

/**
 * A reader whose bytes fields decode as views of its input instead of copies
 * ({@link decodeViewing}). Nested messages are decoded from the same reader, so the whole
 * message tree shares the input's memory.
 */
class ViewReader extends BinaryReader {}

/**
 * A bytes field of a generated decoder (scripts/bytes-views.mjs): a copy of its bytes, or with a
 * {@link ViewReader} a view of the input. The view skips the reader's `subarray` as well as the copy.
 */
export function readBytes(reader: BinaryReader): Buffer {
  if (!(reader instanceof ViewReader)) return Buffer.from(reader.bytes());
  const n = reader.uint32();
  const start = reader.pos;
  reader.pos += n;
  if (reader.pos > reader.len) throw new RangeError('premature EOF');
  const buf = (reader as unknown as { buf: Uint8Array }).buf;
  return Buffer.from(buf.buffer, buf.byteOffset + start, n);
}

/**
 * Decodes `bytes` with `codec`, its bytes fields (keys, values, range ends) as views of `bytes`
 * rather than copies. Only for input that is never written to or reused afterwards, and whose
 * decoded message does not outlive it in a way that matters: each view keeps all of `bytes` alive.
 */
export function decodeViewing<T>(codec: { decode(input: BinaryReader | Uint8Array): T }, bytes: Uint8Array): T {
  return codec.decode(new ViewReader(bytes));
}
