// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd's Hash and
// HashKV use; node 20's zlib has only the IEEE polynomial.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Incremental CRC-32C: feed bytes with `update`, read the checksum with `sum`. */
export class Crc32c {
  private crc = 0xffffffff;

  update(bytes: Uint8Array): this {
    let c = this.crc;
    for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    this.crc = c;
    return this;
  }

  sum(): number {
    return (this.crc ^ 0xffffffff) >>> 0;
  }
}
