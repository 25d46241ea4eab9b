import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHeaderBlock, HeaderBlockDecoder, HeaderListTooLargeError, type HeaderField } from './header-block.js';

describe('HPACK header blocks', () => {
  // RFC 7541 C.4.1 and C.4.2: a request with Huffman-coded literals, then one that refers to
  // the dynamic table entry the first one added.
  it('decodes the RFC 7541 Huffman examples, keeping the dynamic table between blocks', () => {
    const d = new HeaderBlockDecoder();
    const first = d.decode(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex'));
    expect(first.map((f) => [f.name, f.value])).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    const second = d.decode(Buffer.from('828684be5886a8eb10649cbf', 'hex'));
    expect(second.map((f) => [f.name, f.value])).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
  });

  it('the re-encoding round-trips any fields and leaves the receiver table empty', () => {
    const byteString = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
    fc.assert(fc.property(fc.array(fc.record({ name: byteString, value: byteString, neverIndex: fc.boolean() }), { maxLength: 20 }),
      (fields: HeaderField[]) => {
        const d = new HeaderBlockDecoder();
        expect(d.decode(encodeHeaderBlock(fields))).toEqual(fields);
        // Nothing was indexed: a block referring to the first dynamic entry (62) must fail.
        expect(() => d.decode(Buffer.from([0x80 | 62]))).toThrow();
      }));
  });

  it('decoding arbitrary bytes returns or throws an Error, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        new HeaderBlockDecoder().decode(Buffer.from(bytes));
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
      }
    }), { numRuns: 2000 });
  });

  it('a block over maxHeaderListBytes throws HeaderListTooLargeError after decoding it whole: the table stays in step', () => {
    const d = new HeaderBlockDecoder(4096, 65_535);
    // Enters ('x-bomb', 4000 x 'a') in the dynamic table, then refers to it 100 times: ~400 KB.
    const literal = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), Buffer.from([0x7f, (3873 & 0x7f) | 0x80, 3873 >> 7]), Buffer.alloc(4_000, 0x61)]);
    expect(() => d.decode(Buffer.concat([literal, Buffer.alloc(100, 0x80 | 62)]))).toThrow(HeaderListTooLargeError);
    // The entry added by the refused block is there for the next one.
    expect(d.decode(Buffer.from([0x80 | 62])).map((f) => [f.name, f.value.length])).toEqual([['x-bomb', 4_000]]);
    // Just under the limit passes: 16 references are 16 x 4038 bytes.
    expect(d.decode(Buffer.alloc(16, 0x80 | 62))).toHaveLength(16);
    expect(() => d.decode(Buffer.alloc(17, 0x80 | 62))).toThrow(HeaderListTooLargeError);
  });

  it('more than 1024 fields in one block throws HeaderListTooLargeError, the table in step', () => {
    const d = new HeaderBlockDecoder();
    expect(() => d.decode(Buffer.alloc(1025, 0x82))).toThrow(HeaderListTooLargeError); // 1025 x ":method GET"
    expect(d.decode(Buffer.alloc(1024, 0x82))).toHaveLength(1024);
  });

});

