// Where the `raftkv` binary is, for the tools in this package that start it (bench, fuzz) and
// for the tests (vitest.config.ts sets TESTKIT_RAFTKV_BIN): testkit is told, it does not depend on us.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleIsCurrent } from './bundle-loader.js';

/** apps/server/bin/raftkv (it runs dist/): one level up from both src/ and dist/. */
export const raftkvBin = fileURLToPath(new URL('../bin/raftkv', import.meta.url));

/**
 * How the raftkv binary at `bin` will run, for a benchmark to print beside its figures: a
 * package's test run or tsc rebuilds dist/ after the bundle, and the binary then silently runs
 * dist/main.js, whose start-up costs ~0.45 s more. `unknown` for a binary not beside a dist/
 * (a wrapper script that sets flags).
 */
export function bundleState(bin: string): 'bundled' | 'unbundled' | 'unknown' {
  let dist: string;
  try {
    dist = join(dirname(realpathSync(bin)), '..', 'dist');
  } catch {
    return 'unknown';
  }
  if (!existsSync(join(dist, 'main.js'))) return 'unknown';
  return bundleIsCurrent(dist) ? 'bundled' : 'unbundled';
}

/** `bin` and how it will run, with what to do when it would run unbundled. */
export function describeBinary(bin: string): string {
  const state = bundleState(bin);
  if (state === 'unbundled') return `${bin} (UNBUNDLED: dist/ is newer than dist/raftkv.cjs; run node apps/server/scripts/bundle.mjs there)`;
  return `${bin} (${state})`;
}
