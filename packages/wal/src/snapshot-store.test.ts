import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotStore } from './snapshot-store.js';
import { useTempDirs } from './test-support/tmp.js';

const tempDir = useTempDirs();

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

async function* chunks(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe('SnapshotStore', () => {
  it('has nothing to load in a missing or empty directory', async () => {
    const store = new SnapshotStore(join(await tempDir(), 'snap'));
    expect(await store.loadLatest()).toBeUndefined();
    await store.purge(1);
  });

  it('saves and loads a snapshot (bytes, stream and file payloads)', async () => {
    const root = await tempDir();
    const store = new SnapshotStore(join(root, 'snap'));
    const payload = bytes(3 * 1024 * 1024 + 17);
    await store.save({ index: 10, term: 2 }, payload);
    let got = await store.loadLatest();
    expect(got).toMatchObject({ index: 10, term: 2, sizeBytes: payload.length });
    // Buffer.equals: a 3 MiB deep toEqual is needlessly slow.
    expect(Buffer.from(await got!.read()).equals(payload)).toBe(true);
    const streamed = await collect(got!.stream());
    expect(streamed.length).toBe(payload.length);
    expect(Buffer.from(streamed).equals(payload)).toBe(true);

    await store.save({ index: 20, term: 2 }, chunks([bytes(5), bytes(0), bytes(1000, 3)]));
    got = await store.loadLatest();
    expect(got).toMatchObject({ index: 20, term: 2, sizeBytes: 1005 });
    expect(await got!.read()).toEqual(Uint8Array.from([...bytes(5), ...bytes(1000, 3)]));

    const src = join(root, 'db');
    await writeFile(src, bytes(4000, 9));
    await store.save({ index: 30, term: 3 }, src);
    got = await store.loadLatest();
    expect(got).toMatchObject({ index: 30, term: 3 });
    expect(await got!.read()).toEqual(bytes(4000, 9));
  });

  it('an empty payload is a valid snapshot', async () => {
    const store = new SnapshotStore(join(await tempDir(), 'snap'));
    await store.save({ index: 1, term: 1 }, new Uint8Array(0));
    const got = await store.loadLatest();
    expect(got?.sizeBytes).toBe(0);
    expect(await got!.read()).toEqual(new Uint8Array(0));
  });

  it('latest valid wins: a truncated, corrupted or leftover temp file is ignored', async () => {
    const dir = join(await tempDir(), 'snap');
    const store = new SnapshotStore(dir);
    await store.save({ index: 5, term: 1 }, bytes(100, 5));
    await store.save({ index: 6, term: 1 }, bytes(100, 6));
    await store.save({ index: 7, term: 1 }, bytes(100, 7));
    const files = (await readdir(dir)).sort();
    // Newest: truncated. Second newest: one payload byte flipped. A crashed save leaves a temp file.
    await truncate(join(dir, files[2]!), 90);
    const f6 = join(dir, files[1]!);
    const b6 = await readFile(f6);
    b6[3]! ^= 1;
    await writeFile(f6, b6);
    await writeFile(join(dir, `${'0'.repeat(15)}1-${'0'.repeat(14)}63.snap.123-0.tmp`), bytes(10));
    const got = await store.loadLatest();
    expect(got).toMatchObject({ index: 5, term: 1 });
    expect(await got!.read()).toEqual(bytes(100, 5));
  });

  it('a file whose trailer disagrees with its name is ignored', async () => {
    const dir = join(await tempDir(), 'snap');
    const store = new SnapshotStore(dir);
    await store.save({ index: 5, term: 1 }, bytes(10));
    const [name] = await readdir(dir);
    const { rename } = await import('node:fs/promises');
    await rename(join(dir, name!), join(dir, `${'0'.repeat(15)}1-${'0'.repeat(15)}9.snap`));
    expect(await store.loadLatest()).toBeUndefined();
  });

  it('read() notices a file that changed after loadLatest verified it', async () => {
    const dir = join(await tempDir(), 'snap');
    const store = new SnapshotStore(dir);
    await store.save({ index: 5, term: 1 }, bytes(100));
    const got = (await store.loadLatest())!;
    const b = await readFile(got.path);
    b[0]! ^= 1;
    await writeFile(got.path, b);
    await expect(got.read()).rejects.toThrow(/checksum/);
  });

  it('a failing payload stream leaves no snapshot and no temp file', async () => {
    const dir = join(await tempDir(), 'snap');
    const store = new SnapshotStore(dir);
    async function* broken(): AsyncIterable<Uint8Array> {
      yield bytes(10);
      throw new Error('source died');
    }
    await expect(store.save({ index: 1, term: 1 }, broken())).rejects.toThrow('source died');
    expect(await readdir(dir)).toEqual([]);
    expect(await store.loadLatest()).toBeUndefined();
  });

  it('purge keeps the newest N valid snapshots and removes the rest and temp leftovers', async () => {
    const dir = join(await tempDir(), 'snap');
    const store = new SnapshotStore(dir);
    for (let i = 1; i <= 5; i++) await store.save({ index: i * 10, term: 1 }, bytes(50, i));
    await writeFile(join(dir, 'x.snap.1-1.tmp'), bytes(3));
    const newest = (await readdir(dir)).filter((n) => n.endsWith('.snap')).sort().at(-1)!;
    await truncate(join(dir, newest), 10); // newest is broken: it must not count as kept
    await store.purge(2);
    const left = (await readdir(dir)).sort();
    expect(left.map((n) => Number.parseInt(n.slice(17, 33), 16))).toEqual([30, 40]);
    expect((await store.loadLatest())?.index).toBe(40);
    await expect(store.purge(0)).rejects.toThrow(RangeError);
  });

  it('rejects impossible metadata', async () => {
    const store = new SnapshotStore(join(await tempDir(), 'snap'));
    await expect(store.save({ index: -1, term: 1 }, bytes(1))).rejects.toThrow(RangeError);
    await expect(store.save({ index: 1, term: 2 ** 53 }, bytes(1))).rejects.toThrow(RangeError);
  });
});
