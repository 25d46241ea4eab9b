// The parts of hpack.js (MIT, no bundled types) that header-block.ts uses.
declare module 'hpack.js' {
  interface HpackDecoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    /** Raw bytes (a Buffer for plain strings, a number[] after Huffman decoding). */
    decodeStr(): ArrayLike<number>;
  }
  interface HpackTableEntry { name: string; value: string; nameSize: number; valueSize: number }
  interface HpackTable {
    lookup(index: number): HpackTableEntry;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
    size: number;
  }
  const hpack: {
    decoder: { create(): HpackDecoder };
    table: { create(options: { maxSize: number }): HpackTable };
    utils: { stringify(bytes: ArrayLike<number>): string };
  };
  export default hpack;
}
