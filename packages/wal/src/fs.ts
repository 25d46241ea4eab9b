/**
 * The file operations the WAL uses, as an interface so a test can run the log on a
 * simulated disk that loses unsynced writes on "power loss". Internal: not exported
 * from the package.
 */
import { constants, write as writeCallback } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, rmdir, unlink } from 'node:fs/promises';

export interface WalFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** Data (and the size needed to read it) durable. */
  datasync(): Promise<void>;
  /** Data and all metadata durable. */
  sync(): Promise<void>;
  truncate(len: number): Promise<void>;
  close(): Promise<void>;
}

export interface WalFs {
  open(path: string, flags: 'r' | 'r+' | 'w+' | 'w'): Promise<WalFile>;
  /**
   * Opens an existing file for reading and writing with O_DSYNC: each write returns only once
   * its data (and the size needed to read it) is durable, as write + fdatasync would, in one
   * system call (one thread-pool job instead of two).
   */
  openDurable(path: string): Promise<WalFile>;
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, opts?: { recursive?: boolean }): Promise<void>;
  /** Removes a directory tree; no error if it does not exist. */
  rmTree(path: string): Promise<void>;
  /** Removes an empty directory; ENOENT / ENOTEMPTY errors as from rmdir(2). */
  rmdir(path: string): Promise<void>;
  /** Makes creates, renames and unlinks in `dir` durable. */
  fsyncDir(dir: string): Promise<void>;
}

export const nodeFs: WalFs = {
  open: (path, flags) => open(path, flags),
  openDurable: async (path) => durableFile(await open(path, constants.O_RDWR | constants.O_DSYNC)),
  readdir: (dir) => readdir(dir),
  readFile: async (path) => {
    const b = await readFile(path);
    // A plain Uint8Array view, so decoded payloads are copies (Uint8Array#slice) rather
    // than Buffer views that would pin the whole segment in memory.
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  mkdir: async (path, opts) => {
    await mkdir(path, opts);
  },
  rmTree: (path) => rm(path, { recursive: true, force: true }),
  rmdir: (path) => rmdir(path),
  fsyncDir: async (dir) => {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/**
 * The O_DSYNC handle of the append path. Its `write` (one per batch, one per put at one in flight)
 * is fs.write's callback form under one promise: FileHandle#write wraps the same thread-pool job in
 * three async functions and a `then` (~1.5 KB and 5 promises per call). The other calls are the
 * FileHandle's, which owns the descriptor; the WAL closes it only after its last write settled.
 */
function durableFile(fh: FileHandle): WalFile {
  const fd = fh.fd;
  return {
    read: (buffer, offset, length, position) => fh.read(buffer, offset, length, position),
    stat: () => fh.stat(),
    write: (buffer, offset, length, position) => new Promise((resolve, reject) => {
      writeCallback(fd, buffer, offset, length, position, (err, bytesWritten) => {
        if (err) reject(err);
        else resolve({ bytesWritten });
      });
    }),
    datasync: () => fh.datasync(),
    sync: () => fh.sync(),
    truncate: (len) => fh.truncate(len),
    close: () => fh.close(),
  };
}

/** Options the package passes internally (tests set `fs`); not part of the public API. */
export interface InternalWalOptions {
  fs?: WalFs;
}

export function fsOf(opts: object): WalFs {
  return (opts as InternalWalOptions).fs ?? nodeFs;
}
