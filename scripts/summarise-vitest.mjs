// Sums vitest's summaries in a log (every package's run) into one closing line: tests passed and
// failed, and also suites that failed outside any test (a file that failed to load, or threw
// while collecting: vitest's "Failed Suites N"), errors raised outside tests ("Errors  N
// errors") and turbo tasks that failed. A run whose exit status is 1 must not read as clean.
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
let skipped = 0;
let failedSuites = 0;
let errors = 0;
let failedTasks = 0;
for (const raw of text.split('\n')) {
  // turbo prefixes each package's output with "@raftkv/<name>:test: ".
  const line = raw.trim().replace(/^@raftkv\/[\w-]+:test:\s*/, '');
  const tests = /^Tests\s+(.*)\(\d+\)\s*$/.exec(line);
  if (tests) {
    for (const part of tests[1].split('|')) {
      const p = /(\d+)\s+(passed|failed|skipped|todo)/.exec(part);
      if (!p) continue;
      const n = Number(p[1]);
      if (p[2] === 'passed') passed += n;
      else if (p[2] === 'failed') failed += n;
      else skipped += n;
    }
    continue;
  }
  const suites = /^⎯+\s*Failed Suites (\d+)\s*⎯+$/.exec(line);
  if (suites) { failedSuites += Number(suites[1]); continue; }
  const errs = /^Errors\s+(\d+)\s+errors?\b/.exec(line);
  if (errs) { errors += Number(errs[1]); continue; }
  // turbo's closing "Failed:    @raftkv/a#test, @raftkv/b#typecheck".
  const tasks = /^Failed:\s+(\S.*)$/.exec(line);
  if (tasks) failedTasks += tasks[1].split(',').filter((t) => t.includes('#')).length;
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}; ` +
  `suites failed outside a test: ${failedSuites}; errors outside tests: ${errors}` +
  (failedTasks ? `; turbo tasks failed: ${failedTasks}` : ''));
