// Reads a bbolt file: picks the newest valid meta page, then walks bucket trees page by page
// (nothing is loaded whole, so a file of any size can be read). Every offset, length and page
// id is checked before use: a damaged file gives a BoltFormatError naming the page, never a
// hang, a crash or an out-of-range read.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  BoltFormatError, BRANCH_PAGE, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, DEFAULT_PAGE_SIZE, ELEMENT_SIZE, FREELIST_PAGE,
  fnv64a, LEAF_PAGE, MAGIC, META_CHECKSUM_OFFSET, META_PAGE, META_SIZE, NO_FREELIST, PAGE_HEADER_SIZE, VERSION,
  type Meta,
} from './format.js';

/** Where the bytes come from: a file descriptor or a buffer. */
interface PageSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
  close(): void;
}

class BufferSource implements PageSource {
  constructor(private readonly buf: Uint8Array) {}
  get size(): number { return this.buf.length; }
  read(offset: number, length: number): Buffer {
    if (offset + length > this.buf.length) throw new BoltFormatError(`buffer ended at byte ${this.buf.length}, wanted ${length} bytes from ${offset}`);
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + offset, length);
  }
  close(): void {}
}

/**
 * Bytes read from the file at once: a walk's pages are mostly in file order, one read serves
 * many. 64 KiB, under malloc's mmap threshold: windows of 1 MiB were each mmapped fresh and
 * page-faulted in (1.2 s of a 1M-key restore), these reuse freed heap memory.
 */
const WINDOW_BYTES = 1 << 16;

class FileSource implements PageSource {
  readonly size: number;
  /** The last window read and where it starts; pages inside it are views of it, never copied. */
  private window: Buffer = Buffer.alloc(0);
  private windowAt = 0;
  constructor(private readonly fd: number) { this.size = fstatSync(fd).size; }
  read(offset: number, length: number): Buffer {
    if (offset >= this.windowAt && offset + length <= this.windowAt + this.window.length) {
      return this.window.subarray(offset - this.windowAt, offset - this.windowAt + length);
    }
    // A new window each time (not reused): the views handed out stay valid while anyone holds them.
    const n = Math.max(length, Math.min(WINDOW_BYTES, this.size - offset));
    const buf = this.readAt(offset, n);
    this.window = buf;
    this.windowAt = offset;
    return buf.subarray(0, length);
  }
  private readAt(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new BoltFormatError(`file ended at byte ${offset + done}, wanted ${length} bytes from ${offset}`);
      done += n;
    }
    return buf;
  }
  close(): void { closeSync(this.fd); }
}

/** Nested more deeply than this, a tree is taken for a reference loop (bbolt's trees of 1e9 keys are < 10 deep). */
const MAX_TREE_DEPTH = 64;
/** bbolt's maxAllocSize: no page (with its overflow) is larger. */
const MAX_PAGE_BYTES = 0x7fffffff;

/** One key of a bucket, in byte order. `bucket` marks a nested bucket (open it with {@link BoltBucket.bucket}). */
export interface BoltEntry {
  key: Buffer;
  value: Buffer;
  bucket: boolean;
}

/** A decoded page (or an inline bucket's page), its bytes bounds-checked. */
class Page {
  constructor(readonly buf: Buffer, readonly flags: number, readonly count: number, readonly where: string) {
    const need = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
    if (need > buf.length) throw new BoltFormatError(`${where}: ${count} elements do not fit in ${buf.length} bytes`);
  }

  private slice(elemOffset: number, pos: number, len: number, what: string): Buffer {
    const start = elemOffset + pos;
    if (start + len > this.buf.length) throw new BoltFormatError(`${this.where}: ${what} at ${start}+${len} runs past the page (${this.buf.length} bytes)`);
    return this.buf.subarray(start, start + len);
  }

  leaf(i: number): { flags: number; key: Buffer; value: Buffer } {
    const o = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const flags = this.buf.readUInt32LE(o);
    const pos = this.buf.readUInt32LE(o + 4);
    const ksize = this.buf.readUInt32LE(o + 8);
    const vsize = this.buf.readUInt32LE(o + 12);
    const start = o + pos;
    const end = start + ksize + vsize;
    if (end > this.buf.length) throw new BoltFormatError(`${this.where}: element ${i} at ${start}+${ksize + vsize} runs past the page (${this.buf.length} bytes)`);
    return { flags, key: this.buf.subarray(start, start + ksize), value: this.buf.subarray(start + ksize, end) };
  }

  branch(i: number): { key: Buffer; pgid: bigint } {
    const o = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const pos = this.buf.readUInt32LE(o);
    const ksize = this.buf.readUInt32LE(o + 4);
    return { key: this.slice(o, pos, ksize, `element ${i}`), pgid: this.buf.readBigUInt64LE(o + 8) };
  }
}

/**
 * A bbolt database file opened read-only.
 *
 * @example
 * const db = BoltReader.open('snapshot.db');
 * try { for (const e of db.bucket('key')!.entries()) use(e.key, e.value); } finally { db.close(); }
 */
export class BoltReader {
  /** The meta page in force (the valid one with the higher txid). */
  readonly meta: Meta;

  private constructor(private readonly src: PageSource) {
    try {
      this.meta = pickMeta(src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** Opens a file (a bbolt db, or an etcd snapshot with its 32-byte sha256 trailer: trailing bytes are ignored). */
  static open(path: string): BoltReader {
    return new BoltReader(new FileSource(openSync(path, 'r')));
  }

  /** Reads a file already in memory. */
  static fromBuffer(buf: Uint8Array): BoltReader {
    return new BoltReader(new BufferSource(buf));
  }

  /** Bytes the database uses: high-water page × page size (bbolt's `Tx.Size`, etcdctl's "TOTAL SIZE"). */
  get size(): number { return this.meta.pgid * this.meta.pageSize; }

  /** The root bucket: its entries are the top-level buckets. */
  root(): BoltBucket {
    return new BoltBucket(this, { root: this.meta.root, inline: undefined }, 'root bucket');
  }

  /** A top-level bucket, or a nested one by path; undefined when absent. */
  bucket(...path: Array<string | Uint8Array>): BoltBucket | undefined {
    let b: BoltBucket | undefined = this.root();
    for (const name of path) {
      b = b.bucket(name);
      if (b === undefined) return undefined;
    }
    return b;
  }

  /** Page ids the freelist names as free (empty when bbolt did not persist it). */
  freePages(): number[] {
    if (this.meta.freelist < 0) return [];
    const p = this.page(this.meta.freelist, FREELIST_PAGE);
    let count = p.count;
    let at = PAGE_HEADER_SIZE;
    // A count of 0xFFFF means the real count is the first u64 (freelist.go).
    if (count === 0xffff) {
      count = toSafe(p.buf.readBigUInt64LE(at), `freelist page ${this.meta.freelist} count`);
      at += 8;
    }
    if (at + count * 8 > p.buf.length) throw new BoltFormatError(`freelist page ${this.meta.freelist}: ${count} ids do not fit`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(toSafe(p.buf.readBigUInt64LE(at + i * 8), `freelist page ${this.meta.freelist} id`));
    return ids;
  }

  close(): void { this.src.close(); }

  /** @internal Reads page `id` with its overflow, checking it lies inside the database and has the expected type. */
  page(id: number | bigint, expect: number): Page {
    const where = `page ${id}`;
    if (id < 2 || id >= this.meta.pgid) throw new BoltFormatError(`${where}: outside the database (pages 2..${this.meta.pgid - 1})`);
    const pgid = Number(id);
    const ps = this.meta.pageSize;
    // One read for the usual page without overflow; a second only for one with.
    const head = this.src.read(pgid * ps, ps);
    const storedId = head.readBigUInt64LE(0);
    if (storedId !== BigInt(pgid)) throw new BoltFormatError(`${where}: header names page ${storedId}`);
    const flags = head.readUInt16LE(8);
    const count = head.readUInt16LE(10);
    const overflow = head.readUInt32LE(12);
    if ((flags & expect) === 0) throw new BoltFormatError(`${where}: flags 0x${flags.toString(16)}, expected 0x${expect.toString(16)}`);
    if (pgid + overflow >= this.meta.pgid) throw new BoltFormatError(`${where}: ${overflow} overflow pages run past the database`);
    const bytes = (overflow + 1) * ps;
    if (bytes > MAX_PAGE_BYTES) throw new BoltFormatError(`${where}: ${bytes} bytes is larger than bbolt allows`);
    return new Page(overflow === 0 ? head : this.src.read(pgid * ps, bytes), flags, count, where);
  }
}

interface BucketRef {
  /** Root page id; 0 for an inline bucket. */
  root: number;
  /** The inline bucket's page bytes. */
  inline: Buffer | undefined;
}

/** A bucket of a {@link BoltReader}: iterate it, look keys up, open nested buckets. Valid until the reader closes. */
export class BoltBucket {
  /** @internal */
  constructor(private readonly db: BoltReader, private readonly ref: BucketRef, private readonly where: string) {}

  /** bbolt's per-bucket sequence is not kept here: etcd does not use it. */

  /** Every entry in byte order of keys; checks order and page structure as it goes. */
  *entries(): Generator<BoltEntry> {
    // One generator over an explicit stack of branch positions (not one generator per level:
    // each yield would pass through every level, a cost per entry of a million-key bucket).
    let prev: Buffer | undefined;
    const visited = new Set<number>();
    const stack: Array<{ page: Page; next: number }> = [];
    let id: number | bigint = this.ref.inline === undefined ? this.ref.root : -1;
    for (;;) {
      if (stack.length > MAX_TREE_DEPTH) throw new BoltFormatError(`${this.where}: tree deeper than ${MAX_TREE_DEPTH}`);
      if (id !== -1) {
        // A page reached twice is a loop or a shared subtree: bbolt's check calls it "multiple references".
        const n = Number(id);
        if (visited.has(n)) throw new BoltFormatError(`page ${id}: referenced twice in ${this.where}`);
        visited.add(n);
      }
      const page = this.load(id);
      if (page.flags & LEAF_PAGE) {
        // Page.leaf's checks inline, without its object per element (garbage of a big walk).
        const buf = page.buf;
        for (let i = 0; i < page.count; i++) {
          const o = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
          const flags = buf.readUInt32LE(o);
          const start = o + buf.readUInt32LE(o + 4);
          const kEnd = start + buf.readUInt32LE(o + 8);
          const end = kEnd + buf.readUInt32LE(o + 12);
          if ((flags & ~BUCKET_LEAF_FLAG) !== 0) throw new BoltFormatError(`${page.where}: element ${i} has unknown flags 0x${flags.toString(16)}`);
          if (end > buf.length) throw new BoltFormatError(`${page.where}: element ${i} at ${start}+${end - start} runs past the page (${buf.length} bytes)`);
          const key = buf.subarray(start, kEnd);
          if (prev !== undefined && Buffer.compare(prev, key) >= 0) throw new BoltFormatError(`${this.where}: keys out of order`);
          prev = key;
          yield { key, value: buf.subarray(kEnd, end), bucket: flags === BUCKET_LEAF_FLAG };
        }
      } else {
        if (page.count === 0) throw new BoltFormatError(`${page.where}: empty branch page`);
        stack.push({ page, next: 0 });
      }
      // The next child of the deepest branch with one left.
      let top = stack[stack.length - 1];
      while (top !== undefined && top.next >= top.page.count) {
        stack.pop();
        top = stack[stack.length - 1];
      }
      if (top === undefined) return;
      id = top.page.branch(top.next++).pgid;
    }
  }

  /** The value of `key`, or undefined (also for a nested bucket's name). */
  get(key: string | Uint8Array): Buffer | undefined {
    const e = this.find(asBytes(key));
    return e === undefined || e.bucket ? undefined : e.value;
  }

  /** A nested bucket, or undefined. */
  bucket(name: string | Uint8Array): BoltBucket | undefined {
    const bytes = asBytes(name);
    const e = this.find(bytes);
    if (e === undefined || !e.bucket) return undefined;
    return this.child(e);
  }

  /** Opens the nested bucket an entry of {@link entries} names. */
  child(e: BoltEntry): BoltBucket {
    const where = `bucket ${JSON.stringify(printable(e.key))} in ${this.where}`;
    if (!e.bucket) throw new BoltFormatError(`${where}: not a bucket`);
    if (e.value.length < BUCKET_HEADER_SIZE) throw new BoltFormatError(`${where}: value of ${e.value.length} bytes is too short for a bucket header`);
    const root = e.value.readBigUInt64LE(0);
    if (root === 0n) return new BoltBucket(this.db, { root: 0, inline: e.value.subarray(BUCKET_HEADER_SIZE) }, where);
    return new BoltBucket(this.db, { root: toSafe(root, where), inline: undefined }, where);
  }

  /** Number of keys (nested bucket names included), by walking the tree. */
  count(): number {
    let n = 0;
    for (const _ of this.entries()) n++;
    return n;
  }

  private find(key: Buffer): BoltEntry | undefined {
    let page = this.load(this.ref.inline === undefined ? this.ref.root : -1);
    for (let depth = 0; ; depth++) {
      if (depth > MAX_TREE_DEPTH) throw new BoltFormatError(`${this.where}: tree deeper than ${MAX_TREE_DEPTH}`);
      if (page.flags & LEAF_PAGE) {
        for (let i = 0; i < page.count; i++) {
          const el = page.leaf(i);
          const c = Buffer.compare(el.key, key);
          if (c === 0) return { key: el.key, value: el.value, bucket: (el.flags & BUCKET_LEAF_FLAG) !== 0 };
          if (c > 0) return undefined;
        }
        return undefined;
      }
      // Branch: descend into the last child whose first key is <= key (bbolt's cursor.search).
      if (page.count === 0) throw new BoltFormatError(`${page.where}: empty branch page`);
      let lo = 0;
      let hi = page.count - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (Buffer.compare(page.branch(mid).key, key) <= 0) lo = mid;
        else hi = mid - 1;
      }
      page = this.load(page.branch(lo).pgid);
    }
  }

  /** -1 loads the inline page. */
  private load(id: number | bigint): Page {
    if (id === -1) {
      const buf = this.ref.inline!;
      if (buf.length < PAGE_HEADER_SIZE) throw new BoltFormatError(`${this.where}: inline page of ${buf.length} bytes`);
      const flags = buf.readUInt16LE(8);
      if ((flags & LEAF_PAGE) === 0) throw new BoltFormatError(`${this.where}: inline page is not a leaf (flags 0x${flags.toString(16)})`);
      return new Page(buf, flags, buf.readUInt16LE(10), `${this.where} (inline)`);
    }
    return this.db.page(id, BRANCH_PAGE | LEAF_PAGE);
  }
}

function pickMeta(src: PageSource): Meta {
  const m0 = readMeta(src, 0, 0);
  // bbolt finds meta 1 one page on, using meta 0's page size, or the OS page size when meta 0 is bad.
  const m1 = readMeta(src, 1, m0 instanceof Error ? DEFAULT_PAGE_SIZE : m0.pageSize);
  const valid = [m0, m1].filter((m): m is Meta => !(m instanceof Error));
  if (valid.length === 0) throw new BoltFormatError(`no valid meta page (meta 0: ${(m0 as Error).message}; meta 1: ${(m1 as Error).message})`);
  const meta = valid.length === 2 && valid[1]!.txid > valid[0]!.txid ? valid[1]! : valid[0]!;
  if (src.size < meta.pgid * meta.pageSize) {
    throw new BoltFormatError(`file of ${src.size} bytes is shorter than its ${meta.pgid} pages of ${meta.pageSize} bytes (truncated?)`);
  }
  return meta;
}

function readMeta(src: PageSource, which: number, offset: number): Meta | Error {
  const where = `meta page ${which}`;
  if (src.size < offset + PAGE_HEADER_SIZE + META_SIZE) return new BoltFormatError(`${where}: file of ${src.size} bytes is too small`);
  const b = src.read(offset, PAGE_HEADER_SIZE + META_SIZE);
  const o = PAGE_HEADER_SIZE;
  if ((b.readUInt16LE(8) & META_PAGE) === 0) return new BoltFormatError(`${where}: not a meta page`);
  if (b.readUInt32LE(o) !== MAGIC) return new BoltFormatError(`${where}: bad magic (not a bbolt file)`);
  if (b.readUInt32LE(o + 4) !== VERSION) return new BoltFormatError(`${where}: version ${b.readUInt32LE(o + 4)}, expected ${VERSION}`);
  const checksum = b.readBigUInt64LE(o + 56);
  // bbolt accepts a zero checksum (files from before it had one).
  if (checksum !== 0n && checksum !== fnv64a(b, o, o + META_CHECKSUM_OFFSET)) return new BoltFormatError(`${where}: checksum mismatch`);
  const pageSize = b.readUInt32LE(o + 8);
  if (pageSize < 512 || pageSize > 1 << 16 || (pageSize & (pageSize - 1)) !== 0) return new BoltFormatError(`${where}: page size ${pageSize}`);
  try {
    const freelistRaw = b.readBigUInt64LE(o + 32);
    const meta: Meta = {
      pageSize,
      flags: b.readUInt32LE(o + 12),
      root: toSafe(b.readBigUInt64LE(o + 16), `${where} root`),
      rootSequence: b.readBigUInt64LE(o + 24),
      freelist: freelistRaw === NO_FREELIST ? -1 : toSafe(freelistRaw, `${where} freelist`),
      pgid: toSafe(b.readBigUInt64LE(o + 40), `${where} pgid`),
      txid: b.readBigUInt64LE(o + 48),
      checksum,
    };
    if (meta.root < 2 || meta.root >= meta.pgid) return new BoltFormatError(`${where}: root page ${meta.root} outside 2..${meta.pgid - 1}`);
    if (meta.freelist !== -1 && (meta.freelist < 2 || meta.freelist >= meta.pgid)) return new BoltFormatError(`${where}: freelist page ${meta.freelist} outside 2..${meta.pgid - 1}`);
    return meta;
  } catch (err) {
    return err as Error;
  }
}

function toSafe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BoltFormatError(`${what}: ${v} is too large`);
  return Number(v);
}

function asBytes(k: string | Uint8Array): Buffer {
  return typeof k === 'string' ? Buffer.from(k) : Buffer.from(k.buffer, k.byteOffset, k.length);
}

function printable(k: Buffer): string {
  return /^[\x20-\x7e]*$/.test(k.toString('latin1')) ? k.toString('latin1') : `0x${k.toString('hex')}`;
}
