// Summarises V8 CPU profiles (.cpuprofile, from `pnpm bench --cpu-prof DIR` or node --cpu-prof):
// the functions with the most self time, and self time per source file / package.
// Usage: node apps/server/dist/bench/matrix/profile-top.js FILE.cpuprofile... [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface SelfTime { name: string; where: string; ms: number }

/** Self time per function (by name and place) and per file of a profile, from its samples' time deltas. */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; files: Map<string, number>; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perNode = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the sample's node.
  profile.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, SelfTime>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of perNode) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${shorten(f.url)}:${f.lineNumber + 1}` : '';
    const name = f.functionName || '(anonymous)';
    const k = `${name} ${where}`;
    const e = functions.get(k) ?? { name, where, ms: 0 };
    e.ms += us / 1000;
    functions.set(k, e);
    const file = f.url ? shorten(f.url) : name;
    files.set(file, (files.get(file) ?? 0) + us / 1000);
    total += us / 1000;
  }
  return { functions: [...functions.values()].sort((a, b) => b.ms - a.ms), files, totalMs: total };
}

/** node_modules/<pkg>/... and the workspace's packages/<name>/dist/... kept; the rest of the path dropped. */
function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
  const ws = /\/(packages|apps)\/(.*)$/.exec(path);
  return ws ? `${ws[1]}/${ws[2]}` : path;
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
  const top = Number(values.top);
  for (const file of positionals) {
    const { functions, files, totalMs } = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const pct = (ms: number) => `${((ms / totalMs) * 100).toFixed(1)}%`;
    console.log(`\n${file}: ${(totalMs / 1000).toFixed(1)} s sampled\n`);
    console.log('| self ms | % | function | where |\n|---:|---:|---|---|');
    for (const f of functions.slice(0, top)) console.log(`| ${f.ms.toFixed(0)} | ${pct(f.ms)} | ${f.name} | ${f.where} |`);
    console.log('\n| self ms | % | file |\n|---:|---:|---|');
    for (const [f, ms] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${ms.toFixed(0)} | ${pct(ms)} | ${f} |`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
