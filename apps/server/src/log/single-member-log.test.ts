import { Wal } from '@raftkv/wal';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommittedEntry } from './replicated-log.js';
import { SingleMemberLog } from './single-member-log.js';

const dirs: string[] = [];
function walDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftkv-log-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function collect() {
  const applied: CommittedEntry[] = [];
  let wake: (() => void) | undefined;
  return {
    applied,
    apply: (entries: CommittedEntry[]) => { applied.push(...entries); wake?.(); },
    async until(n: number) {
      while (applied.length < n) await new Promise<void>((r) => { wake = r; });
    },
  };
}

describe('SingleMemberLog', () => {
  it('commits proposals in order, only after the WAL append resolved, one append per turn', async () => {
    const dir = walDir();
    const wal = await Wal.create(dir, new Uint8Array(16));
    const sink = collect();
    const log = new SingleMemberLog({ wal, memberId: 1n, term: 3, lastIndex: 0, apply: sink.apply, fatal: (e) => { throw e; } });
    for (let i = 0; i < 10; i++) log.propose(Buffer.from(`p${i}`));
    expect(sink.applied).toHaveLength(0); // nothing committed before the sync
    await sink.until(10);
    expect(sink.applied.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]))
      .toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, 3, `p${i}`]));
    expect(wal.stats.appends).toBe(1);
    expect(log.commitIndex).toBe(10);
    await log.close();
    await wal.close();

    const reopened = await Wal.open(dir);
    expect(reopened.replay.hardState).toEqual({ term: 3, vote: 1n, commit: 10 });
    expect(reopened.replay.entries.map((e) => e.index)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await reopened.wal.close();
  });

  it('continues after the recovered index and flushes proposals on close', async () => {
    const dir = walDir();
    const wal = await Wal.create(dir, new Uint8Array(16));
    await wal.append([{ type: 'snapshot', index: 41, term: 1 }]);
    const sink = collect();
    const log = new SingleMemberLog({ wal, memberId: 1n, term: 2, lastIndex: 41, apply: sink.apply, fatal: (e) => { throw e; } });
    log.propose(Buffer.from('a'));
    log.propose(Buffer.from('b'));
    await log.close();
    expect(sink.applied.map((e) => e.index)).toEqual([42, 43]);
    expect(() => log.propose(Buffer.from('c'))).toThrow(/closed/);
    await wal.close();
  });
});
