import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const found = new Map<string, string>();

/**
 * The path of `name` on PATH. Throws a clear error when it is missing: the tests that compare
 * with etcd 3.4 must never pass by being skipped.
 */
export function requireBinary(name: string): string {
  const known = found.get(name);
  if (known !== undefined) return known;
  const probe = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = probe.stdout.trim();
  if (probe.status !== 0 || path === '') {
    throw new Error(`${name} is not on PATH: these tests compare raftkv with real etcd 3.4 ` +
      `(Debian: apt-get install -y etcd-server etcd-client, or run scripts/ensure-reference-etcd.sh)`);
  }
  found.set(name, path);
  return path;
}

/**
 * The `raftkv` binary (apps/server/bin/raftkv, which runs the built dist/): `explicit`, else the
 * TESTKIT_RAFTKV_BIN environment variable (apps/server's vitest config sets it; not RAFTKV_*,
 * which the server reads as its own settings and warns about). testkit does not depend on the
 * server package, so it is told where the binary is.
 */
export function raftkvBinary(explicit?: string): string {
  const bin = explicit ?? process.env['TESTKIT_RAFTKV_BIN'];
  if (bin === undefined || bin === '') {
    throw new Error('where is the raftkv binary? pass `raftkvBin` or set TESTKIT_RAFTKV_BIN (apps/server/bin/raftkv)');
  }
  return bin;
}

/**
 * Arguments for `node` that run raftkv in tests: a promise rejection nobody handles crashes the
 * member even if a handler is installed, so no test can pass over one.
 */
export function raftkvNodeArgs(explicit?: string): string[] {
  return ['--unhandled-rejections=strict', raftkvBinary(explicit)];
}
