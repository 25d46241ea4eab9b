// The TypeScript files `buf generate` wrote under src/gen/, which the post-processing scripts
// (strict-decode.mjs, shared-empty-bytes.mjs) rewrite in place.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const genDir = new URL('../src/gen/', import.meta.url).pathname;

function tsFiles(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

export function generatedFiles() {
  return tsFiles(genDir);
}
