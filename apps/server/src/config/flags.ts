/**
 * Every flag etcd 3.4 registers, in one table: its kind, etcd's default (as text, the
 * way a user would type it), a one-line description for `--help`, and whether the
 * YAML config file has a top-level key for it. The table is the single source for the
 * command-line parser, the ETCD_* environment mapping, the config file and the help.
 */
import { z } from 'zod';
import {
  parseDecimalUint32,
  parseEtcdUrlList,
  parseGoBool,
  parseGoDurationMs,
  parseGoInt,
  parseGoUint,
  parseInitialCluster,
} from './go-values.js';

/** How a flag's text is read; decides Go's bool syntax and the YAML value shape. */
export type FlagKind = 'bool' | 'string' | 'uint' | 'int' | 'duration' | 'urls' | 'list' | 'enum' | 'cluster';

/** Help sections, in the order `--help` prints them. */
export type FlagSection =
  | 'Member'
  | 'Clustering'
  | 'Security'
  | 'Auth'
  | 'Profiling and Monitoring'
  | 'Logging'
  | 'v2 Proxy (not implemented)'
  | 'Experimental'
  | 'Unsafe'
  | 'Deprecated'
  | 'Hidden';

export interface FlagSpec<T = unknown> {
  readonly kind: FlagKind;
  readonly section: FlagSection;
  /** etcd's default, as command-line text. */
  readonly defaultText: string;
  /** Text → typed value; a failed parse carries the reason in its issue message. */
  readonly schema: z.ZodType<T, string>;
  readonly help: string;
  /** False when etcd's YAML config file has no top-level key for this flag. */
  readonly fileKey: boolean;
}

function goValue<T>(parse: (text: string) => T): z.ZodType<T, string> {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });
}

type Opts = { fileKey?: boolean };

function spec<T>(kind: FlagKind, section: FlagSection, defaultText: string, schema: z.ZodType<T, string>, help: string, opts: Opts = {}): FlagSpec<T> {
  return { kind, section, defaultText, schema, help, fileKey: opts.fileKey ?? true };
}

const INT32_MAX = 2_147_483_647;

const str = (section: FlagSection, def: string, help: string, opts?: Opts) => spec('string', section, def, z.string(), help, opts);
const bool = (section: FlagSection, def: boolean, help: string, opts?: Opts) =>
  spec('bool', section, String(def), goValue(parseGoBool), help, opts);
const uint = (section: FlagSection, def: number, help: string, max?: number, opts?: Opts) =>
  spec('uint', section, String(def), goValue((t) => parseGoUint(t, max)), help, opts);
const int = (section: FlagSection, def: number, help: string, opts?: Opts) =>
  spec('int', section, String(def), goValue((t) => parseGoInt(t)), help, opts);
const duration = (section: FlagSection, def: string, help: string, opts?: Opts) =>
  spec('duration', section, def, goValue(parseGoDurationMs), help, opts);
const urls = (section: FlagSection, def: string, help: string, opts?: Opts) =>
  spec('urls', section, def, goValue(parseEtcdUrlList), help, opts);
const list = (section: FlagSection, def: string, help: string, opts?: Opts) =>
  spec('list', section, def, goValue(splitUniqueList), help, opts);
function oneOf<const V extends readonly [string, ...string[]]>(section: FlagSection, def: V[number], values: V, help: string, opts?: Opts) {
  return spec('enum', section, def, goValue((t) => {
    if (!(values as readonly string[]).includes(t)) throw new Error(`must be one of ${values.map((v) => `'${v}'`).join(', ')}`);
    return t as V[number];
  }), help, opts);
}

/** Comma-separated strings with duplicates and empty items dropped (etcd's UniqueStrings). */
function splitUniqueList(text: string): string[] {
  return [...new Set(text.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
}

/** `*` or a list of origins (etcd validates CORS origins as host:port URLs). */
function parseCors(text: string): string[] {
  if (text === '' || text === '*') return ['*'];
  return parseEtcdUrlList(text).map((u) => u.href.replace(/\/$/, ''));
}

/** The flag table. Keys are etcd's flag names without dashes. */
export const FLAGS = {
  // The config file flag is read before anything else; it has no YAML key of its own.
  'config-file': str('Member', '', 'YAML configuration file; when given, every other flag and ETCD_* variable is ignored.', { fileKey: false }),

  // Member
  name: str('Member', 'default', 'Human-readable name of this member.'),
  'data-dir': str('Member', '', 'Data directory (default "${name}.raftkv").'),
  'wal-dir': str('Member', '', 'Separate directory for the write-ahead log (default: inside data-dir).'),
  'snapshot-count': uint('Member', 100_000, 'Committed entries between snapshots.'),
  'heartbeat-interval': uint('Member', 100, 'Heartbeat interval in milliseconds.', INT32_MAX),
  'election-timeout': uint('Member', 1000, 'Election timeout in milliseconds (at least 5x heartbeat-interval, at most 50000).', INT32_MAX),
  'initial-election-tick-advance': bool('Member', true, 'Fast-forward election ticks at boot so the first election happens sooner.'),
  'listen-peer-urls': urls('Member', 'http://localhost:2380', 'URLs to listen on for peer traffic.'),
  'listen-client-urls': urls('Member', 'http://localhost:2379', 'URLs to listen on for client traffic.'),
  'max-snapshots': uint('Member', 5, 'Snapshot files to keep (0 keeps all).', INT32_MAX),
  'max-wals': uint('Member', 5, 'WAL files to keep (0 keeps all).', INT32_MAX),
  'quota-backend-bytes': int('Member', 0, 'Backend size that raises the NOSPACE alarm (0 means the default quota).'),
  'backend-batch-interval': duration('Member', '0s', 'Longest time before the backend transaction is committed.'),
  'backend-batch-limit': int('Member', 0, 'Most operations before the backend transaction is committed.'),
  'max-txn-ops': uint('Member', 128, 'Most operations allowed in one transaction.', INT32_MAX),
  'max-request-bytes': uint('Member', 1_572_864, 'Largest client request, in bytes.', INT32_MAX),
  'max-concurrent-streams': spec('uint', 'Member', '4294967295', goValue(parseDecimalUint32), 'Most concurrent gRPC streams per client connection.'),
  'grpc-keepalive-min-time': duration('Member', '5s', 'Shortest interval a client may ping the server at.'),
  'grpc-keepalive-interval': duration('Member', '2h', 'Interval of server-to-client pings (0 disables).'),
  'grpc-keepalive-timeout': duration('Member', '20s', 'Wait for a ping answer before closing the connection (0 disables).'),

  // Clustering
  'initial-advertise-peer-urls': urls('Clustering', 'http://localhost:2380', "This member's peer URLs, as told to the rest of the cluster."),
  'initial-cluster': spec('cluster', 'Clustering', 'default=http://localhost:2380', goValue(parseInitialCluster), 'Bootstrap membership: name=peerURL[,name=peerURL...].'),
  'initial-cluster-state': oneOf('Clustering', 'new', ['new', 'existing'] as const, "'new' to bootstrap a cluster, 'existing' to join one."),
  'initial-cluster-token': str('Clustering', 'etcd-cluster', 'Token that keeps separately bootstrapped clusters apart.'),
  'advertise-client-urls': urls('Clustering', 'http://localhost:2379', "This member's client URLs, as told to clients."),
  discovery: str('Clustering', '', 'Discovery service URL for bootstrapping.'),
  'discovery-fallback': oneOf('Clustering', 'proxy', ['proxy', 'exit'] as const, "What to do when discovery fails: 'exit' or 'proxy'."),
  'discovery-proxy': str('Clustering', '', 'HTTP proxy for the discovery service.'),
  'discovery-srv': str('Clustering', '', 'DNS SRV domain for bootstrapping.'),
  'discovery-srv-name': str('Clustering', '', 'Suffix of the DNS SRV name used for bootstrapping.'),
  'strict-reconfig-check': bool('Clustering', true, 'Reject membership changes that could lose quorum.'),
  'pre-vote': bool('Clustering', false, 'Run the Raft pre-vote phase before an election.'),
  'auto-compaction-retention': str('Clustering', '0', 'History to keep when compacting automatically (0 disables).'),
  // Checked after parsing, as etcd does (exit code 1, not 2).
  'auto-compaction-mode': str('Clustering', 'periodic', "'periodic' (retention is a duration, hours if no unit) or 'revision' (retention is a revision count)."),
  'enable-v2': bool('Clustering', false, 'Serve the etcd v2 API.'),

  // Security
  'cert-file': str('Security', '', 'Client TLS certificate file.', { fileKey: false }),
  'key-file': str('Security', '', 'Client TLS key file.', { fileKey: false }),
  'client-cert-auth': bool('Security', false, 'Require client certificates signed by trusted-ca-file.', { fileKey: false }),
  'client-crl-file': str('Security', '', 'Client certificate revocation list file.', { fileKey: false }),
  'client-cert-allowed-hostname': str('Security', '', 'Hostname a client certificate must carry.', { fileKey: false }),
  'trusted-ca-file': str('Security', '', 'CA bundle for verifying client certificates.', { fileKey: false }),
  'auto-tls': bool('Security', false, 'Serve clients with a generated self-signed certificate.', { fileKey: false }),
  'peer-cert-file': str('Security', '', 'Peer TLS certificate file.', { fileKey: false }),
  'peer-key-file': str('Security', '', 'Peer TLS key file.', { fileKey: false }),
  'peer-client-cert-auth': bool('Security', false, 'Require peer certificates signed by peer-trusted-ca-file.', { fileKey: false }),
  'peer-trusted-ca-file': str('Security', '', 'CA bundle for verifying peer certificates.', { fileKey: false }),
  'peer-auto-tls': bool('Security', false, 'Talk to peers with a generated self-signed certificate.', { fileKey: false }),
  'peer-crl-file': str('Security', '', 'Peer certificate revocation list file.', { fileKey: false }),
  'peer-cert-allowed-cn': str('Security', '', 'Common name a peer certificate must carry.', { fileKey: false }),
  'peer-cert-allowed-hostname': str('Security', '', 'Hostname a peer certificate must carry.', { fileKey: false }),
  'cipher-suites': list('Security', '', 'Comma-separated TLS cipher suites (empty: the runtime default).'),
  cors: spec('list', 'Security', '*', goValue(parseCors), 'Comma-separated CORS origins (* allows all).'),
  'host-whitelist': list('Security', '*', 'Comma-separated host names accepted on plain-HTTP requests (* allows all).'),
  'experimental-peer-skip-client-san-verification': bool('Security', false, 'Skip the SAN check of peer client certificates.', { fileKey: false }),

  // Auth
  'auth-token': str('Auth', 'simple', "Auth token type and options: 'simple' or 'jwt,...'."),
  'bcrypt-cost': uint('Auth', 10, 'bcrypt cost for password hashing (4 to 31; others fall back to 10).', INT32_MAX),
  'auth-token-ttl': uint('Auth', 300, 'Lifetime of a simple auth token, in seconds.', INT32_MAX),

  // Profiling and Monitoring
  'enable-pprof': bool('Profiling and Monitoring', false, 'Serve runtime profiling data under /debug/pprof/.'),
  metrics: oneOf('Profiling and Monitoring', 'basic', ['basic', 'extensive'] as const, "Metrics detail: 'basic' or 'extensive' (adds histograms)."),
  'listen-metrics-urls': urls('Profiling and Monitoring', '', 'Extra URLs serving only /metrics and /health.'),
  'enable-grpc-gateway': bool('Profiling and Monitoring', true, 'Serve the HTTP/JSON gateway on the client URLs.'),

  // Logging
  logger: str('Logging', 'capnslog', "Log format: 'zap' (structured) or 'capnslog'."),
  'log-outputs': list('Logging', 'default', "Log destinations: 'default', 'stdout', 'stderr', 'systemd/journal' or file paths."),
  'log-level': oneOf('Logging', 'info', ['debug', 'info', 'warn', 'error', 'panic', 'fatal'] as const, 'Log level: debug, info, warn, error, panic or fatal.'),

  // v2 proxy
  proxy: oneOf('v2 Proxy (not implemented)', 'off', ['off', 'readonly', 'on'] as const, "v2 proxy mode: 'off', 'readonly' or 'on'."),
  'proxy-failure-wait': uint('v2 Proxy (not implemented)', 5000, 'Milliseconds a failed endpoint stays failed.'),
  'proxy-refresh-interval': uint('v2 Proxy (not implemented)', 30000, 'Milliseconds between endpoint refreshes.'),
  'proxy-dial-timeout': uint('v2 Proxy (not implemented)', 1000, 'Dial timeout in milliseconds.'),
  'proxy-write-timeout': uint('v2 Proxy (not implemented)', 5000, 'Write timeout in milliseconds.'),
  'proxy-read-timeout': uint('v2 Proxy (not implemented)', 0, 'Read timeout in milliseconds.'),

  // Experimental
  'experimental-initial-corrupt-check': bool('Experimental', false, 'Check data for corruption before serving.'),
  'experimental-corrupt-check-time': duration('Experimental', '0s', 'Interval between cluster corruption checks.'),
  'experimental-enable-v2v3': str('Experimental', '', 'Serve v2 requests from the v3 store under this prefix.'),
  'experimental-backend-bbolt-freelist-type': str('Experimental', 'array', "bbolt freelist type ('array' or 'map'); meaningless for raftkv's LMDB backend."),
  'experimental-enable-lease-checkpoint': bool('Experimental', false, 'Checkpoint remaining lease TTLs so leader changes do not extend them.'),
  'experimental-enable-lease-checkpoint-persist': bool('Experimental', false, 'Persist lease checkpoints (needs experimental-enable-lease-checkpoint).'),
  'experimental-compaction-batch-limit': int('Experimental', 1000, 'Most revisions deleted per compaction batch.'),
  'experimental-watch-progress-notify-interval': duration('Experimental', '10m', 'Interval of watch progress notifications.'),
  'experimental-warning-apply-duration': duration('Experimental', '100ms', 'Log a warning when applying a request takes longer.'),

  // Unsafe
  'force-new-cluster': bool('Unsafe', false, 'Restart as a new one-member cluster keeping the data.'),
  'unsafe-no-fsync': bool('Unsafe', false, 'Never fsync: fast and loses data on a crash.'),

  // Deprecated in etcd 3.4, still accepted
  debug: bool('Deprecated', false, 'Same as --log-level=debug.'),
  'log-package-levels': str('Deprecated', '', 'Per-package log levels (capnslog).'),
  'log-output': list('Deprecated', 'default', 'Old spelling of --log-outputs.'),

  // Printed by --version; never part of a configuration.
  version: bool('Hidden', false, 'Print the version and exit.', { fileKey: false }),
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

/** The typed value of every flag after parsing. */
export type FlagValues = { [K in FlagName]: z.output<(typeof FLAGS)[K]['schema']> };

/**
 * Flags raftkv accepts but does not act on yet, with what is missing. Setting one to anything
 * but its default gives a warning at start that names it. Remove an entry when the feature
 * lands; `flag-coverage.test.ts` fails for any flag that is neither here nor read by the
 * server, and the README's table must say the same.
 */
export const UNIMPLEMENTED_FLAGS: Partial<Record<FlagName, string>> = {
  // Safety-relevant: people rely on these, so each warns by name.
  'max-wals': 'WAL retention by file count; WAL segments are released by snapshots',
  'grpc-keepalive-min-time': 'a floor on client ping intervals (grpc-js cannot enforce one)',
  'experimental-enable-lease-checkpoint': 'a switch for lease checkpoints, which raftkv always makes and persists',
  'experimental-enable-lease-checkpoint-persist': 'a switch for lease checkpoints, which raftkv always makes and persists',
  'experimental-compaction-batch-limit': 'a compaction batch size',
  discovery: 'discovery bootstrapping',
  'discovery-fallback': 'discovery bootstrapping',
  'discovery-proxy': 'discovery bootstrapping',
  'discovery-srv': 'DNS SRV bootstrapping',
  'discovery-srv-name': 'DNS SRV bootstrapping',
  'enable-v2': 'the etcd v2 API',
  'experimental-enable-v2v3': 'the etcd v2 API',
  proxy: 'the v2 proxy',
  'proxy-failure-wait': 'the v2 proxy',
  'proxy-refresh-interval': 'the v2 proxy',
  'proxy-dial-timeout': 'the v2 proxy',
  'proxy-write-timeout': 'the v2 proxy',
  'proxy-read-timeout': 'the v2 proxy',
  cors: 'CORS on the HTTP gateway',
  'host-whitelist': 'host checks on the HTTP gateway',
  'experimental-backend-bbolt-freelist-type': "bbolt's freelist (raftkv uses LMDB)",
  'enable-pprof': 'Go profiling endpoints',
  'log-package-levels': 'per-package log levels',
  'unsafe-no-fsync': 'running without fsync',
};

/**
 * Flags etcd still accepts and ignores (leftovers of etcd 0.4/2.x); raftkv does the
 * same, with a warning. They take no value, like etcd's `IgnoredFlag`.
 */
export const IGNORED_LEGACY_FLAGS: readonly string[] = [
  'cluster-active-size',
  'cluster-remove-delay',
  'cluster-sync-interval',
  'config',
  'force',
  'max-result-buffer',
  'max-retry-attempts',
  'peer-heartbeat-interval',
  'peer-election-timeout',
  'retry-interval',
  'snapshot',
  'v',
  'vv',
];

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAGS, name);
}

export const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];
