// Builds a fresh bbolt file from keys given in order, bottom-up, the way a bulk loader builds a
// B+tree: leaves are written as they fill, each full page adds one entry to the branch level
// above it, and a bucket's root is known when the bucket ends. Only the pages being filled (one
// per tree level per open bucket) are held; written pages wait in a buffer until drain().
// Page ids are handed out in write order, so the file is written front to back. The two meta
// pages at the start name the root and the high-water mark, known only at the end: a file is
// finished by writing them last at offset 0; a stream (which cannot go back) sends them first,
// from a layout computed beforehand by a dry run of the same writer over the same sizes
// (BoltWriter.plan), and checks at the end that the tree came out that way.
import { open, type FileHandle } from 'node:fs/promises';
import {
  BRANCH_PAGE, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, DEFAULT_PAGE_SIZE, ELEMENT_SIZE, encodeMetaPage,
  FREELIST_PAGE, LEAF_PAGE, PAGE_HEADER_SIZE,
} from './format.js';

export interface BoltWriterOptions {
  /** Page size in bytes (power of two, 512..65536); default 4096 as etcd's bbolt on Linux. */
  pageSize?: number;
  /** How full a page is made before the next one starts, 0.1..1; default 0.9 (etcd's defrag uses 0.9 too). */
  fillPercent?: number;
  /** The txid written to meta 0 (meta 1 gets one less, as bbolt's Tx.WriteTo does); default 2. */
  txid?: bigint;
}

/** Written pages are handed to the file once this many bytes wait (also what `needsDrain` reports). */
const DRAIN_BYTES = 4 << 20;
/** Pages are laid out in zeroed blocks of this size (one allocation per block, not per page). */
const BLOCK_BYTES = 1 << 20;

/**
 * Where a finished database's pages are: what a stream's meta pages must name before the
 * first page is sent. {@link BoltWriter.plan} computes it; the high-water mark is `pages`.
 */
export interface BoltLayout {
  pageSize: number;
  /** Page count: the file is `pages × pageSize` bytes. */
  pages: number;
  /** The root bucket's page. */
  root: number;
  freelist: number;
}

/** Receives a stream's bytes in order; the buffers are the writer's no more (keep or send them). */
export type BoltSink = (chunks: Buffer[]) => void | Promise<void>;

/**
 * One level of one bucket's tree: the page being filled. Keys and values are copied into
 * `data` as they come (one growing buffer per level, no allocation per entry); the page is
 * laid out from it when written.
 */
class Level {
  count = 0;
  bytes = PAGE_HEADER_SIZE;
  flushed = 0;
  data: Buffer;
  dataLen = 0;
  /** Per element: leaf flags, key size, value size (0 in a branch), child page (0 in a leaf). */
  eflags: number[] = [];
  ksize: number[] = [];
  vsize: number[] = [];
  child: number[] = [];
  constructor(readonly flags: number, pageSize: number, private readonly sizesOnly: boolean) {
    this.data = sizesOnly ? PLAN_KEYS : Buffer.allocUnsafe(pageSize);
  }

  push(flags: number, key: Uint8Array, value: Uint8Array, child: number, size: number): void {
    if (this.sizesOnly) {
      // A dry run keeps only what decides the layout: how full the page is, its first key's size.
      if (this.count === 0) this.ksize.push(key.length);
      this.count++;
      this.bytes += size;
      return;
    }
    const need = this.dataLen + key.length + value.length;
    if (need > this.data.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.data.length * 2));
      this.data.copy(grown, 0, 0, this.dataLen);
      this.data = grown;
    }
    this.data.set(key, this.dataLen);
    this.data.set(value, this.dataLen + key.length);
    this.dataLen = need;
    this.eflags.push(flags);
    this.ksize.push(key.length);
    this.vsize.push(value.length);
    this.child.push(child);
    this.count++;
    this.bytes += size;
  }

  /** A copy of the first key (what the level above points with). */
  firstKey(): Buffer {
    if (this.sizesOnly) return PLAN_KEYS.subarray(0, this.ksize[0] ?? 0);
    return Buffer.from(this.data.subarray(0, this.ksize[0] ?? 0));
  }

  reset(): void {
    this.count = 0;
    this.bytes = PAGE_HEADER_SIZE;
    this.dataLen = 0;
    this.eflags.length = 0;
    this.ksize.length = 0;
    this.vsize.length = 0;
    this.child.length = 0;
  }
}

class TreeBuilder {
  readonly levels: Level[];
  /** The last key added (a copy in a reused buffer) and its length; -1 before the first. */
  private readonly last = Buffer.allocUnsafe(MAX_KEY_SIZE);
  private lastLen = -1;
  constructor(readonly name: Buffer | undefined, readonly w: BoltWriter) {
    this.levels = [new Level(LEAF_PAGE, w.pageSize, w.sizesOnly)];
  }

  /** Checks `key` is above the previous one, and remembers it. */
  order(key: Uint8Array): void {
    if (this.lastLen >= 0 && compareBytes(this.last, this.lastLen, key) >= 0) {
      throw new RangeError(`bbolt writer: key 0x${Buffer.from(key).toString('hex')} is not above the previous key 0x${this.last.toString('hex', 0, this.lastLen)}`);
    }
    this.last.set(key);
    this.lastLen = key.length;
  }

  add(level: number, flags: number, key: Uint8Array, value: Uint8Array, child: number): void {
    let l = this.levels[level];
    if (l === undefined) {
      l = new Level(BRANCH_PAGE, this.w.pageSize, this.w.sizesOnly);
      this.levels.push(l);
    }
    const size = ELEMENT_SIZE + key.length + (l.flags === LEAF_PAGE ? value.length : 0);
    if (l.count > 0 && (l.bytes + size > this.w.fillBytes || l.count === 0xffff)) this.flush(level);
    l.push(flags, key, l.flags === LEAF_PAGE ? value : EMPTY, child, size);
  }

  /** Writes level `level`'s page and adds it to the level above. */
  private flush(level: number): number {
    const l = this.levels[level]!;
    const id = this.w.writeTreePage(l);
    const first = l.firstKey();
    l.reset();
    l.flushed++;
    // The level above is created on demand: a level that has flushed a page is never the root.
    this.add(level + 1, 0, first, EMPTY, id);
    return id;
  }

  /** Writes what is pending at every level; returns the root page. */
  finish(): number {
    for (let level = 0; ; level++) {
      const l = this.levels[level]!;
      const top = level === this.levels.length - 1;
      if (top && l.flushed === 0) return this.w.writeTreePage(l);
      if (l.count > 0) this.flush(level);
    }
  }
}

const EMPTY = Buffer.alloc(0);
/** bbolt's MaxKeySize. */
const MAX_KEY_SIZE = 32768;
/** What a dry run's branch keys are: only their size matters. */
const PLAN_KEYS = Buffer.alloc(MAX_KEY_SIZE);
/** bbolt's MaxValueSize. */
const MAX_VALUE_SIZE = 2 ** 31 - 2;

/**
 * Writes a new bbolt database. Keys of a bucket (nested bucket names included) must come in
 * strictly increasing byte order; the root holds only buckets. Call `await drain()` whenever
 * `needsDrain` is true, and `finish()` at the end.
 *
 * Three kinds: {@link create} writes a file (meta pages last, then fsync); {@link plan} writes
 * nothing and `finish()` returns the layout the same calls give; {@link stream} sends the
 * database front to back to a sink, meta pages first from that layout (when the calls do not
 * give the planned layout, `finish()` throws and what was sent is no database).
 *
 * @example
 * const w = await BoltWriter.create(path);
 * w.beginBucket('key'); for (const [k, v] of sorted) { w.put(k, v); if (w.needsDrain) await w.drain(); } w.endBucket();
 * const { size } = await w.finish();
 */
export class BoltWriter {
  readonly pageSize: number;
  /** @internal */
  readonly fillBytes: number;
  /** @internal A dry run: layout only, no page is laid out. */
  readonly sizesOnly: boolean;
  private readonly txid: bigint;
  private nextPage = 2;
  private readonly stack: TreeBuilder[];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The block pages are being laid out in, and how much of it is used. */
  private block: Buffer | undefined;
  private blockUsed = 0;
  private position: number;
  private done = false;

  private constructor(
    private readonly file: FileHandle | undefined,
    private readonly sink: BoltSink | undefined,
    private readonly layout: BoltLayout | undefined,
    opts: BoltWriterOptions,
  ) {
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    if (this.pageSize < 512 || this.pageSize > 1 << 16 || (this.pageSize & (this.pageSize - 1)) !== 0) {
      throw new RangeError(`bbolt page size must be a power of two in 512..65536, got ${this.pageSize}`);
    }
    const fill = opts.fillPercent ?? 0.9;
    if (!(fill >= 0.1 && fill <= 1)) throw new RangeError(`fillPercent must be in 0.1..1, got ${fill}`);
    this.fillBytes = Math.floor(this.pageSize * fill);
    this.txid = opts.txid ?? 2n;
    if (this.txid < 1n) throw new RangeError('txid must be at least 1');
    this.sizesOnly = file === undefined && sink === undefined;
    this.position = 2 * this.pageSize;
    this.stack = [new TreeBuilder(undefined, this)];
    if (layout) {
      if (layout.pageSize !== this.pageSize) throw new RangeError(`bbolt writer: layout of ${layout.pageSize}-byte pages for a writer of ${this.pageSize}`);
      this.queue(this.metaPages(layout));
    }
  }

  /** Creates (or truncates) `path`. */
  static async create(path: string, opts: BoltWriterOptions = {}): Promise<BoltWriter> {
    const file = await open(path, 'w', 0o600);
    try {
      return new BoltWriter(file, undefined, undefined, opts);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** A dry run: the same calls as a real writer, and `finish()` returns their layout. */
  static plan(opts: BoltWriterOptions = {}): BoltWriter {
    return new BoltWriter(undefined, undefined, undefined, opts);
  }

  /**
   * Sends the database to `sink` in file order, starting with meta pages for `layout` (from a
   * {@link plan} of the same calls and options). `drain()` awaits the sink.
   */
  static stream(sink: BoltSink, layout: BoltLayout, opts: BoltWriterOptions = {}): BoltWriter {
    return new BoltWriter(undefined, sink, layout, opts);
  }

  /** True when written pages wait in memory: `await drain()` before going on. */
  get needsDrain(): boolean { return this.pendingBytes + this.blockUsed >= DRAIN_BYTES; }

  /** Opens a nested bucket named `name` in the current bucket (top-level when none is open). */
  beginBucket(name: string | Uint8Array): void {
    const key = Buffer.from(this.checkKey(name));
    this.stack.push(new TreeBuilder(key, this));
  }

  /** Closes the bucket opened last, writing what remains of its tree. */
  endBucket(): void {
    if (this.stack.length < 2) throw new Error('bbolt writer: endBucket without an open bucket');
    const b = this.stack.pop()!;
    const root = b.finish();
    const header = Buffer.alloc(BUCKET_HEADER_SIZE);
    header.writeBigUInt64LE(BigInt(root), 0);
    this.top().add(0, BUCKET_LEAF_FLAG, b.name!, header, 0);
  }

  /** Adds `key` = `value` to the current bucket. Both are copied (the caller may reuse them). */
  put(key: string | Uint8Array, value: Uint8Array): void {
    if (this.stack.length < 2) throw new Error('bbolt writer: the root holds only buckets; beginBucket first');
    if (value.length > MAX_VALUE_SIZE) throw new RangeError(`bbolt writer: value of ${value.length} bytes (at most ${MAX_VALUE_SIZE})`);
    this.top().add(0, 0, this.checkKey(key), value, 0);
  }

  /** Hands the written pages to the file or the sink. */
  async drain(): Promise<void> {
    this.closeBlock();
    if (this.pending.length === 0) return;
    const bufs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.sink) {
      await this.sink(bufs);
      return;
    }
    if (!this.file) return;
    let at = this.position;
    this.position += bufs.reduce((n, b) => n + b.length, 0);
    // writev may write less than asked; go on from where it stopped.
    let rest = bufs;
    while (rest.length > 0) {
      const { bytesWritten } = await this.file.writev(rest, at);
      at += bytesWritten;
      rest = skipBytes(rest, bytesWritten);
    }
  }

  /**
   * Closes the root bucket and writes an empty freelist; a file then gets both meta pages, an
   * fsync and is closed. Returns the layout; its `size` (high-water page × page size) is the
   * file's size.
   * @throws Error for a stream whose tree did not come out as its layout said.
   */
  async finish(): Promise<BoltLayout & { size: number }> {
    if (this.stack.length !== 1) throw new Error(`bbolt writer: ${this.stack.length - 1} bucket(s) still open`);
    if (this.done) throw new Error('bbolt writer: already finished');
    this.done = true;
    try {
      const root = this.stack[0]!.finish();
      const freelist = this.allocate(1);
      if (!this.sizesOnly) {
        const fl = this.reserve(this.pageSize);
        fl.writeBigUInt64LE(BigInt(freelist), 0);
        fl.writeUInt16LE(FREELIST_PAGE, 8);
      }
      const got: BoltLayout = { pageSize: this.pageSize, pages: this.nextPage, root, freelist };
      const want = this.layout;
      if (want && (want.pages !== got.pages || want.root !== got.root || want.freelist !== got.freelist)) {
        this.pending = [];
        throw new Error(`bbolt writer: the stream's meta pages said ${JSON.stringify(want)}, the tree came out ${JSON.stringify(got)}`);
      }
      await this.drain();
      if (this.file) {
        const [m0, m1] = this.metaPages(got);
        await this.file.write(m0!, 0, this.pageSize, 0);
        await this.file.write(m1!, 0, this.pageSize, this.pageSize);
        await this.file.sync();
      }
      return { ...got, size: got.pages * this.pageSize };
    } finally {
      await this.file?.close();
    }
  }

  /** Stops without finishing (a file is left as it is: not a valid database). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending = [];
    await this.file?.close();
  }

  /** @internal Lays out a level's pending page, queues it, and returns its id. */
  writeTreePage(l: Level): number {
    const pages = Math.max(1, Math.ceil(l.bytes / this.pageSize));
    const id = this.allocate(pages);
    if (this.sizesOnly) return id;
    const buf = this.reserve(pages * this.pageSize);
    buf.writeBigUInt64LE(BigInt(id), 0);
    buf.writeUInt16LE(l.flags, 8);
    buf.writeUInt16LE(l.count, 10);
    buf.writeUInt32LE(pages - 1, 12);
    const dataStart = PAGE_HEADER_SIZE + l.count * ELEMENT_SIZE;
    let at = dataStart;
    for (let i = 0; i < l.count; i++) {
      const o = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      // pos is relative to the element itself (page.go).
      if (l.flags === LEAF_PAGE) {
        buf.writeUInt32LE(l.eflags[i]!, o);
        buf.writeUInt32LE(at - o, o + 4);
        buf.writeUInt32LE(l.ksize[i]!, o + 8);
        buf.writeUInt32LE(l.vsize[i]!, o + 12);
      } else {
        buf.writeUInt32LE(at - o, o);
        buf.writeUInt32LE(l.ksize[i]!, o + 4);
        buf.writeBigUInt64LE(BigInt(l.child[i]!), o + 8);
      }
      at += l.ksize[i]! + l.vsize[i]!;
    }
    l.data.copy(buf, dataStart, 0, l.dataLen);
    return id;
  }

  private metaPages(l: BoltLayout): Buffer[] {
    const meta = { pageSize: this.pageSize, flags: 0, root: l.root, rootSequence: 0n, freelist: l.freelist, pgid: l.pages };
    return [encodeMetaPage(0, { ...meta, txid: this.txid }), encodeMetaPage(1, { ...meta, txid: this.txid - 1n })];
  }

  private allocate(pages: number): number {
    const id = this.nextPage;
    this.nextPage += pages;
    return id;
  }

  /** Zeroed room for `bytes` of pages, next in file order. */
  private reserve(bytes: number): Buffer {
    if (this.block === undefined || this.blockUsed + bytes > this.block.length) {
      this.closeBlock();
      this.block = Buffer.alloc(Math.max(BLOCK_BYTES, bytes));
    }
    const view = this.block.subarray(this.blockUsed, this.blockUsed + bytes);
    this.blockUsed += bytes;
    return view;
  }

  /** Queues the used part of the current block; the next page starts a new one. */
  private closeBlock(): void {
    if (this.block === undefined || this.blockUsed === 0) return;
    this.queue([this.block.subarray(0, this.blockUsed)]);
    this.block = undefined;
    this.blockUsed = 0;
  }

  private queue(bufs: Buffer[]): void {
    for (const buf of bufs) {
      this.pending.push(buf);
      this.pendingBytes += buf.length;
    }
  }

  private top(): TreeBuilder { return this.stack[this.stack.length - 1]!; }

  private checkKey(k: string | Uint8Array): Uint8Array {
    if (this.done) throw new Error('bbolt writer: already finished');
    const key = typeof k === 'string' ? Buffer.from(k) : k;
    if (key.length === 0 || key.length > MAX_KEY_SIZE) throw new RangeError(`bbolt writer: key of ${key.length} bytes (1..${MAX_KEY_SIZE} allowed)`);
    this.top().order(key);
    return key;
  }
}

/** Byte order of a[0, aLen) and b, without making a view of a (one per key adds up). */
function compareBytes(a: Uint8Array, aLen: number, b: Uint8Array): number {
  const n = Math.min(aLen, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aLen - b.length;
}

function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) { n -= b.length; continue; }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
