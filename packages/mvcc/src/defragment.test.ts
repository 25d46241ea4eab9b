import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFRAG_DIR, type DefragStep } from './defrag.js';
import { MvccStore } from './kvstore.js';
import type { ReadPacing } from './paced.js';
import { dec, enc, openStore, tempDir, track } from './test-support/helpers.js';
import { observe } from './test-support/history.js';

// Defragmentation rewrites the LMDB file compacted while the store keeps serving: whatever is
// read, written, committed or compacted during it, the store reads and hashes as one that was
// never defragmented, before and after a reopen; the file shrinks; a crash at any step leaves
// a complete file.

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const ALL = { key: enc('\0'), rangeEnd: enc('\0') };

type Op =
  | { t: 'put'; k: number; v: string }
  | { t: 'del'; k: number; span: number }
  | { t: 'compact'; back: number }
  | { t: 'bucket'; k: number; v: string | null }
  | { t: 'commit' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.nat(30), v: fc.string({ maxLength: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: fc.nat(30), span: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bucket' as const), k: fc.nat(5), v: fc.option(fc.string({ maxLength: 8 }), { nil: null }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'commit' as const }) },
);

const key = (k: number) => enc(`key/${String(k).padStart(2, '0')}`);

/** Applies `op` to both stores alike, as the raft entry at `index`. */
async function applyBoth(stores: MvccStore[], op: Op, index: number): Promise<void> {
  for (const s of stores) {
    switch (op.t) {
      case 'put':
        s.put({ key: key(op.k), value: enc(op.v.repeat(20)) }, index);
        break;
      case 'del':
        s.deleteRange({ key: key(op.k), rangeEnd: key(op.k + op.span + 1) }, index);
        break;
      case 'compact': {
        const rev = s.currentRevision - op.back;
        if (rev > s.compactedRevision) s.compact(rev, index);
        else s.setConsistentIndex(index);
        break;
      }
      case 'bucket':
        if (op.v === null) s.bucket('b').delete(key(op.k));
        else s.bucket('b').put(key(op.k), enc(op.v));
        s.setConsistentIndex(index);
        break;
      case 'commit':
        s.setConsistentIndex(index);
        break;
    }
  }
  if (op.t === 'commit') await Promise.all(stores.map((s) => s.commit()));
}

const bucketOf = (s: MvccStore) => [...s.bucket('b').loadAll()].map(({ key: k, value }) => `${dec(k)}=${dec(value)}`);

async function settle(s: MvccStore): Promise<void> {
  await s.commit();
  await s.whenCompacted();
  await s.commit();
}

describe('defragment', () => {
  it('shrinks the file after a large key space is deleted and compacted; reads, hashes and the consistent index stay', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    const big = new Uint8Array(2048).fill(7);
    let index = 1;
    for (let i = 0; i < 3000; i++) s.put({ key: enc(`k/${i}`), value: big }, index++);
    s.put({ key: enc('kept'), value: enc('v') }, index++);
    await s.commit();
    s.deleteRange({ key: enc('k/'), rangeEnd: enc('k0') }, index++);
    await s.compact(s.currentRevision, index++).done;
    await s.commit();
    const before = observe(s);
    const sizeBefore = s.dbSizeBytes();
    expect(s.dbSizeInUseBytes()).toBeLessThan(sizeBefore / 10);
    const result = await s.defragment({ entriesPerStep: 64, pause: turn });
    expect(result.beforeBytes).toBe(sizeBefore);
    expect(result.afterBytes).toBe(s.dbSizeBytes());
    expect(s.dbSizeBytes()).toBeLessThan(sizeBefore / 10);
    expect(observe(s)).toEqual(before);
    expect(existsSync(join(dir, DEFRAG_DIR))).toBe(false);
    // The store writes on to the new file.
    s.put({ key: enc('after'), value: enc('x') }, index++);
    await s.close();
    const reopened = track(await MvccStore.open({ dir }));
    expect(reopened.range({ key: enc('after') }).kvs.map((kv) => dec(kv.value))).toEqual(['x']);
    expect(reopened.consistentIndex).toBe(index - 1);
    expect(reopened.dbSizeBytes()).toBeLessThan(sizeBefore / 10);
  });

  it('property: writes, commits, compactions and reads during it give the store of a run without it, also after a reopen', async () => {
    let replayedSomewhere = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 5, maxLength: 60 }),
        fc.array(opArb, { minLength: 1, maxLength: 80 }),
        fc.array(opArb, { maxLength: 10 }),
        fc.integer({ min: 1, max: 4 }),
        async (prefix, during, after, step) => {
          const dirs = [tempDir(), tempDir()];
          // Commits of a few entries per LMDB transaction: chunked commits land mid-copy too.
          const [a, b] = await Promise.all(dirs.map((dir) => MvccStore.open({ dir, commitEntriesPerTxn: 2, compactionBatchLimit: 3 })));
          let index = 1;
          for (const op of prefix) await applyBoth([a!, b!], op, index++);
          await Promise.all([a!.commit(), b!.commit()]);
          // The ops of `during` run one per turn of the event loop, at each pause and at each step.
          let next = 0;
          const runOne = async () => {
            if (next < during.length) await applyBoth([a!, b!], during[next++]!, index++);
            expect(observe(a!)).toEqual(observe(b!));
          };
          const pacing: ReadPacing = { entriesPerStep: step, pause: async () => { await runOne(); await turn(); } };
          let finished = false;
          const driver = (async () => {
            while (!finished) {
              await runOne();
              // A paced read across the swap sees the same answer.
              if (next % 7 === 3) {
                // Both fixed at the call; ops may run during their pauses.
                const [x, y] = await Promise.all([a!.rangePaced(ALL, { entriesPerStep: 2, pause: turn }), b!.rangePaced(ALL, { entriesPerStep: 2, pause: turn })]);
                expect(x).toEqual(y);
              }
              await turn();
            }
          })();
          const steps: DefragStep[] = [];
          // Started inside the swap, where commits wait for it: awaited after it.
          const inSwap: Array<Promise<void>> = [];
          const result = await a!.defragment(pacing, async (st) => {
            steps.push(st);
            if (st === 'swapping' || st === 'renamed') inSwap.push(runOne());
            else await runOne();
          }).finally(() => {
            finished = true;
          });
          await driver;
          await Promise.all(inSwap);
          replayedSomewhere += result.replayedTxns;
          expect(steps).toEqual(['copying', 'copied', 'swapping', 'renamed', 'swapped']);
          while (next < during.length) await runOne();
          for (const op of after) await applyBoth([a!, b!], op, index++);
          await Promise.all([settle(a!), settle(b!)]);
          expect(observe(a!)).toEqual(observe(b!));
          expect(bucketOf(a!)).toEqual(bucketOf(b!));
          expect(await a!.hashPaced({ entriesPerStep: 3, pause: turn })).toBe(b!.hash());
          await Promise.all([a!.close(), b!.close()]);
          const [ra, rb] = await Promise.all(dirs.map((dir) => MvccStore.open({ dir })));
          try {
            expect(observe(ra!)).toEqual(observe(rb!));
            expect(bucketOf(ra!)).toEqual(bucketOf(rb!));
            expect(ra!.consistentIndex).toBe(index - 1);
          } finally {
            await Promise.all([ra!.close(), rb!.close()]);
          }
        },
      ),
      { numRuns: 12 },
    );
    // The copy ran while writes were committed: some had to be replayed onto it.
    expect(replayedSomewhere).toBeGreaterThan(0);
  }, 90_000);

  it('a second call while one runs joins it; a restore asked for meanwhile wins', async () => {
    const s = await openStore();
    s.put({ key: enc('a'), value: enc('1') }, 1);
    await s.commit();
    const snapSource = await openStore();
    snapSource.put({ key: enc('snap'), value: enc('2') }, 5);
    const snap = join(tempDir(), 'snap.mdb');
    await snapSource.snapshotTo(snap);
    let restore: Promise<void> | undefined;
    const first = s.defragment({ entriesPerStep: 1, pause: turn }, (st) => {
      if (st === 'copied') restore = s.restore(snap);
    });
    const second = s.defragment({ entriesPerStep: 1, pause: turn });
    await expect(first).rejects.toThrow(/defragmentation stopped/);
    await expect(second).rejects.toThrow(/defragmentation stopped/);
    await restore;
    expect(s.range({ key: enc('snap') }).kvs.length).toBe(1);
    expect(s.range({ key: enc('a') }).kvs.length).toBe(0);
    // And the next one runs.
    await s.defragment({ entriesPerStep: 1, pause: turn });
    expect(s.range({ key: enc('snap') }).kvs.length).toBe(1);
  });
});

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

describe('defragment, killed at each step', () => {
  it.each(['copying', 'copied', 'swapping', 'renamed', 'swapped'] as const)('SIGKILL at %s: reopens with every committed write, old file or new', async (stopAt) => {
    await ensureBuild();
    const dir = tempDir();
    const child = spawn(process.execPath, [join(pkgDir, 'src/test-support/defrag-crash-child.mjs'), dir, stopAt], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let said: { step: string; sizeBefore: number; hash: number; ci: number } | undefined;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && !said) {
        said = JSON.parse(line!) as typeof said;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, sig) => resolve([c, sig])));
    expect({ signal, code }, out).toEqual({ signal: 'SIGKILL', code: null });
    expect(said!.step).toBe(stopAt);
    const s = track(await MvccStore.open({ dir }));
    expect(existsSync(join(dir, DEFRAG_DIR))).toBe(false);
    expect(s.hash()).toBe(said!.hash);
    expect(s.consistentIndex).toBe(said!.ci);
    expect(s.range({ key: enc('kept') }).kvs.map((kv) => dec(kv.value))).toEqual(['yes']);
    const duringCopy = s.range({ key: enc('during') }).kvs.map((kv) => dec(kv.value));
    expect(duringCopy).toEqual(stopAt === 'copying' ? [] : ['copy']);
    const renamed = stopAt === 'renamed' || stopAt === 'swapped';
    if (renamed) expect(s.dbSizeBytes()).toBeLessThan(said!.sizeBefore / 4);
    else expect(s.dbSizeBytes()).toBeGreaterThanOrEqual(said!.sizeBefore);
  });
});
