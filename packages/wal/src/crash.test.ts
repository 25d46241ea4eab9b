import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempDirs } from './test-support/tmp.js';
import { Wal } from './wal.js';

const tempDir = useTempDirs();
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const SEGMENT = 64 * 1024;

/** Runs the child until it has acknowledged `acks` more appends, then SIGKILLs it. */
function runAndKill(dir: string, acks: number): Promise<{ start: number; acked: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(pkgDir, 'src/test-support/crash-child.mjs'), dir, String(SEGMENT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    let start = -1;
    const acked: number[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('ready ')) start = Number(l.slice(6));
        else acked.push(Number(l));
      }
      if (acked.length >= acks) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited without being killed (${signal})`));
      else resolve({ start, acked });
    });
  });
}

describe('crash (kill -9) while appending', () => {
  beforeAll(async () => {
    // The child imports the build; make sure it reflects the current source.
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', join(pkgDir, 'tsconfig.build.json')]);
  }, 120_000);

  it('every acknowledged append survives, across repeated kills and restarts', async () => {
    const dir = join(await tempDir(), 'wal');
    let everAcked = 0;
    for (let round = 0; round < 4; round++) {
      const { start, acked } = await runAndKill(dir, 300 + round * 150);
      // A restarted child continues exactly after what the previous run made durable.
      expect(start).toBeGreaterThanOrEqual(everAcked);
      everAcked = Math.max(everAcked, ...acked);
      const { wal, replay } = await Wal.open(dir, { segmentSizeBytes: SEGMENT });
      await wal.close();
      const indexes = replay.entries.map((e) => e.index);
      expect(indexes[0]).toBe(1);
      expect(indexes.at(-1)).toBe(indexes.length); // contiguous from 1
      expect(indexes.length).toBeGreaterThanOrEqual(everAcked);
      expect(replay.hardState?.commit).toBeGreaterThanOrEqual(everAcked);
    }
  });
});
