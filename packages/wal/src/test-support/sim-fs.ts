/**
 * A simulated disk for power-loss tests. Every file keeps its current bytes and the
 * bytes as of its last sync; the namespace (creates, renames, unlinks) keeps the state
 * as of the last directory fsync plus an ordered journal of later operations.
 *
 * `crashImage()` returns the disk as it could look after power loss at this instant:
 * the namespace is the durable one plus a random prefix of the journal (metadata is
 * journaled in order, as ext4 does), and each file keeps its synced bytes, with every
 * 512-byte sector written since then independently either persisted or lost, and its
 * size either the synced or the current one.
 *
 * Every operation yields to the event loop (so concurrent callers interleave) and
 * counts itself; `armCrash(n, cb)` captures a crash image just before operation n runs.
 */
import { dirname } from 'node:path';
import type { WalFile, WalFs } from '../fs.js';

const SECTOR = 512;

class Inode {
  data: Uint8Array = new Uint8Array(0);
  durable: Uint8Array = new Uint8Array(0);
}

type Node = Inode | 'dir';
type NsOp =
  | { kind: 'link'; path: string; node: Node }
  | { kind: 'remove'; path: string }
  | { kind: 'rename'; from: string; to: string };

function errno(code: string, what: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${what}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

function applyOp(ns: Map<string, Node>, op: NsOp): void {
  switch (op.kind) {
    case 'link':
      ns.set(op.path, op.node);
      return;
    case 'remove':
      for (const k of [...ns.keys()]) if (under(k, op.path)) ns.delete(k);
      return;
    case 'rename': {
      const moved: Array<[string, Node]> = [];
      for (const [k, v] of ns) if (under(k, op.from)) moved.push([op.to + k.slice(op.from.length), v]);
      for (const k of [...ns.keys()]) if (under(k, op.from) || under(k, op.to)) ns.delete(k);
      for (const [k, v] of moved) ns.set(k, v);
      return;
    }
  }
}

export class SimFs implements WalFs {
  private ns = new Map<string, Node>();
  private durableNs: Map<string, Node>;
  private journal: NsOp[] = [];
  /** Operations performed so far. */
  opCount = 0;
  private crash: { at: number; cb: (image: SimFs) => void } | undefined;

  constructor(
    private readonly rng: () => number,
    root = '/sim',
  ) {
    this.ns.set(root, 'dir');
    this.durableNs = new Map(this.ns);
  }

  /** Calls `cb` with a crash image taken just before operation number `at` runs. */
  armCrash(at: number, cb: (image: SimFs) => void): void {
    this.crash = { at, cb };
  }

  crashImage(): SimFs {
    const img = new SimFs(this.rng);
    const ns = new Map(this.durableNs);
    const keep = Math.floor(this.rng() * (this.journal.length + 1));
    for (const op of this.journal.slice(0, keep)) applyOp(ns, op);
    const copies = new Map<Inode, Inode>();
    img.ns = new Map();
    for (const [k, v] of ns) {
      if (v === 'dir') {
        img.ns.set(k, v);
        continue;
      }
      let c = copies.get(v);
      if (!c) {
        c = new Inode();
        c.data = this.tornContent(v);
        c.durable = c.data.slice();
        copies.set(v, c);
      }
      img.ns.set(k, c);
    }
    img.durableNs = new Map(img.ns);
    return img;
  }

  private tornContent(n: Inode): Uint8Array {
    const len = this.rng() < 0.5 ? n.durable.length : n.data.length;
    const out = new Uint8Array(len);
    for (let s = 0; s < len; s += SECTOR) {
      const src = this.rng() < 0.5 ? n.data : n.durable;
      out.set(src.subarray(Math.min(s, src.length), Math.min(s + SECTOR, src.length, len)), s);
    }
    return out;
  }

  async tick(): Promise<void> {
    this.opCount++;
    if (this.crash && this.opCount === this.crash.at) {
      const { cb } = this.crash;
      this.crash = undefined;
      cb(this.crashImage());
    }
    await new Promise((r) => setImmediate(r));
  }

  private mutate(op: NsOp): void {
    applyOp(this.ns, op);
    this.journal.push(op);
  }

  private file(path: string): Inode {
    const n = this.ns.get(path);
    if (n === undefined) throw errno('ENOENT', path);
    if (n === 'dir') throw errno('EISDIR', path);
    return n;
  }

  private needDir(path: string): void {
    if (this.ns.get(path) !== 'dir') throw errno('ENOENT', path);
  }

  async open(path: string, flags: 'r' | 'r+' | 'w+' | 'w'): Promise<WalFile> {
    await this.tick();
    let n = this.ns.get(path);
    if (flags === 'w+' || flags === 'w') {
      if (n === undefined) {
        this.needDir(dirname(path));
        n = new Inode();
        this.mutate({ kind: 'link', path, node: n });
      } else if (n !== 'dir') {
        n.data = new Uint8Array(0);
      }
    }
    return new SimFile(this, this.file(path));
  }

  async openDurable(path: string): Promise<WalFile> {
    await this.tick();
    return new SimFile(this, this.file(path), true);
  }

  async readdir(dir: string): Promise<string[]> {
    await this.tick();
    this.needDir(dir);
    const out: string[] = [];
    for (const k of this.ns.keys()) if (k !== dir && dirname(k) === dir) out.push(k.slice(dir.length + 1));
    return out;
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.tick();
    return this.file(path).data.slice();
  }

  async rename(from: string, to: string): Promise<void> {
    await this.tick();
    if (!this.ns.has(from)) throw errno('ENOENT', from);
    this.needDir(dirname(to));
    if (this.ns.get(to) === 'dir' && [...this.ns.keys()].some((k) => k !== to && under(k, to))) throw errno('ENOTEMPTY', to);
    this.mutate({ kind: 'rename', from, to });
  }

  async unlink(path: string): Promise<void> {
    await this.tick();
    this.file(path);
    this.mutate({ kind: 'remove', path });
  }

  async mkdir(path: string, opts?: { recursive?: boolean }): Promise<void> {
    await this.tick();
    if (this.ns.has(path)) {
      if (opts?.recursive) return;
      throw errno('EEXIST', path);
    }
    if (!this.ns.has(dirname(path))) {
      if (!opts?.recursive) throw errno('ENOENT', dirname(path));
      await this.mkdir(dirname(path), opts);
    }
    this.mutate({ kind: 'link', path, node: 'dir' });
  }

  async rmTree(path: string): Promise<void> {
    await this.tick();
    if (this.ns.has(path)) this.mutate({ kind: 'remove', path });
  }

  async rmdir(path: string): Promise<void> {
    await this.tick();
    this.needDir(path);
    if ([...this.ns.keys()].some((k) => k !== path && under(k, path))) throw errno('ENOTEMPTY', path);
    this.mutate({ kind: 'remove', path });
  }

  async fsyncDir(dir: string): Promise<void> {
    await this.tick();
    this.needDir(dir);
    // Journal commit: every namespace change so far becomes durable, in order.
    this.durableNs = new Map(this.ns);
    this.journal = [];
  }
}

class SimFile implements WalFile {
  private closed = false;

  constructor(
    private readonly fs: SimFs,
    private readonly node: Inode,
    /** O_DSYNC: a write is durable when it returns (only its own range, as a real disk guarantees). */
    private readonly durableWrites = false,
  ) {}

  private check(): void {
    if (this.closed) throw errno('EBADF', 'file closed');
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    await this.fs.tick();
    this.check();
    const src = this.node.data.subarray(Math.min(position, this.node.data.length), Math.min(position + length, this.node.data.length));
    buffer.set(src, offset);
    return { bytesRead: src.length };
  }

  async stat(): Promise<{ size: number }> {
    this.check();
    return { size: this.node.data.length };
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    await this.fs.tick();
    this.check();
    const end = position + length;
    if (end > this.node.data.length) {
      const grown = new Uint8Array(end);
      grown.set(this.node.data);
      this.node.data = grown;
    }
    this.node.data.set(buffer.subarray(offset, offset + length), position);
    if (this.durableWrites) {
      if (end > this.node.durable.length) {
        const grown = new Uint8Array(end);
        grown.set(this.node.durable);
        this.node.durable = grown;
      }
      this.node.durable.set(buffer.subarray(offset, offset + length), position);
    }
    return { bytesWritten: length };
  }

  async datasync(): Promise<void> {
    await this.fs.tick();
    this.check();
    this.node.durable = this.node.data.slice();
  }

  async sync(): Promise<void> {
    await this.datasync();
  }

  async truncate(len: number): Promise<void> {
    await this.fs.tick();
    this.check();
    const next = new Uint8Array(len);
    next.set(this.node.data.subarray(0, Math.min(len, this.node.data.length)));
    this.node.data = next;
  }

  async close(): Promise<void> {
    this.check();
    this.closed = true;
  }
}
