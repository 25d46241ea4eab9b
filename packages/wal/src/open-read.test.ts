// How open reads segments: only the metadata for Wal.readMetadata, and a preallocated segment
// without its zero tail for Wal.open — with the same verdicts as a read of the whole file.
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WalCorruptionError } from './errors.js';
import type { WalRecord } from './record.js';
import { useTempDirs } from './test-support/tmp.js';
import { Wal } from './wal.js';

const tempDir = useTempDirs();
const META = new TextEncoder().encode('member=1 cluster=2');
const SMALL = { segmentSizeBytes: 4096 };
const MiB = 1024 * 1024;

async function walDir(): Promise<string> {
  return join(await tempDir(), 'member', 'wal');
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

async function writeAt(path: string, bytes: Uint8Array, position: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, position);
  } finally {
    await fh.close();
  }
}

describe('Wal.readMetadata', () => {
  it('returns what create was given, also once the first segments are released', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    expect(await Wal.readMetadata(dir, SMALL)).toEqual(META);
    for (let i = 1; i <= 120; i++) {
      await wal.append([{ type: 'entry', term: 1, index: i, data: new Uint8Array(100).fill(i) }, { type: 'hardState', term: 1, vote: 0n, commit: i }]);
    }
    await wal.append([{ type: 'snapshot', index: 100, term: 1 }]);
    await wal.releaseTo(100);
    await wal.close();
    const left = await segmentFiles(dir);
    expect(left[0]!.startsWith('0000000000000000-')).toBe(false);
    expect(await Wal.readMetadata(dir, SMALL)).toEqual(META);
  });

  it('a damaged segment header is a WalCorruptionError; no segment at all is an error', async () => {
    const dir = await walDir();
    await (await Wal.create(dir, META, SMALL)).close();
    const [name] = await segmentFiles(dir);
    // Offset 30: inside the metadata payload (12-byte header + 4-byte crc record, then the metadata frame's header).
    await writeAt(join(dir, name!), new Uint8Array([0xff]), 30);
    await expect(Wal.readMetadata(dir, SMALL)).rejects.toBeInstanceOf(WalCorruptionError);
    await expect(Wal.readMetadata(await walDir())).rejects.toThrow();
  });
});

describe('Wal.open of a preallocated segment', () => {
  it('a last record ending in megabytes of zeros reads back whole', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META);
    const data = new Uint8Array(3 * MiB);
    data[0] = 1; // the rest, 3 MiB less a byte, is zero: more than a read chunk
    const records: WalRecord[] = [{ type: 'entry', term: 1, index: 1, data }, { type: 'entry', term: 1, index: 2, data: new Uint8Array(2 * MiB) }];
    await wal.append(records);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir);
    await w2.close();
    expect(replay.entries.map((e) => [e.index, e.data.length])).toEqual([[1, 3 * MiB], [2, 2 * MiB]]);
    // Compared as bytes: a deep equal of 3 MiB element by element takes half a minute.
    expect(Buffer.compare(replay.entries[0]!.data, data)).toBe(0);
  });

  it('stale bytes far past the last record are a torn tail: cut (zeroed), the records kept', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META);
    await wal.append([{ type: 'entry', term: 1, index: 1, data: new Uint8Array([7]) }]);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    await writeAt(path, new Uint8Array([1, 2, 3]), 40 * MiB);
    const { wal: w2, replay } = await Wal.open(dir);
    await w2.close();
    expect(replay.entries.map((e) => e.index)).toEqual([1]);
    const bytes = await readFile(path);
    expect([...bytes.subarray(40 * MiB, 40 * MiB + 3)]).toEqual([0, 0, 0]);
    expect(bytes.length).toBe(64 * MiB);
  });

  it('records over many read chunks, then zeros, then stale bytes: the records read back byte for byte', async () => {
    // Data past the first chunk is read straight into the result, zeros into a scratch chunk:
    // both paths, and the switch between them, must give the file's bytes.
    const dir = await walDir();
    const wal = await Wal.create(dir, META);
    const datas = Array.from({ length: 5 }, (_, i) => Uint8Array.from({ length: 1.5 * MiB + i }, (_, j) => ((j * 31 + i) % 251) + 1));
    await wal.append(datas.map((data, i) => ({ type: 'entry' as const, term: 1, index: i + 1, data })));
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    await writeAt(path, new Uint8Array([9, 9, 9]), 40 * MiB);
    const { wal: w2, replay } = await Wal.open(dir);
    await w2.close();
    expect(replay.entries.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    replay.entries.forEach((e, i) => expect(Buffer.compare(e.data, datas[i]!)).toBe(0));
    expect([...(await readFile(path)).subarray(40 * MiB, 40 * MiB + 3)]).toEqual([0, 0, 0]);
  });
});
