import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { checkLmdbHeader } from './lmdb-file.js';
import { tempDir } from './test-support/helpers.js';

/** The bytes of a small, whole single-file LMDB environment. */
async function lmdbFileBytes(): Promise<Buffer> {
  const path = join(tempDir(), 'good.mdb');
  const env = openLmdb({ path, noSubdir: true });
  const db = env.openDB({ name: 'key', encoding: 'binary', keyEncoding: 'binary' });
  for (let i = 0; i < 100; i++) await db.put(Buffer.from(`k${i}`), Buffer.alloc(100, i));
  await env.close();
  rmSync(`${path}-lock`);
  return readFileSync(path);
}

// Offsets in lmdb-js 3.x's meta page (see lmdb-file.ts): magic at 24, page size at 48.
const MAGIC = 24;
const PAGE_SIZE = 48;

describe('checkLmdbHeader', () => {
  it.each([
    { name: 'a whole LMDB file', make: (good: Buffer) => good, error: undefined },
    { name: 'an empty file', make: () => Buffer.alloc(0), error: /: 0 bytes$/ },
    { name: 'a file shorter than a meta page header', make: (good: Buffer) => good.subarray(0, 40), error: /: 40 bytes$/ },
    {
      name: 'no magic in the first meta page',
      make: (good: Buffer) => {
        const b = Buffer.from(good);
        b.writeUInt32LE(0, MAGIC);
        return b;
      },
      error: /no LMDB magic in the first meta page/,
    },
    {
      name: 'a page size that is not a power of two',
      make: (good: Buffer) => {
        const b = Buffer.from(good);
        b.writeUInt32LE(5000, PAGE_SIZE);
        return b;
      },
      error: /page size 5000/,
    },
    {
      name: 'only the first page',
      make: (good: Buffer) => good.subarray(0, good.readUInt32LE(PAGE_SIZE)),
      error: /shorter than its two meta pages/,
    },
    {
      name: 'no magic in the second meta page',
      make: (good: Buffer) => {
        const b = Buffer.from(good);
        b.writeUInt32LE(0, good.readUInt32LE(PAGE_SIZE) + MAGIC);
        return b;
      },
      error: /no LMDB magic in the second meta page/,
    },
  ])('$name', async ({ make, error }) => {
    const good = await lmdbFileBytes();
    const path = join(tempDir(), 'file.mdb');
    writeFileSync(path, make(good));
    if (error === undefined) expect(() => checkLmdbHeader(path)).not.toThrow();
    else expect(() => checkLmdbHeader(path)).toThrow(error);
  });
});
