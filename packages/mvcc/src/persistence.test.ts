import { execFile, spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MvccStore } from './kvstore.js';
import type { RangeResponse } from './kv.js';
import { enc, openStore, tempDir, track } from './test-support/helpers.js';
import { history, observe } from './test-support/history.js';

describe('restart', () => {
  it('recovers exactly what was committed', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    let i = history(s, 1, 60);
    await s.compact(20, i++).done;
    i = history(s, i, 30);
    await s.commit();
    const before = observe(s);
    await s.close();
    const again = track(await MvccStore.open({ dir }));
    expect(observe(again)).toEqual(before);
    // And keeps going with the same revisions as a store that never restarted.
    again.put({ key: enc('after'), value: enc('x') }, i);
    expect(again.currentRevision).toBe(before.current + 1);
  });

  it('after a crash holds exactly the last commit and its consistent index', async () => {
    // A child process applies writes, commits, applies more and is killed with SIGKILL before
    // it commits again; this process applies the same writes to a reference store.
    const reference = await openStore();
    const committedOps = record(reference, () => history(reference, 1, 10));
    await reference.commit();
    const committed = observe(reference);
    const appliedOps = record(reference, () => history(reference, 11, 10)); // applied, not committed
    const dir = tempDir();
    await crashChildAfter(dir, committedOps, appliedOps);
    const crashed = track(await MvccStore.open({ dir }));
    expect(observe(crashed)).toEqual(committed);
    // Replaying the log above the consistent index converges to the same state.
    history(crashed, 1, 10); // all at or below the consistent index: no-ops
    history(crashed, 11, 10);
    expect(crashed.hash()).toBe(reference.hash());
    expect(crashed.currentRevision).toBe(reference.currentRevision);
  }, 120_000);

  it('reads stay correct while a commit is in flight', async () => {
    const s = await openStore();
    history(s, 1, 30);
    const expected = observe(s);
    const p = s.commit();
    expect(observe(s)).toEqual(expected);
    history(s, 31, 5);
    const next = s.commit();
    await p;
    await next;
    const kvsOnly = (rs: RangeResponse[]) => rs.map((r) => r.kvs);
    expect(kvsOnly(observe(s).reads.slice(0, expected.reads.length))).toEqual(kvsOnly(expected.reads));
  });
});

describe('snapshot', () => {
  it('restores a consistent copy into another directory', async () => {
    const s = await openStore();
    let i = history(s, 1, 40);
    await s.compact(10, i++).done;
    history(s, i, 5); // uncommitted: snapshotTo commits first
    const snap = join(tempDir(), 'snap.mdb');
    await s.snapshotTo(snap);
    const target = tempDir();
    await MvccStore.restoreFrom(snap, target);
    const restored = track(await MvccStore.open({ dir: target }));
    expect(observe(restored)).toEqual(observe(s));
  });

  it('taken during a compaction, restores and finishes it', async () => {
    const s = await openStore({ compactionBatchLimit: 2 });
    let i = history(s, 1, 60);
    const { done } = s.compact(40, i++);
    const snap = join(tempDir(), 'mid.mdb');
    await s.snapshotTo(snap);
    await done;
    const target = tempDir();
    await MvccStore.restoreFrom(snap, target);
    const restored = track(await MvccStore.open({ dir: target }));
    expect(restored.compactedRevision).toBe(40);
    await restored.whenCompacted();
    expect(observe(restored)).toEqual(observe(s));
  });

  it('replaces an existing backend', async () => {
    const a = await openStore();
    history(a, 1, 10);
    const snap = join(tempDir(), 'a.mdb');
    await a.snapshotTo(snap);
    const dir = tempDir();
    const b = await MvccStore.open({ dir });
    history(b, 1, 25);
    await b.close();
    await MvccStore.restoreFrom(snap, dir);
    const restored = track(await MvccStore.open({ dir }));
    expect(observe(restored)).toEqual(observe(a));
  });
});

describe('sizes', () => {
  it('reports the file size and a smaller in-use size', async () => {
    const s = await openStore();
    history(s, 1, 200);
    await s.commit();
    expect(s.dbSizeBytes()).toBeGreaterThan(0);
    expect(s.dbSizeInUseBytes()).toBeGreaterThan(0);
    expect(s.dbSizeInUseBytes()).toBeLessThanOrEqual(s.dbSizeBytes());
  });
});

interface RecordedOp { method: 'put' | 'deleteRange' | 'txn'; args: unknown[] }

/** Runs `writes` against `s`, returning the write calls it made (for a child to replay). */
function record(s: MvccStore, writes: () => void): RecordedOp[] {
  const ops: RecordedOp[] = [];
  const methods = ['put', 'deleteRange', 'txn'] as const;
  const originals = methods.map((m) => s[m]);
  methods.forEach((m, i) => {
    (s as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => {
      ops.push({ method: m, args });
      return (originals[i] as (...a: unknown[]) => unknown).apply(s, args);
    };
  });
  try {
    writes();
  } finally {
    methods.forEach((m) => delete (s as unknown as Record<string, unknown>)[m]);
  }
  return ops;
}

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The child imports the build: rebuilt when a source file is newer than it. */
async function ensureBuild(): Promise<void> {
  const built = (() => { try { return statSync(join(pkgDir, 'dist/index.js')).mtimeMs; } catch { return 0; } })();
  const newest = Math.max(...readdirSync(join(pkgDir, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts')).map((f) => statSync(join(pkgDir, 'src', f)).mtimeMs));
  if (built >= newest) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(pkgDir, 'tsconfig.build.json')]);
}

/** A child commits `committed`, applies `applied`, and is SIGKILLed once it says so. */
async function crashChildAfter(dir: string, committed: RecordedOp[], applied: RecordedOp[]): Promise<void> {
  await ensureBuild();
  const opsFile = join(tempDir(), 'ops.json');
  writeFileSync(opsFile, JSON.stringify({ committed, applied }, (_k, v: unknown) =>
    v instanceof Uint8Array ? { $bytes: Buffer.from(v).toString('base64') } : typeof v === 'bigint' ? { $bigint: v.toString() } : v));
  const child = spawn(process.execPath, [join(pkgDir, 'src/test-support/crash-child.mjs'), dir, opsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('applied\n')) child.kill('SIGKILL'); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, sig) => resolve([c, sig])));
  expect({ signal, code, out: signal === 'SIGKILL' ? '' : out }).toEqual({ signal: 'SIGKILL', code: null, out: '' });
}
