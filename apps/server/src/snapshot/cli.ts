// `raftkv snapshot status|restore`: the part of etcdctl/etcdutl that works on snapshot files.
import { SingleBar } from 'cli-progress';
import { restoreSnapshot } from './restore.js';
import { formatStatus, snapshotStatus } from './status.js';

const USAGE = `Usage:
  raftkv snapshot status <filename> [-w simple|table|json]
  raftkv snapshot restore <filename> [--data-dir DIR (default NAME.raftkv)] [--wal-dir DIR] [--name NAME (default "default")]
      [--initial-cluster CLUSTER] [--initial-cluster-token TOKEN] [--initial-advertise-peer-urls URLS] [--skip-hash-check]

status   prints the snapshot's hash, revision, total keys and total size (as etcdctl).
restore  creates a new raftkv data dir from a snapshot saved from raftkv or etcd 3.4
         (etcdctl snapshot save). Start the member with the same --name, --initial-cluster,
         --initial-cluster-token and --initial-advertise-peer-urls (and --wal-dir, if given:
         a new directory for the WAL, created empty).
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether to draw a progress bar (stderr is a terminal). */
  tty: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  tty: process.stderr.isTTY === true,
};

/** Runs `raftkv snapshot <argv>`; resolves to the exit code. */
export async function snapshotCommand(argv: string[], io: Io = defaultIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(USAGE);
    return sub === undefined ? 1 : 0;
  }
  let args: ParsedArgs;
  try {
    args = parseArgs(rest, sub === 'status' ? { 'write-out': 'value', w: 'value' } : RESTORE_FLAGS);
  } catch (err) {
    io.err(`Error: ${(err as Error).message}\n`);
    return 1;
  }
  if (args.positional.length !== 1) {
    io.err(`Error: snapshot ${sub} requires exactly one argument\n`);
    return 1;
  }
  const file = args.positional[0]!;
  try {
    if (sub === 'status') {
      const format = args.flags.get('write-out') ?? args.flags.get('w') ?? 'simple';
      if (format !== 'simple' && format !== 'table' && format !== 'json') throw new Error(`unsupported output format ${JSON.stringify(format)} (simple, table or json)`);
      io.out(formatStatus(snapshotStatus(file), format));
      return 0;
    }
    if (sub === 'restore') {
      const bar = io.tty ? new SingleBar({ stream: process.stderr, format: 'restoring [{bar}] {percentage}% | {value}/{total} keys | {duration_formatted}', hideCursor: true }) : undefined;
      let started = false;
      const f = args.flags;
      try {
        const r = await restoreSnapshot({
          snapshotPath: file,
          ...(f.has('data-dir') ? { dataDir: f.get('data-dir')! } : {}),
          ...(f.has('wal-dir') ? { walDir: f.get('wal-dir')! } : {}),
          ...(f.has('name') ? { name: f.get('name')! } : {}),
          ...(f.has('initial-cluster') ? { initialCluster: f.get('initial-cluster')! } : {}),
          ...(f.has('initial-cluster-token') ? { initialClusterToken: f.get('initial-cluster-token')! } : {}),
          ...(f.has('initial-advertise-peer-urls') ? { initialAdvertisePeerUrls: f.get('initial-advertise-peer-urls')! } : {}),
          skipHashCheck: parseBool(f.get('skip-hash-check')),
          ...(bar ? {
            onProgress: (done: number, total: number) => {
              if (!started) { bar.start(total, 0); started = true; }
              bar.update(done);
            },
          } : {}),
        });
        bar?.stop();
        io.out(`restored snapshot ${file} into ${r.dataDir}: revision ${r.revision}, compacted at ${r.compactRevision}, ${r.keys} revisions, ${r.leases} leases\n`);
        return 0;
      } finally {
        if (started) bar?.stop();
      }
    }
    io.err(`Error: unknown command "${sub}" for "raftkv snapshot"\n${USAGE}`);
    return 1;
  } catch (err) {
    io.err(`Error: ${(err as Error).message}\n`);
    return 1;
  }
}

const RESTORE_FLAGS: Record<string, 'value' | 'bool'> = {
  'data-dir': 'value',
  'wal-dir': 'value',
  name: 'value',
  'initial-cluster': 'value',
  'initial-cluster-token': 'value',
  'initial-advertise-peer-urls': 'value',
  'skip-hash-check': 'bool',
};

interface ParsedArgs {
  positional: string[];
  flags: Map<string, string>;
}

/** Go's pflag forms: --flag value, --flag=value, -f value; a bool flag alone means true. */
function parseArgs(argv: string[], known: Record<string, 'value' | 'bool'>): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const kind = known[name];
    if (kind === undefined) throw new Error(`unknown flag: ${a}`);
    if (eq >= 0) out.flags.set(name, body.slice(eq + 1));
    else if (kind === 'bool') out.flags.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`flag needs an argument: ${a}`);
      out.flags.set(name, v);
    }
  }
  return out;
}

function parseBool(v: string | undefined): boolean {
  if (v === undefined) return false;
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)) return false;
  throw new Error(`invalid boolean ${JSON.stringify(v)}`);
}
