import hpack from 'hpack.js';

/**
 * One decoded header field. `name` and `value` hold the wire bytes as latin1 strings (one
 * char per byte), so decoding then encoding is byte-exact whatever the bytes are.
 */
export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** The sender marked it "never indexed" (RFC 7541 §6.2.3); intermediaries must keep that. */
  readonly neverIndex: boolean;
}

/** HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE, what a client's encoder starts with. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
/** Most fields one block may decode to: a bound on work per block for hostile input. */
const MAX_FIELDS_PER_BLOCK = 1024;
/** RFC 9113 §6.5.2: a field's share of SETTINGS_MAX_HEADER_LIST_SIZE is its name and value octets plus 32. */
const FIELD_OVERHEAD_BYTES = 32;

/**
 * Thrown by {@link HeaderBlockDecoder.decode} when a block decodes to more than the decoder's
 * `maxHeaderListBytes` or to more than 1024 fields (a few bytes of indexed references can
 * expand to megabytes). The whole block was decoded: the context stays in sync, so the
 * receiver may refuse just that stream.
 */
export class HeaderListTooLargeError extends Error {
  constructor(message: string) {
    super(`hpack: ${message}`);
  }
}

/**
 * The receiving half of one HPACK context (RFC 7541): decodes the header blocks of ONE
 * direction of ONE connection, in order, keeping the dynamic table between blocks.
 *
 * Errors: `decode` throws on a malformed block (bad index, truncated integer or string,
 * bad Huffman padding, table size above `maxTableSize`); after that the context is out of
 * sync with the sender and must not be used again (HTTP/2 treats this as a connection error,
 * COMPRESSION_ERROR). A block that decodes to too much throws
 * {@link HeaderListTooLargeError} once decoded to its end, without keeping its fields: the
 * context stays usable. Work per block is linear in its bytes.
 */
export class HeaderBlockDecoder {
  private readonly table;

  /**
   * @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE the decoding side advertised.
   * @param maxHeaderListBytes most a block may decode to, counted as SETTINGS_MAX_HEADER_LIST_SIZE is.
   */
  constructor(maxTableSize: number = DEFAULT_HEADER_TABLE_SIZE, private readonly maxHeaderListBytes: number = Infinity) {
    this.table = hpack.table.create({ maxSize: maxTableSize });
  }

  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    if (block.length === 0) return fields;
    let listBytes = 0;
    let count = 0;
    // Past a limit the block is still decoded to its end (the dynamic table must follow the
    // sender's) but its fields are not kept: they reference table strings, never copies.
    const add = (field: HeaderField): void => {
      listBytes += field.name.length + field.value.length + FIELD_OVERHEAD_BYTES;
      if (++count <= MAX_FIELDS_PER_BLOCK && listBytes <= this.maxHeaderListBytes) fields.push(field);
    };
    const d = hpack.decoder.create();
    d.push(block);
    while (!d.isEmpty()) {
      if (d.decodeBit()) { // 1xxxxxxx indexed field
        const e = this.table.lookup(d.decodeInt());
        if (e === undefined) throw new Error('hpack: index out of range');
        add({ name: e.name, value: e.value, neverIndex: false });
        continue;
      }
      const incremental = d.decodeBit() === 1; // 01xxxxxx literal with incremental indexing
      let neverIndex = false;
      if (!incremental) {
        if (d.decodeBit()) { // 001xxxxx dynamic table size update
          this.table.updateSize(d.decodeInt());
          continue;
        }
        neverIndex = d.decodeBit() === 1; // 0001xxxx never indexed, 0000xxxx without indexing
      }
      const index = d.decodeInt();
      let name: string;
      let nameSize: number;
      if (index === 0) {
        const raw = d.decodeStr();
        name = hpack.utils.stringify(raw);
        nameSize = raw.length;
      } else {
        const e = this.table.lookup(index);
        if (e === undefined) throw new Error('hpack: index out of range');
        name = e.name;
        nameSize = e.nameSize;
      }
      const rawValue = d.decodeStr();
      const value = hpack.utils.stringify(rawValue);
      if (incremental) this.table.add(name, value, nameSize, rawValue.length);
      add({ name, value, neverIndex });
    }
    if (count > MAX_FIELDS_PER_BLOCK) throw new HeaderListTooLargeError(`more than ${MAX_FIELDS_PER_BLOCK} fields in one block`);
    if (listBytes > this.maxHeaderListBytes) throw new HeaderListTooLargeError(`header list larger than ${this.maxHeaderListBytes} bytes`);
    return fields;
  }
}

/**
 * Encodes fields as one header block that leaves the receiver's dynamic table untouched:
 * every field is a literal "without indexing" (or "never indexed" when `neverIndex`) with a
 * literal name and no Huffman coding. A relay that re-encodes with this never has to mirror
 * the receiver's table, at the cost of a few more bytes per request.
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  let size = 0;
  for (const f of fields) size += 1 + 2 * 5 + f.name.length + f.value.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const writeInt = (firstByte: number, prefixBits: number, n: number): void => {
    const max = (1 << prefixBits) - 1;
    if (n < max) { out[at++] = firstByte | n; return; }
    out[at++] = firstByte | max;
    n -= max;
    while (n >= 0x80) { out[at++] = (n & 0x7f) | 0x80; n = Math.floor(n / 0x80); }
    out[at++] = n;
  };
  const writeStr = (s: string): void => {
    writeInt(0x00, 7, s.length); // H bit clear: raw octets
    at += out.write(s, at, 'latin1');
  };
  for (const f of fields) {
    out[at++] = f.neverIndex ? 0x10 : 0x00; // index 0: literal name follows
    writeStr(f.name);
    writeStr(f.value);
  }
  return out.subarray(0, at);
}
