import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';

// LMDB's files in an environment directory, and what is checked or synced of them as files.

/** LMDB's data file in an environment directory. */
export const DATA_FILE = 'data.mdb';
/** LMDB's lock file (reader table) in an environment directory. */
export const LOCK_FILE = 'lock.mdb';

const LMDB_MAGIC = 0xbeefc0de;
/**
 * Layout of a meta page in lmdb-js 3.x's LMDB (mdb.master3): a 24-byte page header
 * (upstream 0.9's is 16), then magic u32, version u32, address u64, map size u64, then
 * the free-space db whose first u32 is the page size.
 */
const META_MAGIC_OFFSET = 24;
const META_PAGE_SIZE_OFFSET = 48;

/**
 * Checks that `path` starts with LMDB's two meta pages (magic number in both, a sane
 * page size, the file at least two pages long), reading the file, not mapping it.
 */
export function checkLmdbHeader(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const bad = (why: string) => new Error(`mvcc: ${path} is not an LMDB snapshot: ${why}`);
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, head.length, 0) < head.length) throw bad(`${size} bytes`);
    if (head.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) throw bad('no LMDB magic in the first meta page');
    const pageSize = head.readUInt32LE(META_PAGE_SIZE_OFFSET);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw bad(`page size ${pageSize}`);
    if (size < 2 * pageSize) throw bad(`${size} bytes, shorter than its two meta pages`);
    if (readSync(fd, head, 0, head.length, pageSize) < head.length || head.readUInt32LE(META_MAGIC_OFFSET) !== LMDB_MAGIC) {
      throw bad('no LMDB magic in the second meta page');
    }
  } finally {
    closeSync(fd);
  }
}

/** fsync of a file or (on POSIX) a directory. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await openFile(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
