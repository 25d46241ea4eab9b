// Every ```js block of packages/client/README.md runs as is (in order, as its own ESM program)
// against raftkv and against etcd 3.4.23: each exits 0, and both servers print the same.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, spawnTracked } from '@raftkv/testkit';
import { KINDS, startOne } from './servers.js';

const README = fileURLToPath(new URL('../../../../../packages/client/README.md', import.meta.url));
const blocks = [...readFileSync(README, 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
// Under apps/server/node_modules, so `@raftkv/client` resolves as it does for a user's program.
const dir = mkdtempSync(fileURLToPath(new URL('../../../node_modules/.readme-examples-', import.meta.url)));

function run(file: string, endpoint: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(process.execPath, [file], { env: { ...process.env, ETCD_ENDPOINTS: endpoint }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    child.on('close', (code) => resolve({ code, out }));
  });
}

const outputs = new Map<string, string[]>();

describe.each(KINDS)('README examples against %s', (kind) => {
  it('run and exit 0', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const server = await startOne(kind);
    const outs: string[] = [];
    try {
      for (const [i, code] of blocks.entries()) {
        const file = join(dir, `${kind}-${i}.mjs`);
        writeFileSync(file, code);
        const r = await run(file, server.endpoint);
        if (r.code !== 0) throw new Error(`block ${i} exited with ${r.code}:\n${r.out}`);
        outs.push(r.out);
      }
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
    outputs.set(kind, outs);
  }, 60_000);
});

describe('README examples', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('print the same on raftkv and etcd', () => {
    expect(outputs.get('etcd')?.join('') ?? '').toContain('blue');
    expect(outputs.get('raftkv')).toEqual(outputs.get('etcd'));
  });
});
