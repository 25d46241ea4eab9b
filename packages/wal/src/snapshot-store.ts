/**
 * Snapshot files (`member/snap`): one file per snapshot, written atomically.
 *
 * File = payload bytes followed by a 40-byte trailer (little endian):
 * magic "RKVSNAP1" (8) | index u64 | term u64 | payload length u64 | crc u32 | 0 u32,
 * where crc is CRC-32C over the payload and the first 32 trailer bytes. The trailer
 * comes last so a payload of unknown length (a stream) can be written in one pass.
 * Name: `<term:016x>-<index:016x>.snap`.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@raftkv/checksum';
import type { SnapshotMarker } from './record.js';
import { hex16 } from './segment.js';
import { writeFully } from './file-util.js';
import { fsOf, type WalFile, type WalFs } from './fs.js';

const MAGIC = new TextEncoder().encode('RKVSNAP1');
const TRAILER_BYTES = 40;
const READ_CHUNK_BYTES = 1024 * 1024;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/**
 * Payload accepted by {@link SnapshotStore.save}: bytes, a stream of chunks, or the path
 * of a file to copy (e.g. a database file), streamed in 1 MiB chunks.
 */
export type SnapshotData = Uint8Array | AsyncIterable<Uint8Array> | string;

/** A snapshot found by {@link SnapshotStore.loadLatest}; its checksum was verified. */
export interface LoadedSnapshot extends SnapshotMarker {
  /** The `.snap` file (payload followed by a trailer: not the raw payload). */
  path: string;
  /** Payload size in bytes. */
  sizeBytes: number;
  /** The whole payload, re-verified. Rejects if the file changed since it was loaded. */
  read(): Promise<Uint8Array>;
  /**
   * The payload in chunks of at most 1 MiB, for payloads too big to hold in memory.
   * Throws at the end if the checksum no longer matches, so a consumer must treat the
   * data as unconfirmed until iteration completes.
   */
  stream(): AsyncIterable<Uint8Array>;
}

interface SnapName extends SnapshotMarker {
  name: string;
}

/**
 * The snapshot files of one member. Safe against crashes: a snapshot either exists
 * complete with a valid checksum, or is ignored.
 */
export class SnapshotStore {
  private tmpCounter = 0;
  private readonly inFlight = new Set<string>();
  private readonly fs: WalFs;

  /** `dir` is created on the first save if missing. (`internal` is a test hook.) */
  constructor(
    readonly dir: string,
    internal: object = {},
  ) {
    this.fs = fsOf(internal);
  }

  /**
   * Writes a snapshot atomically: payload and trailer to a temp file, fsync, rename to
   * its final name, fsync the directory. Resolves when the snapshot is durable; a
   * crash before that leaves at most a temp file, which is ignored and later purged.
   * Saving the same (index, term) again replaces the file atomically.
   * Memory stays bounded for streamed and file payloads (chunks are written one at a time).
   */
  async save(meta: SnapshotMarker, data: SnapshotData): Promise<void> {
    assertMarker(meta);
    await this.fs.mkdir(this.dir, { recursive: true });
    const name = snapName(meta);
    const tmp = join(this.dir, `${name}.${process.pid}-${this.tmpCounter++}.tmp`);
    this.inFlight.add(tmp);
    let fh: WalFile | undefined;
    try {
      fh = await this.fs.open(tmp, 'w');
      let crc = 0;
      let length = 0;
      for await (const chunk of chunksOf(data)) {
        crc = crc32c(chunk, crc);
        await writeFully(fh, chunk, length);
        length += chunk.length;
      }
      const trailer = new Uint8Array(TRAILER_BYTES);
      const dv = new DataView(trailer.buffer);
      trailer.set(MAGIC, 0);
      dv.setBigUint64(8, BigInt(meta.index), true);
      dv.setBigUint64(16, BigInt(meta.term), true);
      dv.setBigUint64(24, BigInt(length), true);
      dv.setUint32(32, crc32c(trailer, crc, 0, 32), true);
      await writeFully(fh, trailer, length);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await this.fs.rename(tmp, join(this.dir, name));
      await this.fs.fsyncDir(this.dir);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await this.fs.unlink(tmp).catch(() => undefined);
      throw e;
    } finally {
      this.inFlight.delete(tmp);
    }
  }

  /**
   * The newest snapshot (highest index, then term) whose file is complete and whose
   * checksum verifies; damaged, truncated and temp files are skipped. `undefined` when
   * there is none (or the directory does not exist).
   */
  async loadLatest(): Promise<LoadedSnapshot | undefined> {
    for (const s of await this.list()) {
      const path = join(this.dir, s.name);
      const size = await verify(this.fs, path, s, true);
      if (size === undefined) continue;
      return {
        index: s.index,
        term: s.term,
        path,
        sizeBytes: size,
        read: async () => {
          const parts: Uint8Array[] = [];
          for await (const c of payloadChunks(this.fs, path, s, size)) parts.push(c);
          return concat(parts, size);
        },
        stream: () => payloadChunks(this.fs, path, s, size),
      };
    }
    return undefined;
  }

  /**
   * Keeps the newest `keep` (>= 1) snapshots whose trailer is intact and deletes every
   * other `.snap` file, plus temp files left by crashed saves. Only the trailer is
   * checked here (reading whole snapshots to purge would cost more than they are worth).
   */
  async purge(keep: number): Promise<void> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError('snapshot purge: keep must be an integer >= 1');
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const victims: string[] = [];
    for (const n of names) {
      const p = join(this.dir, n);
      if (n.endsWith('.tmp') && !this.inFlight.has(p)) victims.push(p);
    }
    let kept = 0;
    for (const s of await this.list()) {
      const p = join(this.dir, s.name);
      if (kept < keep && (await verify(this.fs, p, s, false)) !== undefined) kept++;
      else victims.push(p);
    }
    if (victims.length === 0) return;
    for (const p of victims) await this.fs.unlink(p).catch(() => undefined);
    await this.fs.fsyncDir(this.dir);
  }

  /** Well-named snapshot files, newest first. */
  private async list(): Promise<SnapName[]> {
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: SnapName[] = [];
    for (const name of names) {
      const m = NAME_RE.exec(name);
      if (!m) continue;
      const term = Number.parseInt(m[1]!, 16);
      const index = Number.parseInt(m[2]!, 16);
      if (Number.isSafeInteger(term) && Number.isSafeInteger(index)) out.push({ name, term, index });
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }
}

function snapName(m: SnapshotMarker): string {
  return `${hex16(m.term)}-${hex16(m.index)}.snap`;
}

function assertMarker(m: SnapshotMarker): void {
  for (const k of ['index', 'term'] as const) {
    const v = m?.[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`snapshot ${k} must be an integer in [0, 2^53-1]`);
    }
  }
}

async function* chunksOf(data: SnapshotData): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield data;
  } else if (typeof data === 'string') {
    for await (const c of createReadStream(data, { highWaterMark: READ_CHUNK_BYTES })) yield c as Buffer;
  } else {
    for await (const c of data) {
      if (!(c instanceof Uint8Array)) throw new TypeError('snapshot stream must yield Uint8Array chunks');
      yield c;
    }
  }
}

/**
 * Checks a snapshot file's trailer against its name and, if `full`, the checksum of
 * the whole payload. Returns the payload size, or undefined if the file is not valid.
 */
async function verify(fs: WalFs, path: string, s: SnapshotMarker, full: boolean): Promise<number | undefined> {
  let fh: WalFile | undefined;
  try {
    fh = await fs.open(path, 'r');
    const { size } = await fh.stat();
    if (size < TRAILER_BYTES) return undefined;
    const trailer = new Uint8Array(TRAILER_BYTES);
    await fh.read(trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    const t = parseTrailer(trailer);
    if (!t || t.index !== s.index || t.term !== s.term || t.length !== size - TRAILER_BYTES) return undefined;
    if (!full) return t.length;
    let crc = 0;
    const buf = new Uint8Array(Math.min(READ_CHUNK_BYTES, Math.max(1, t.length)));
    for (let off = 0; off < t.length; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, t.length - off), off);
      if (bytesRead <= 0) return undefined;
      crc = crc32c(buf, crc, 0, bytesRead);
      off += bytesRead;
    }
    return crc32c(trailer, crc, 0, 32) === t.crc ? t.length : undefined;
  } catch {
    return undefined;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function parseTrailer(t: Uint8Array): { index: number; term: number; length: number; crc: number } | undefined {
  for (let i = 0; i < MAGIC.length; i++) if (t[i] !== MAGIC[i]) return undefined;
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const index = dv.getBigUint64(8, true);
  const term = dv.getBigUint64(16, true);
  const length = dv.getBigUint64(24, true);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  if (index > max || term > max || length > max || dv.getUint32(36, true) !== 0) return undefined;
  return { index: Number(index), term: Number(term), length: Number(length), crc: dv.getUint32(32, true) };
}

async function* payloadChunks(fs: WalFs, path: string, s: SnapshotMarker, size: number): AsyncIterable<Uint8Array> {
  const fh = await fs.open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    if (fileSize !== size + TRAILER_BYTES) throw new Error(`snapshot ${path} changed size since it was verified`);
    let crc = 0;
    for (let off = 0; off < size; ) {
      const buf = new Uint8Array(Math.min(READ_CHUNK_BYTES, size - off));
      const { bytesRead } = await fh.read(buf, 0, buf.length, off);
      if (bytesRead <= 0) throw new Error(`snapshot ${path} shrank while reading`);
      const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      crc = crc32c(chunk, crc);
      off += bytesRead;
      yield chunk;
    }
    const trailer = new Uint8Array(TRAILER_BYTES);
    await fh.read(trailer, 0, TRAILER_BYTES, size);
    const t = parseTrailer(trailer);
    if (!t || t.index !== s.index || t.term !== s.term || crc32c(trailer, crc, 0, 32) !== t.crc) {
      throw new Error(`snapshot ${path} checksum mismatch: the file changed after it was verified`);
    }
  } finally {
    await fh.close();
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === size) return parts[0]!;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
