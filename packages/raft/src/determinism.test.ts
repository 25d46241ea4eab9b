import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The package must stay a pure state machine: no clock, no ambient
// randomness, no timers, no I/O. Tests are exempt.

const BANNED = ['Date.now', 'performance.now', 'Math.random', 'setTimeout', 'setInterval', 'node:fs', "from 'fs'"];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'test-support') out.push(...sources(p));
    } else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) {
      out.push(p);
    }
  }
  return out;
}

describe('determinism', () => {
  it('no source file outside tests uses a clock, Math.random, timers or the file system', () => {
    const files = sources(new URL('.', import.meta.url).pathname);
    expect(files.length).toBeGreaterThan(10);
    const offenders: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const b of BANNED) if (text.includes(b)) offenders.push(`${f}: ${b}`);
    }
    expect(offenders).toEqual([]);
  });
});
