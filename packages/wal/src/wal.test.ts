import fc from 'fast-check';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WalClosedError, WalCorruptionError } from './errors.js';
import { type InternalWalOptions, nodeFs, type WalFs } from './fs.js';
import type { WalRecord } from './record.js';
import { arbLogOps } from './test-support/arbitraries.js';
import { modelReplay } from './test-support/model.js';
import { useTempDirs } from './test-support/tmp.js';
import { Wal, type WalOptions } from './wal.js';

const tempDir = useTempDirs();
const META = new TextEncoder().encode('member=1 cluster=2');
const SMALL = { segmentSizeBytes: 4096 };

const entry = (index: number, term = 1, size = 10): WalRecord => ({
  type: 'entry',
  term,
  index,
  data: new Uint8Array(size).fill(index & 0xff),
});

async function walDir(): Promise<string> {
  return join(await tempDir(), 'member', 'wal');
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

describe('Wal create/open', () => {
  it('exists() is false before create and true after', async () => {
    const dir = await walDir();
    expect(await Wal.exists(dir)).toBe(false);
    const wal = await Wal.create(dir, META, SMALL);
    await wal.close();
    expect(await Wal.exists(dir)).toBe(true);
  });

  it('refuses to create over an existing log', async () => {
    const dir = await walDir();
    await (await Wal.create(dir, META, SMALL)).close();
    await expect(Wal.create(dir, META, SMALL)).rejects.toThrow(/already holds a log/);
  });

  it('a fresh log replays its metadata and nothing else', async () => {
    const dir = await walDir();
    await (await Wal.create(dir, META, SMALL)).close();
    const { wal, replay } = await Wal.open(dir, SMALL);
    expect(replay).toEqual({ metadata: META, entries: [] });
    expect(wal.lastIndex).toBe(0);
    await wal.close();
  });

  it('replays what was appended, across reopen and rotation, in order', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    const records: WalRecord[] = [];
    for (let i = 1; i <= 200; i++) {
      const batch: WalRecord[] = [entry(i, 1, 50), { type: 'hardState', term: 1, vote: 3n, commit: i - 1 }];
      records.push(...batch);
      await wal.append(batch);
    }
    expect(wal.stats.segmentsCut).toBeGreaterThan(3);
    await wal.close();
    expect((await segmentFiles(dir)).length).toBe(wal.stats.segmentsCut + 1);
    const { wal: again, replay } = await Wal.open(dir, SMALL);
    expect(replay).toEqual(modelReplay(META, records));
    expect(replay.entries.map((e) => e.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(again.lastIndex).toBe(200);
    // Appends continue the log after reopen.
    await again.append([entry(201)]);
    await again.close();
    const third = await Wal.open(dir, SMALL);
    expect(third.replay.entries.at(-1)?.index).toBe(201);
    await third.wal.close();
  });

  it('a record larger than a whole segment gets a segment of its own and reads back', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1, 1, 10)]);
    await wal.append([entry(2, 1, 10_000)]);
    await wal.append([entry(3, 1, 10)]);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.map((e) => [e.index, e.data.length])).toEqual([
      [1, 10],
      [2, 10_000],
      [3, 10],
    ]);
    expect((await segmentFiles(dir)).length).toBe(3);
  });

  it('names segments <seq>-<firstIndex>.wal with contiguous sequence numbers', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 100; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const names = await segmentFiles(dir);
    let prevFirst = 0;
    names.forEach((n, seq) => {
      const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(n)!;
      expect(Number.parseInt(m[1]!, 16)).toBe(seq);
      const first = Number.parseInt(m[2]!, 16);
      expect(first).toBeGreaterThan(prevFirst);
      prevFirst = first;
    });
  });

  it('property: any raft-like record stream replays as the naive model says', async () => {
    await fc.assert(
      fc.asyncProperty(arbLogOps(60), fc.integer({ min: 1, max: 8 }), async (records, batchSize) => {
        const dir = await walDir();
        const wal = await Wal.create(dir, META, SMALL);
        for (let i = 0; i < records.length; i += batchSize) await wal.append(records.slice(i, i + batchSize));
        await wal.close();
        const { wal: w2, replay } = await Wal.open(dir, SMALL);
        await w2.close();
        expect(replay).toEqual(modelReplay(META, records));
      }),
      { numRuns: 25 },
    );
  });
});

describe('Wal open from a snapshot, property', () => {
  it('after releases, opening from any later marker replays exactly the entries above it', async () => {
    await fc.assert(
      fc.asyncProperty(arbLogOps(60, 300), fc.nat(), fc.boolean(), async (records, pick, release) => {
        const dir = await walDir();
        const wal = await Wal.create(dir, META, SMALL);
        const markers: Array<{ index: number; term: number }> = [];
        let released = 0;
        let batch: WalRecord[] = [];
        for (const r of records) {
          batch.push(r);
          if (r.type !== 'snapshot') continue;
          await wal.append(batch);
          batch = [];
          markers.push({ index: r.index, term: r.term });
          if (release) {
            await wal.releaseTo(r.index);
            released = r.index;
          }
        }
        await wal.append(batch);
        await wal.close();
        const eligible = markers.filter((m) => m.index >= released);
        if (eligible.length === 0) return;
        const from = eligible[pick % eligible.length]!;
        const { wal: w2, replay } = await Wal.open(dir, { ...SMALL, fromSnapshot: from });
        await w2.close();
        const full = modelReplay(META, records);
        // The model's entries are cut at the latest marker; rebuild the raw log instead.
        const raw = modelReplay(META, records.filter((r) => r.type !== 'snapshot'));
        expect(replay.snapshot).toEqual(from);
        expect(replay.hardState).toEqual(full.hardState);
        expect(replay.entries).toEqual(raw.entries.filter((e) => e.index > from.index));
      }),
      { numRuns: 100 },
    );
  });

  it('an entry at or below the snapshot, written after later entries, still truncates them (fast-check seed -560568574)', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    const data = new Uint8Array(0);
    await wal.append([
      { type: 'entry', term: 1, index: 1, data },
      { type: 'entry', term: 1, index: 2, data },
      { type: 'entry', term: 2, index: 1, data },
      { type: 'snapshot', index: 1, term: 2 },
    ]);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, { ...SMALL, fromSnapshot: { index: 1, term: 2 } });
    await w2.close();
    expect(replay.entries).toEqual([]);
  });
});

describe('Wal truncation semantics', () => {
  it('an entry at index i replaces every earlier entry with index >= i', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1), entry(2), entry(3), entry(4), entry(5)]);
    await wal.append([entry(3, 2), entry(4, 2)]);
    expect(wal.lastIndex).toBe(4);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
  });

  it('truncation across a segment boundary replaces entries of earlier segments', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 60; i++) await wal.append([entry(i, 1, 100)]);
    await wal.append([entry(10, 2)]);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.length).toBe(10);
    expect(replay.entries.at(-1)).toMatchObject({ index: 10, term: 2 });
  });

  it('rejects an entry that would leave a gap, writing nothing', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1)]);
    await expect(wal.append([entry(2), entry(4)])).rejects.toThrow(RangeError);
    expect(wal.lastIndex).toBe(1);
    expect(wal.stats.appends).toBe(1);
    await wal.close();
  });

  it('a snapshot marker past the last index moves the base (snapshot installed from a leader)', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1), entry(2)]);
    await wal.append([{ type: 'snapshot', index: 100, term: 5 }]);
    expect(wal.lastIndex).toBe(100);
    await wal.append([entry(101, 5)]);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.snapshot).toEqual({ index: 100, term: 5 });
    expect(replay.entries.map((e) => e.index)).toEqual([101]);
  });
});

describe('Wal open from a snapshot', () => {
  it('skips entries covered by the given snapshot and reports it', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 80; i++) await wal.append([entry(i, 1, 100)]);
    await wal.append([{ type: 'snapshot', index: 50, term: 1 }]);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, { ...SMALL, fromSnapshot: { index: 40, term: 1 } });
    await w2.close();
    expect(replay.snapshot).toEqual({ index: 40, term: 1 });
    expect(replay.entries.map((e) => e.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 41));
    // Without fromSnapshot the latest marker is the base.
    const { wal: w3, replay: r3 } = await Wal.open(dir, SMALL);
    await w3.close();
    expect(r3.snapshot).toEqual({ index: 50, term: 1 });
    expect(r3.entries[0]?.index).toBe(51);
  });

  it('a snapshot newer than the log gets its marker recorded, so a plain open and releaseTo agree', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 60; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    // As after a crash between SnapshotStore.save (index 500, from the leader) and the marker append.
    const { wal: w2, replay } = await Wal.open(dir, { ...SMALL, fromSnapshot: { index: 500, term: 3 } });
    expect(replay.entries).toEqual([]);
    expect(w2.lastIndex).toBe(500);
    await w2.append([entry(501, 3)]);
    await w2.releaseTo(500);
    await w2.close();
    const { wal: w3, replay: r3 } = await Wal.open(dir, SMALL);
    await w3.close();
    expect(r3.snapshot).toEqual({ index: 500, term: 3 });
    expect(r3.entries.map((e) => e.index)).toEqual([501]);
  });

  it('a marker with the same index but another term is an error', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1), entry(2), { type: 'snapshot', index: 2, term: 1 }]);
    await wal.close();
    await expect(Wal.open(dir, { ...SMALL, fromSnapshot: { index: 2, term: 9 } })).rejects.toThrow(WalCorruptionError);
  });
});

describe('Wal.releaseTo', () => {
  it('deletes only segments wholly covered by the snapshot, and replay still works', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 120; i++) await wal.append([entry(i, 1, 100), { type: 'hardState', term: 1, vote: 7n, commit: i }]);
    const before = await segmentFiles(dir);
    const firsts = before.map((n) => Number.parseInt(n.slice(17, 33), 16));
    await wal.append([{ type: 'snapshot', index: 70, term: 1 }]);
    await expect(wal.releaseTo(71)).rejects.toThrow(RangeError); // no durable marker that high
    await wal.releaseTo(70);
    const after = await segmentFiles(dir);
    // Kept: the segment holding entry 71 and everything after it.
    let keepFrom = 0;
    firsts.forEach((f, i) => {
      if (f <= 71) keepFrom = i;
    });
    expect(after).toEqual(before.slice(keepFrom));
    expect(after.length).toBeLessThan(before.length);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.metadata).toEqual(META);
    expect(replay.snapshot).toEqual({ index: 70, term: 1 });
    expect(replay.hardState).toEqual({ term: 1, vote: 7n, commit: 120 });
    expect(replay.entries.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => i + 71));
  });

  it('never deletes the current segment', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1), entry(2), { type: 'snapshot', index: 2, term: 1 }]);
    await wal.releaseTo(2);
    expect((await segmentFiles(dir)).length).toBe(1);
    await wal.close();
  });
});

describe('Wal group commit', () => {
  it('100 concurrent appends are made durable by far fewer than 100 syncs, in call order', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, { segmentSizeBytes: 1 << 20 });
    const syncsBefore = wal.stats.syncs;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => wal.append([entry(i + 1)]).then(() => order.push(i + 1))),
    );
    const syncs = wal.stats.syncs - syncsBefore;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(2);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir);
    await w2.close();
    expect(replay.entries.map((e) => e.index)).toEqual(order);
  });

  it('appends arriving during a sync ride the next single sync', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, { segmentSizeBytes: 1 << 20 });
    const first = wal.append([entry(1)]);
    await Promise.resolve();
    await Promise.resolve(); // the first batch is now being written
    const later = Array.from({ length: 50 }, (_, i) => wal.append([entry(i + 2)]));
    await Promise.all([first, ...later]);
    expect(wal.stats.syncs).toBe(2);
    expect(wal.stats.writes).toBe(2);
    await wal.close();
  });

  it('an empty append is a barrier that resolves after earlier appends', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    let done = false;
    const a = wal.append([entry(1)]).then(() => (done = true));
    await wal.append([]);
    expect(done).toBe(true);
    await a;
    await wal.close();
  });

  it('close waits for pending appends; appends after close reject', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    const p = wal.append([entry(1)]);
    await wal.close();
    await p;
    await expect(wal.append([entry(2)])).rejects.toThrow(WalClosedError);
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.length).toBe(1);
  });
});

describe('Wal segment files', () => {
  it('the current segment is preallocated; finished ones are cut to their used size; no temp files stay', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 100; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const { stat } = await import('node:fs/promises');
    const names = await segmentFiles(dir);
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size));
    expect(sizes.at(-1)).toBe(4096);
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeLessThanOrEqual(4096);
      expect(s).toBeGreaterThan(4096 - 128 - 1);
    }
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('the next segment is not prepared while the tail is under half full, and is once it is past half', async () => {
    const dir = await walDir();
    const size = 64 * 1024;
    const tmpFiles = async () => (await readdir(dir)).filter((n) => n.endsWith('.tmp'));
    const wal = await Wal.create(dir, META, { segmentSizeBytes: size });
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(await tmpFiles()).toEqual([]);
      await wal.append([entry(1, 1, size / 4)]);
      await new Promise((r) => setTimeout(r, 50));
      expect(await tmpFiles()).toEqual([]);
      await wal.append([entry(2, 1, size / 4)]);
      for (let i = 0; i < 100 && (await tmpFiles()).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await tmpFiles()).toHaveLength(1);
    } finally {
      await wal.close();
    }
    expect(await tmpFiles()).toEqual([]);
    // Reopened past half full: preparing starts at open.
    const { wal: reopened } = await Wal.open(dir, { segmentSizeBytes: size });
    try {
      for (let i = 0; i < 100 && (await tmpFiles()).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await tmpFiles()).toHaveLength(1);
    } finally {
      await reopened.close();
    }
  });

  it('after a failed write the log rejects every append', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    await wal.append([entry(1)]);
    // Pull the file out from under the writer: the next write fails with EBADF.
    await (wal as unknown as { fh: { close(): Promise<void> } }).fh.close();
    await expect(wal.append([entry(2)])).rejects.toThrow(WalClosedError);
    await expect(wal.append([entry(3)])).rejects.toThrow(/failed/);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.map((e) => e.index)).toEqual([1]);
  });
});

describe('Wal short writes', () => {
  it('a write that takes only part of a batch goes on from where it stopped; everything replays', async () => {
    const dir = await walDir();
    // The durable handle's write takes at most 7 bytes per call, as a kernel may.
    let calls = 0;
    const fs: WalFs = {
      ...nodeFs,
      openDurable: async (path) => {
        const f = await nodeFs.openDurable(path);
        return { ...f, write: (b, off, len, pos) => (calls++, f.write(b, off, Math.min(len, 7), pos)) };
      },
    };
    const opts = { ...SMALL, fs } as WalOptions & InternalWalOptions;
    const wal = await Wal.create(dir, META, opts);
    await Promise.all([wal.append([entry(1)]), wal.append([entry(2), entry(3, 1, 300)])]);
    await wal.append([entry(4, 2, 1)]);
    expect(calls).toBeGreaterThan(300 / 7);
    await wal.close();
    const { wal: w2, replay } = await Wal.open(dir, SMALL);
    await w2.close();
    expect(replay.entries.map((e) => [e.index, e.term, e.data.length])).toEqual([[1, 1, 10], [2, 1, 10], [3, 1, 300], [4, 2, 1]]);
  });
});

describe('Wal corruption', () => {
  it('a flipped byte in a non-last segment is a named error with file and offset', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 80; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const names = await segmentFiles(dir);
    expect(names.length).toBeGreaterThan(2);
    const victim = join(dir, names[1]!);
    const bytes = await readFile(victim);
    bytes[600]! ^= 0x40;
    await writeFile(victim, bytes);
    const err = await Wal.open(dir, SMALL).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WalCorruptionError);
    const c = err as WalCorruptionError;
    expect(c.file).toBe(victim);
    expect(c.offset).toBeLessThanOrEqual(600);
    expect(c.offset).toBeGreaterThan(600 - 130);
    expect(c.message).toContain(victim);
  });

  it('a bad record followed by valid ones in the last segment is an error, not a torn tail', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, { segmentSizeBytes: 1 << 20 });
    for (let i = 1; i <= 20; i++) await wal.append([entry(i, 1, 50)]);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const file = join(dir, name!);
    const bytes = await readFile(file);
    bytes[300]! ^= 0x01;
    await writeFile(file, bytes);
    await expect(Wal.open(dir)).rejects.toThrow(WalCorruptionError);
  });

  it('a zero sector inside a record followed by valid ones is a torn write (sectors persisted out of order), not corruption', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, { segmentSizeBytes: 1 << 20 });
    for (let i = 1; i <= 6; i++) await wal.append([entry(i, 1, 2000)]);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const file = join(dir, name!);
    const bytes = await readFile(file);
    // Entry 4's frame spans roughly [6100, 8130); zero the aligned sector at 6656.
    bytes.fill(0, 6656, 6656 + 512);
    await writeFile(file, bytes);
    const { wal: w2, replay } = await Wal.open(dir, { segmentSizeBytes: 1 << 20 });
    await w2.close();
    expect(replay.entries.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('a missing middle segment is an error', async () => {
    const dir = await walDir();
    const wal = await Wal.create(dir, META, SMALL);
    for (let i = 1; i <= 150; i++) await wal.append([entry(i, 1, 100)]);
    await wal.close();
    const names = await segmentFiles(dir);
    expect(names.length).toBeGreaterThan(3);
    const { unlink } = await import('node:fs/promises');
    await unlink(join(dir, names[1]!));
    await expect(Wal.open(dir, SMALL)).rejects.toThrow(/sequence jumps/);
  });
});
