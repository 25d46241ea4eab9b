// Loads the server bundle (dist/raftkv.cjs, scripts/bundle.mjs) through V8's code cache. Node 20
// compiles an ES module from scratch at every start and has no compile cache for it (22.1+ has),
// but a classic script compiled by node:vm takes V8's cached data: the functions a start-up ran,
// already compiled. bin/raftkv loads the bundle here; the cache is made by the first start that
// reaches ready, beside the bundle, and is used only while its hash of the bundle's text matches.
// The bundle is CommonJS inside the function wrapper below, written into the file by the build so
// that the 2.2 MB text is compiled as read, not copied into a wrapped string first.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/**
 * The bundle's first line: Node's module wrapper plus `__raftkvUrl` (the bundle's file URL, its
 * `import.meta.url`) and `__raftkvImport` (import() relative to the bundle: a vm script has no
 * module loader of its own for the modules left out of the bundle). Its last line is `})`.
 */
export const BUNDLE_WRAPPER = '(function (exports, require, module, __filename, __dirname, __raftkvUrl, __raftkvImport) {';

/** The cache file: MAGIC, the SHA-256 of the bundle's text it was made from, V8's cached data. */
const MAGIC = Buffer.from('raftkv code cache 1\n');
const HASH_BYTES = 32;

/**
 * What became of the code cache at load: `used`; `absent` (no file); `stale` (made from another
 * bundle, or not a cache file); `rejected` (V8 refused it: another Node version or V8 flags).
 */
export type CodeCacheState = 'used' | 'absent' | 'stale' | 'rejected';

export interface LoadedBundle {
  /** The bundle's exports (its `module.exports`). */
  readonly exports: Record<string, unknown>;
  readonly codeCache: CodeCacheState;
  /**
   * Writes the cache of everything compiled so far (so call it after the start-up it should
   * speed up), atomically: write a file of this process, then rename. False when it could not
   * (a read-only install): the next start compiles as this one did.
   */
  saveCodeCache(): boolean;
}

/**
 * True if `dist`'s bundle (raftkv.cjs) is newer than every file it was built from (listed in
 * raftkv.inputs.json, relative to `dist`): bin/raftkv runs dist/main.js instead when it is not, as
 * after tsc rebuilt dist/ alone. An input that is not there (an installed package ships only
 * dist/) is not newer.
 */
export function bundleIsCurrent(dist: string): boolean {
  try {
    const built = statSync(join(dist, 'raftkv.cjs')).mtimeMs;
    // ~210 inputs in ~30 directories: join() each directory once (a join per input cost a start
    // ~5 ms of CPU, more than the stats).
    const dirs = new Map<string, string>();
    for (const input of JSON.parse(readFileSync(join(dist, 'raftkv.inputs.json'), 'utf8')) as string[]) {
      const slash = input.lastIndexOf('/');
      const dir = slash < 0 ? '' : input.slice(0, slash);
      let base = dirs.get(dir);
      if (base === undefined) dirs.set(dir, (base = join(dist, dir)));
      let changed: number;
      try {
        changed = statSync(`${base}/${input.slice(slash + 1)}`).mtimeMs;
      } catch {
        continue;
      }
      if (changed > built) return false;
    }
    return true;
  } catch {
    return false;
  }
}

type BundleFunction = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string,
  dirname: string, bundleUrl: string, lazyImport: (specifier: string) => Promise<unknown>) => void;

/** Runs the bundle at `bundlePath` (wrapped in {@link BUNDLE_WRAPPER}) as Node runs a CommonJS module. */
export function loadBundle(bundlePath: string, cachePath = `${bundlePath}.cache`): LoadedBundle {
  const bytes = readFileSync(bundlePath);
  const hash = createHash('sha256').update(bytes).digest();
  const text = bytes.toString('utf8');
  if (!text.startsWith(`${BUNDLE_WRAPPER}\n`)) throw new Error(`${bundlePath}: not a bundle of scripts/bundle.mjs (no wrapper line)`);
  let state: CodeCacheState = 'absent';
  let cachedData: Buffer | undefined;
  try {
    const file = readFileSync(cachePath);
    const head = MAGIC.length + HASH_BYTES;
    const matches = file.length > head && file.subarray(0, MAGIC.length).equals(MAGIC)
      && file.subarray(MAGIC.length, head).equals(hash);
    if (matches) cachedData = file.subarray(head);
    else state = 'stale';
  } catch {
    // no cache yet
  }
  // The wrapper is the file's first line: stack traces give the file's own line numbers.
  const script = new Script(text, { filename: bundlePath, ...(cachedData ? { cachedData } : {}) });
  if (cachedData) state = script.cachedDataRejected === true ? 'rejected' : 'used';
  const url = pathToFileURL(bundlePath).href;
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as BundleFunction;
  run.call(module.exports, module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath), url,
    (specifier) => import(new URL(specifier, url).href));
  return {
    exports: module.exports,
    codeCache: state,
    saveCodeCache() {
      const temp = `${cachePath}.${process.pid}.tmp`;
      try {
        writeFileSync(temp, Buffer.concat([MAGIC, hash, script.createCachedData()]));
        renameSync(temp, cachePath);
        return true;
      } catch {
        try {
          rmSync(temp, { force: true });
        } catch {
          // the directory is not ours to write: nothing was written
        }
        return false;
      }
    },
  };
}
