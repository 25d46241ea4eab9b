// `pnpm bench:chart [results.json] [--out-dir DIR]`: draws a `pnpm bench` result as SVG, one
// file per member count (bench-1-member.svg, bench-3-members.svg), into docs/bench/ by default.
// Without a file it takes the newest results/bench-*.json.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderChart } from './chart-svg.js';
import type { BenchResult } from './runner.js';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

function newestResult(): string {
  const dir = join(repoRoot, 'results');
  const files = readdirSync(dir).filter((f) => /^bench-.*\.json$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no bench-*.json in ${dir}: run pnpm bench first, or name a file`);
  return join(dir, files[files.length - 1]!);
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { 'out-dir': { type: 'string' } }, allowPositionals: true });
  const file = resolve(positionals[0] ?? newestResult());
  const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  if (result.schema !== 'raftkv-bench/1') throw new Error(`${file}: not a pnpm bench result (schema ${String(result.schema)})`);
  const outDir = resolve(values['out-dir'] ?? join(repoRoot, 'docs', 'bench'));
  mkdirSync(outDir, { recursive: true });
  for (const members of [1, 3] as const) {
    const svg = renderChart(result, members);
    if (!svg) continue;
    const path = join(outDir, `bench-${members}-member${members === 1 ? '' : 's'}.svg`);
    writeFileSync(path, svg);
    console.log(`${path} (from ${file})`);
  }
}

main();
