import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BackendSnapshotFile, importBackend, type BucketEntry } from './backend-file.js';
import { MvccStore } from './kvstore.js';
import { dec, enc, openStore, tempDir, track } from './test-support/helpers.js';
import { history, observe } from './test-support/history.js';

describe('BackendSnapshotFile → importBackend', () => {
  it('a store imported from a snapshot file\'s raw entries is the same store (reads, history, compaction, hashes, buckets)', async () => {
    const source = await openStore();
    let i = history(source, 1, 120);
    await source.compact(40, i++).done;
    i = history(source, i, 30);
    source.bucket('lease').put(enc('7'), enc('a lease'));
    source.bucket('members').put(enc('m1'), enc('{}'));
    await source.commit();
    const snapPath = join(tempDir(), 'snap.mdb');
    await source.snapshotTo(snapPath);

    const snap = BackendSnapshotFile.open(snapPath);
    const revisions: Array<[Buffer, Buffer]> = [];
    const meta: Array<[Buffer, Buffer]> = [];
    const buckets: BucketEntry[] = [];
    for (const { key, value } of snap.revisions()) revisions.push([Buffer.from(key), Buffer.from(value)]);
    for (const { key, value } of snap.meta()) meta.push([Buffer.from(key), Buffer.from(value)]);
    for (const e of snap.buckets()) buckets.push({ bucket: e.bucket, key: Buffer.from(e.key), value: Buffer.from(e.value) });
    await snap.close();
    expect(existsSync(`${snapPath}-lock`)).toBe(false);
    expect(buckets.map((b) => `${b.bucket}:${dec(b.key)}`)).toEqual(['lease:7', 'members:m1']);
    expect(meta.map(([k]) => k.toString())).toContain('finishedCompactRev');
    // Revision keys come in order, tombstones marked as etcd's.
    expect(revisions.every(([k], j) => j === 0 || Buffer.compare(revisions[j - 1]![0], k) < 0)).toBe(true);

    const dir = tempDir();
    const progress: number[] = [];
    await importBackend(dir, { revisions, meta, buckets }, (n) => progress.push(n));
    expect(progress.at(-1)).toBe(revisions.length + meta.length + buckets.length);
    const copy = track(await MvccStore.open({ dir }));
    expect(observe(copy)).toEqual(observe(source));
    expect(copy.consistentIndex).toBe(i - 1);
    expect([...copy.bucket('lease').loadAll()].map((r) => dec(r.value))).toEqual(['a lease']);
    // A second import into the same directory is refused.
    await expect(importBackend(dir, { revisions: [], meta: [], buckets: [] })).rejects.toThrow(/already holds a backend/);
  });

  it('refuses malformed revision keys and KeyValues', async () => {
    await expect(importBackend(tempDir(), { revisions: [[enc('short'), enc('')]], meta: [], buckets: [] })).rejects.toThrow(/malformed revision key/);
    const key = Buffer.alloc(17);
    key[8] = 0x5f;
    key[7] = 1;
    await expect(importBackend(tempDir(), { revisions: [[key, Buffer.from([0xff, 0xff])]], meta: [], buckets: [] })).rejects.toThrow(RangeError);
    // A KeyValue whose mod_revision (0x18: 2) is not its key's revision (1); one cut short.
    const kv = Buffer.from([0x0a, 0x01, 0x61, 0x18, 0x02]);
    await expect(importBackend(tempDir(), { revisions: [[key, kv]], meta: [], buckets: [] })).rejects.toThrow(/revision 1_0 holds a KeyValue of mod_revision 2/);
    await expect(importBackend(tempDir(), { revisions: [[key, Buffer.from([0x0a, 0x05, 0x61])]], meta: [], buckets: [] })).rejects.toThrow(/truncated/);
    // A revision past 2^53 is refused, not rounded.
    const big = Buffer.from(key);
    big[1] = 0x20;
    await expect(importBackend(tempDir(), { revisions: [[big, Buffer.from([0x0a, 0x01, 0x61])]], meta: [], buckets: [] })).rejects.toThrow(RangeError);
    // Well formed and agreeing: imported.
    await importBackend(tempDir(), { revisions: [[key, Buffer.from([0x0a, 0x01, 0x61, 0x18, 0x01])]], meta: [], buckets: [] });
  });
});
