// The bbolt on-disk layout (go.etcd.io/bbolt v1.3: page.go, db.go, bucket.go, freelist.go).
// Every integer is little-endian. A page starts with a 16-byte header; what follows depends
// on its flags.

/** `page{id u64, flags u16, count u16, overflow u32}`. */
export const PAGE_HEADER_SIZE = 16;
/** `leafPageElement{flags, pos, ksize, vsize u32}` and `branchPageElement{pos, ksize u32, pgid u64}`. */
export const ELEMENT_SIZE = 16;
/** `bucket{root pgid u64, sequence u64}`: the head of a bucket's value in its parent. */
export const BUCKET_HEADER_SIZE = 16;
/** `meta{magic, version, pageSize, flags u32; root bucket; freelist, pgid, txid, checksum u64}`. */
export const META_SIZE = 64;
/** The checksum covers the meta up to the checksum field. */
export const META_CHECKSUM_OFFSET = 56;

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;

/** A leaf element whose value is a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

/** The freelist page id bbolt writes when it does not persist the freelist. */
export const NO_FREELIST = 0xffffffffffffffffn;

/** The page size etcd's bbolt uses on Linux (the OS page size). */
export const DEFAULT_PAGE_SIZE = 4096;

/** The decoded meta page: which page holds the root bucket and the freelist, how big the file is. */
export interface Meta {
  pageSize: number;
  flags: number;
  /** Page of the root bucket's tree (its keys are the top-level bucket names). */
  root: number;
  rootSequence: bigint;
  /** Freelist page, or -1 when bbolt did not persist it. */
  freelist: number;
  /** High-water mark: the number of pages the tree may use. */
  pgid: number;
  txid: bigint;
  checksum: bigint;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = 0xffffffffffffffffn;

/** FNV-1a, 64-bit: the checksum of bbolt's meta pages. */
export function fnv64a(bytes: Uint8Array, start = 0, end = bytes.length): bigint {
  // Two 32-bit halves would be faster; 56 bytes per file is not worth it.
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    h ^= BigInt(bytes[i]!);
    h = (h * FNV_PRIME) & U64;
  }
  return h;
}

/** Writes a meta page (header and meta, checksum computed) for page `id`. */
export function encodeMetaPage(id: number, m: Omit<Meta, 'checksum'>): Buffer {
  const page = Buffer.alloc(m.pageSize);
  page.writeBigUInt64LE(BigInt(id), 0);
  page.writeUInt16LE(META_PAGE, 8);
  const o = PAGE_HEADER_SIZE;
  page.writeUInt32LE(MAGIC, o);
  page.writeUInt32LE(VERSION, o + 4);
  page.writeUInt32LE(m.pageSize, o + 8);
  page.writeUInt32LE(m.flags, o + 12);
  page.writeBigUInt64LE(BigInt(m.root), o + 16);
  page.writeBigUInt64LE(m.rootSequence, o + 24);
  page.writeBigUInt64LE(m.freelist < 0 ? NO_FREELIST : BigInt(m.freelist), o + 32);
  page.writeBigUInt64LE(BigInt(m.pgid), o + 40);
  page.writeBigUInt64LE(m.txid, o + 48);
  page.writeBigUInt64LE(fnv64a(page, o, o + META_CHECKSUM_OFFSET), o + 56);
  return page;
}

/** Thrown for anything that is not a well-formed bbolt file: it names the page and what is wrong. */
export class BoltFormatError extends Error {
  constructor(message: string) {
    super(`bbolt: ${message}`);
    this.name = 'BoltFormatError';
  }
}
