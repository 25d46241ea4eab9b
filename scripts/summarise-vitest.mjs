// Sums vitest's "Tests  N passed | M failed (T)" lines from a log into one closing line.
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const line of text.split('\n')) {
  const m = /^\S*:?\s*Tests\s+(.*)\(\d+\)\s*$/.exec(line.trim().replace(/^@raftkv\/[\w-]+:test:\s*/, ''));
  if (!m) continue;
  for (const part of m[1].split('|')) {
    const p = /(\d+)\s+(passed|failed|skipped|todo)/.exec(part);
    if (!p) continue;
    const n = Number(p[1]);
    if (p[2] === 'passed') passed += n;
    else if (p[2] === 'failed') failed += n;
    else skipped += n;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
