// Bundles dist/main.js (tsc's output) and what it imports into dist/raftkv.cjs, the file
// bin/raftkv runs: one file to load instead of several hundred saves ~0.5 s of module
// resolution and loading per start (docs/profiles.md, "Start-up timeline"). It is CommonJS, run
// by src/bundle-loader.ts as a vm script, so that V8's code cache can skip compiling it again
// (Node 20 has no compile cache for ES modules). Native addons stay external (@node-rs/bcrypt;
// lmdb's addon, see lmdbInBundle), as do optional dependencies that may be missing.
// dist/raftkv.inputs.json lists the repo files the bundle was built from, so bin/raftkv can
// tell a bundle older than a later `tsc` build and run dist/ unbundled instead.
import { build } from 'esbuild';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_WRAPPER } from '../dist/bundle-loader.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(root, 'dist');
const outfile = resolve(dist, 'raftkv.cjs');
const posix = (p) => p.split(sep).join('/');

// Our modules that locate files beside them (a Worker's script, createRequire) keep doing so:
// import.meta.url in each is rewritten to that module's own URL, relative to the bundle.
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = `new URL(${JSON.stringify(`./${posix(relative(dist, args.path))}`)}, import.meta.url).href`;
      return { contents: text.replaceAll('import.meta.url', own), loader: 'js' };
    });
  },
};

// Modules loaded with import() for what a member's start-up does not do (--auto-tls, the
// snapshot command): left out, imported at run time from their place in dist/ with whatever
// they import (@peculiar/x509, cli-progress...), so the bundle's text stays small. A vm script
// has no import() of its own: each call becomes __raftkvImport() (bundle-loader.ts) below.
const LAZY = new Set(['security/self-signed.js', 'snapshot/cli.js']);
const lazyModules = {
  name: 'lazy-modules',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const target = posix(relative(dist, resolve(dirname(args.importer), args.path)));
      return LAZY.has(target) ? { path: `./${target}`, external: true } : undefined;
    });
  },
};

// lmdb's JavaScript (and msgpackr, ordered-binary, weak-lru-cache, node-gyp-build-optional-packages)
// goes into the bundle, so that the code cache covers it: loaded by Node's CommonJS loader it cost
// a start ~40-60 ms (resolving and reading ~15 files, compiling them without a cache). Only its native
// addon stays outside: lmdb finds it from its own directory, which it takes from its __filename; in
// the bundle that is the bundle's, so lmdb's own file is looked up at run time instead.
const lmdbInBundle = {
  name: 'lmdb-in-bundle',
  setup(b) {
    // Its CommonJS build, one file (esbuild would pick the ES build, which finds its addon from
    // import.meta.url).
    b.onResolve({ filter: /^lmdb$/ }, (args) => ({ path: createRequire(args.importer).resolve('lmdb') }));
    b.onLoad({ filter: /[\\/]lmdb[\\/]dist[\\/]index\.cjs$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const own = "'file:' + __filename";
      const uses = text.split(own).length - 1;
      if (uses !== 3) throw new Error(`bundle: lmdb's index.cjs names its own file ${uses} times, not 3; update lmdb-in-bundle`);
      return { contents: `var __lmdbFilename = require.resolve('lmdb');\n${text.replaceAll(own, "'file:' + __lmdbFilename")}`, loader: 'js' };
    });
    // msgpackr's optional native string extractor (a second addon, with its own loader): raftkv's
    // databases hold bytes, never msgpack (packages/mvcc, backend.ts), and msgpackr decodes the
    // same without it.
    b.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: 'msgpackr-extract', namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, () => ({ contents: 'module.exports = null;', loader: 'js' }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: [resolve(dist, 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The loader passes the bundle's own URL (our modules locate files beside them with it).
  define: { 'import.meta.url': '__raftkvUrl' },
  write: false,
  metafile: true,
  // Smaller text parses faster (V8 reads the whole file at load); names stay for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  // lmdb-in-bundle's require.resolve('lmdb') is meant to run (it finds lmdb's files at run time).
  logOverride: { 'require-resolve-not-external': 'silent' },
  external: ['@node-rs/bcrypt', 'bufferutil', 'utf-8-validate', 'bun:ffi'],
  plugins: [ownImportMetaUrl, lazyModules, lmdbInBundle],
});
let text = result.outputFiles[0].text;
for (const lazy of LAZY) {
  const call = `import(${JSON.stringify(`./${lazy}`)})`;
  if (!text.includes(call)) throw new Error(`bundle: no ${call} to rewrite; update LAZY`);
  text = text.replaceAll(call, `__raftkvImport(${JSON.stringify(`./${lazy}`)})`);
}
const leftover = /[^\w$.]import\(/.exec(text);
if (leftover) throw new Error(`bundle: an import() left in the bundle, which a vm script cannot run: ${text.slice(leftover.index, leftover.index + 80)}`);
// The loader compiles the file as it is (no wrapped copy of 2.2 MB): the wrapper is in it.
await writeFile(outfile, `${BUNDLE_WRAPPER}\n${text}\n})\n`);
// A cache of the bundle before is of no use (bundle-loader.ts would find it stale); the next start
// makes one. Also gone: the temp files of caches whose writer was killed before its rename.
await rm(`${outfile}.cache`, { force: true });
for (const name of await readdir(dist)) {
  if (name.startsWith('raftkv.cjs.cache.') && name.endsWith('.tmp')) await rm(resolve(dist, name), { force: true });
}
const inputs = Object.keys(result.metafile.inputs)
  .filter((p) => !p.startsWith('absent:')) // lmdbInBundle's stand-in, no file
  .map((p) => resolve(root, p))
  .filter((p) => !p.includes(`${sep}node_modules${sep}`))
  .map((p) => posix(relative(dist, p)));
await writeFile(resolve(dist, 'raftkv.inputs.json'), `${JSON.stringify(inputs)}\n`);
console.log(`bundled ${Object.keys(result.metafile.inputs).length} modules into ${posix(relative(root, outfile))}`);
