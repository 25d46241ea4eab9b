import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUNDLE_WRAPPER, bundleIsCurrent } from './bundle-loader.js';
import { bundleState } from './raftkv-binary.js';

// A stand-in for dist/raftkv.cjs: CommonJS in the wrapper, using the two names the loader adds.
const BUNDLE = `${BUNDLE_WRAPPER}
"use strict";
const { basename } = require('node:path');
exports.where = () => basename(new URL(__raftkvUrl).pathname);
exports.lazy = () => __raftkvImport('./lazy.mjs');
exports.twice = (n) => n * 2;
exports.fail = () => { throw new Error('from line 7 of the file'); };
})
`;

// Each load runs in a process of its own, as bin/raftkv does: within one process V8 finds a
// script it compiled before in its own compilation cache and never reads the cached data.
const RUN = `import { loadBundle } from './loader.mjs';
const [bundle, cachePath, save] = process.argv.slice(2);
const loaded = loadBundle(bundle, cachePath);
const lazy = await loaded.exports.lazy();
const saved = save === 'save' ? loaded.saveCodeCache() : undefined;
let line;
try { loaded.exports.fail(); } catch (e) { line = Number(/bundle\\.cjs:(\\d+):/.exec(e.stack)[1]); }
console.log(JSON.stringify({ state: loaded.codeCache, where: loaded.exports.where(), twice: loaded.exports.twice(4), answer: lazy.answer, line, saved }));
`;

interface Load { state: string; where: string; twice: number; answer: number; line: number; saved?: boolean }

describe('loadBundle', () => {
  let dir: string;
  let bundle: string;
  const load = (save?: 'save', cachePath = `${bundle}.cache`): Load => JSON.parse(execFileSync(process.execPath,
    [join(dir, 'run.mjs'), bundle, cachePath, save ?? ''], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Load;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-loader-'));
    bundle = join(dir, 'bundle.cjs');
    const source = readFileSync(new URL('./bundle-loader.ts', import.meta.url), 'utf8');
    writeFileSync(join(dir, 'loader.mjs'), transformSync(source, { loader: 'ts', format: 'esm' }).code);
    writeFileSync(join(dir, 'run.mjs'), RUN);
    writeFileSync(bundle, BUNDLE);
    writeFileSync(join(dir, 'lazy.mjs'), 'export const answer = 42;\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the bundle with its own URL and an import() relative to it, and uses the cache a start saved', () => {
    expect(load('save')).toEqual({ state: 'absent', where: 'bundle.cjs', twice: 8, answer: 42, line: 7, saved: true });
    expect(load()).toEqual({ state: 'used', where: 'bundle.cjs', twice: 8, answer: 42, line: 7 });
  });

  it('does not use a cache of another text of the same length (V8 itself compares only lengths)', () => {
    load('save');
    writeFileSync(bundle, BUNDLE.replace('n * 2', 'n * 3'));
    expect(load('save')).toMatchObject({ state: 'stale', twice: 12, saved: true });
    expect(load()).toMatchObject({ state: 'used', twice: 12 });
  });

  it('compiles from the text when V8 refuses the cached data, and a save replaces it', () => {
    load('save');
    const cache = readFileSync(`${bundle}.cache`);
    // Keep the header (the magic line and the bundle's SHA-256), spoil V8's part.
    const header = cache.indexOf(0x0a) + 1 + 32;
    writeFileSync(`${bundle}.cache`, Buffer.concat([cache.subarray(0, header), Buffer.alloc(cache.length - header, 7)]));
    expect(load('save')).toMatchObject({ state: 'rejected', twice: 8, saved: true });
    expect(load()).toMatchObject({ state: 'used', twice: 8 });
  });

  it('refuses a file that is not in the wrapper (a bundle of another build script)', () => {
    writeFileSync(bundle, BUNDLE.slice(BUNDLE.indexOf('\n') + 1, BUNDLE.lastIndexOf('})')));
    expect(() => load()).toThrow(/no wrapper line/);
  });

  it('runs without a cache where none can be written', () => {
    const nowhere = join(dir, 'no-such-dir', 'bundle.cjs.cache');
    expect(load('save', nowhere)).toMatchObject({ state: 'absent', twice: 8, saved: false });
    expect(load(undefined, nowhere)).toMatchObject({ state: 'absent', twice: 8 });
  });
});

describe('bundleIsCurrent', () => {
  let root: string;
  let dist: string;
  // A tree shaped as apps/server: bin/raftkv, dist/main.js, the bundle and its list of inputs.
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'bundle-current-'));
    dist = join(root, 'dist');
    mkdirSync(join(dist, 'config'), { recursive: true });
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin', 'raftkv'), '');
    writeFileSync(join(dist, 'main.js'), '');
    writeFileSync(join(dist, 'config', 'flags.js'), '');
    writeFileSync(join(dist, 'raftkv.inputs.json'), JSON.stringify(['main.js', 'config/flags.js', '../../gone/index.js']));
    writeFileSync(join(dist, 'raftkv.cjs'), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dist, 'main.js'), past, past);
    utimesSync(join(dist, 'config', 'flags.js'), past, past);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is current when no input is newer than the bundle (an input not there is not newer)', () => {
    expect(bundleIsCurrent(dist)).toBe(true);
    expect(bundleState(join(root, 'bin', 'raftkv'))).toBe('bundled');
  });

  it('is stale once an input in a subdirectory was rebuilt after it', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dist, 'config', 'flags.js'), later, later);
    expect(bundleIsCurrent(dist)).toBe(false);
    expect(bundleState(join(root, 'bin', 'raftkv'))).toBe('unbundled');
  });

  it('is not current without a bundle or its list of inputs', () => {
    rmSync(join(dist, 'raftkv.inputs.json'));
    expect(bundleIsCurrent(dist)).toBe(false);
    rmSync(join(dist, 'raftkv.cjs'));
    expect(bundleIsCurrent(dist)).toBe(false);
  });

  it('cannot tell for a binary without a dist/ beside it (a wrapper that sets flags)', () => {
    writeFileSync(join(root, 'wrapper'), '');
    expect(bundleState(join(root, 'wrapper'))).toBe('unknown');
    expect(bundleState(join(root, 'missing'))).toBe('unknown');
  });
});
