import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeUnfinishedSnapshotFiles, snapDbName } from './received-snapshots.js';

const dir = mkdtempSync(join(tmpdir(), 'snapdir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('removeUnfinishedSnapshotFiles', () => {
  it('removes what a stop left of receiving, sending and exporting, and keeps received snapshots', async () => {
    const leftovers = ['x.snap.db.part', 'y.snap.db.send', 'export-123-1.mdb', 'export-123-1.mdb-lock', 'export-123-2.bolt.part'];
    for (const f of leftovers) writeFileSync(join(dir, f), 'x');
    mkdirSync(join(dir, 'export-123-3.mdb.tmp-123'));
    writeFileSync(join(dir, 'export-123-3.mdb.tmp-123', 'data.mdb'), 'x');
    const kept = [snapDbName(7), 'exported-by-hand.db', '0000000000000002-0000000000000007.snap'];
    for (const f of kept) writeFileSync(join(dir, f), 'x');
    await removeUnfinishedSnapshotFiles(dir);
    for (const f of [...leftovers, 'export-123-3.mdb.tmp-123']) expect(existsSync(join(dir, f)), f).toBe(false);
    for (const f of kept) expect(existsSync(join(dir, f)), f).toBe(true);
  });
});
