// `pnpm bench`: the whole matrix, raftkv against etcd 3.4.23 (and etcd against itself), one
// member and three; prints the tables and writes the JSON. `--help` for the options.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir } from '@raftkv/testkit';
import { describeBinary, raftkvBin } from '../../raftkv-binary.js';
import { parseOptions, USAGE } from './options.js';
import { formatTables } from './report.js';
import { runMatrix } from './runner.js';
import { makeCertificates } from './targets.js';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

async function main(): Promise<void> {
  const { opts, out, help, tls } = parseOptions(process.argv.slice(2), process.env['BENCH_RAFTKV_BIN'] ?? raftkvBin);
  if (help) {
    console.log(USAGE);
    return;
  }
  // Ctrl-C: exit through process.exit so testkit's exit handler kills the servers.
  process.once('SIGINT', () => process.exit(130));
  const certs = tls ? makeCertificates() : undefined;
  if (certs) opts.tls = certs;
  console.error(`raftkv: ${describeBinary(opts.raftkvBin)}`);
  if (opts.raftkvBeforeBin) console.error(`before: ${describeBinary(opts.raftkvBeforeBin)}`);
  try {
    const result = await runMatrix(opts, (line) => console.error(line));
    const path = resolve(out ?? `${repoRoot}results/bench-${result.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\n${formatTables(result)}\n`);
    console.log(`JSON: ${path}  (charts: pnpm bench:chart ${path})`);
  } finally {
    if (certs) removeDir(certs.dir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
