import { describe, expect, it } from 'vitest';
import { snapshotCommand } from './cli.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await snapshotCommand(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, tty: false });
  return { code, out, err };
}

describe('raftkv snapshot (arguments)', () => {
  it.each([
    [[], 1, /Usage:/, ''],
    [['--help'], 0, /raftkv snapshot restore <filename>/, ''],
    [['status'], 1, '', /requires exactly one argument/],
    [['status', 'a', 'b'], 1, '', /requires exactly one argument/],
    [['status', 'f.db', '-w', 'yaml'], 1, '', /unsupported output format "yaml"/],
    [['status', 'f.db', '--bogus'], 1, '', /unknown flag: --bogus/],
    [['restore', 'f.db', '--data-dir'], 1, '', /flag needs an argument: --data-dir/],
    [['restore', 'f.db', '--skip-hash-check=maybe'], 1, '', /invalid boolean "maybe"/],
    [['frobnicate', 'f.db'], 1, '', /unknown command "frobnicate"/],
    [['status', '/nonexistent/f.db'], 1, '', /ENOENT/],
  ] as const)('%j → exit %i', async (argv, code, out, err) => {
    const r = await run([...argv]);
    expect(r.code).toBe(code);
    if (out) expect(r.out).toMatch(out);
    if (err) expect(r.err).toMatch(err);
  });
});
