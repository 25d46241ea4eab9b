import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from './test-support/tmp.js';
import { Wal } from './wal.js';

const tempDir = useTempDirs();
const META = new TextEncoder().encode('member=1 cluster=2');

describe('WalOptions.onSync', () => {
  it('is told the duration of every sync of the append path, rotations included', async () => {
    const durations: number[] = [];
    const dir = join(await tempDir(), 'wal');
    const wal = await Wal.create(dir, META, { segmentSizeBytes: 4096, onSync: (s) => durations.push(s) });
    const before = wal.stats.syncs;
    for (let i = 1; i <= 40; i++) await wal.append([{ type: 'entry', term: 1, index: i, data: new Uint8Array(200) }]);
    expect(wal.stats.segmentsCut).toBeGreaterThan(0);
    // Each rotation syncs twice: the old segment's sync is timed, the new header's is not (etcd times only w.sync()).
    expect(durations.length).toBe(40 + wal.stats.segmentsCut);
    expect(wal.stats.syncs - before).toBe(40 + 2 * wal.stats.segmentsCut);
    for (const s of durations) expect(s).toBeGreaterThanOrEqual(0);
    await wal.close();
  });

  it('is carried by open, and a log opened without it works the same', async () => {
    const dir = join(await tempDir(), 'wal');
    await (await Wal.create(dir, META)).close();
    const seen: number[] = [];
    const { wal } = await Wal.open(dir, { onSync: (s) => seen.push(s) });
    await wal.append([{ type: 'entry', term: 1, index: 1, data: new Uint8Array(1) }]);
    expect(seen.length).toBe(1);
    await wal.close();
    const { wal: plain, replay } = await Wal.open(dir);
    expect(replay.entries.map((e) => e.index)).toEqual([1]);
    await plain.append([{ type: 'entry', term: 1, index: 2, data: new Uint8Array(1) }]);
    await plain.close();
  });
});
