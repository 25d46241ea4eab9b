import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig, type ParseResult } from './index.js';

const fresh = { isDataDirInitialized: () => false };

function fromFile(yaml: string, argv: string[] = [], env: Record<string, string> = {}): Extract<ParseResult, { kind: 'run' }> {
  const files: Record<string, string> = { '/etc/raftkv.yml': yaml };
  const result = parseConfig(['--config-file=/etc/raftkv.yml', ...argv], env, {
    ...fresh,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return text;
    },
  });
  if (result.kind !== 'run') throw new Error(`expected run, got ${result.kind}`);
  return result;
}

function fileError(yaml: string): ConfigError {
  try {
    fromFile(yaml);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const hrefs = (urls: URL[]) => urls.map((u) => u.href.replace(/\/$/, ''));

// A file in the shape of etcd's etcd.conf.yml.sample (values ours).
const SAMPLE = `
name: 'infra1'
data-dir: /var/lib/raftkv/infra1
wal-dir:
snapshot-count: 10000
heartbeat-interval: 50
election-timeout: 500
quota-backend-bytes: 8589934592
listen-peer-urls: http://10.0.0.1:2380
listen-client-urls: http://10.0.0.1:2379,http://127.0.0.1:2379
max-snapshots: 3
max-wals: 4
initial-advertise-peer-urls: http://10.0.0.1:2380
advertise-client-urls: http://10.0.0.1:2379
discovery:
discovery-fallback: 'proxy'
initial-cluster: infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380,infra3=http://10.0.0.3:2380
initial-cluster-token: 'etcd-cluster-7'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-v2: false
enable-pprof: false
proxy: 'off'
client-transport-security:
  cert-file: /etc/tls/server.pem
  key-file: /etc/tls/server-key.pem
  client-cert-auth: true
  trusted-ca-file: /etc/tls/ca.pem
  auto-tls: false
peer-transport-security:
  cert-file: /etc/tls/peer.pem
  key-file: /etc/tls/peer-key.pem
  client-cert-auth: true
  trusted-ca-file: /etc/tls/peer-ca.pem
  auto-tls: false
log-level: warn
logger: capnslog
log-outputs: [default]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
max-request-bytes: 10485760
max-txn-ops: 256
grpc-keepalive-min-time: 1000000000
pre-vote: true
`;

describe("config file uses etcd's YAML keys", () => {
  const { config: c, warnings } = fromFile(SAMPLE);
  test.each<[string, unknown, unknown]>([
    ['name', c.name, 'infra1'],
    ['data-dir', c.dataDir, '/var/lib/raftkv/infra1'],
    ['wal-dir (empty value keeps the default)', c.walDir, ''],
    ['snapshot-count', c.snapshotCount, 10_000],
    ['heartbeat-interval', c.heartbeatIntervalMs, 50],
    ['election-timeout', c.electionTimeoutMs, 500],
    ['quota-backend-bytes', c.quotaBackendBytes, 8_589_934_592],
    ['listen-peer-urls', hrefs(c.listenPeerUrls), ['http://10.0.0.1:2380']],
    ['listen-client-urls', hrefs(c.listenClientUrls), ['http://10.0.0.1:2379', 'http://127.0.0.1:2379']],
    ['max-snapshots', c.maxSnapshots, 3],
    ['max-wals', c.maxWals, 4],
    ['initial-cluster', c.initialCluster.map((m) => m.name), ['infra1', 'infra2', 'infra3']],
    ['initial-cluster-token', c.initialClusterToken, 'etcd-cluster-7'],
    ['strict-reconfig-check', c.strictReconfigCheck, false],
    ['client-transport-security', c.clientTls, {
      certFile: '/etc/tls/server.pem', keyFile: '/etc/tls/server-key.pem', clientCertAuth: true, trustedCaFile: '/etc/tls/ca.pem', autoTls: false, crlFile: '', allowedHostname: '',
    }],
    ['peer-transport-security', [c.peerTls.certFile, c.peerTls.keyFile, c.peerTls.clientCertAuth, c.peerTls.trustedCaFile], ['/etc/tls/peer.pem', '/etc/tls/peer-key.pem', true, '/etc/tls/peer-ca.pem']],
    ['log-level', c.logLevel, 'warn'],
    ['log-outputs (a YAML list)', c.logOutputs, ['default']],
    ['auto-compaction-retention', c.autoCompactionRetention, 3_600_000],
    ['max-request-bytes', c.maxRequestBytes, 10_485_760],
    ['max-txn-ops', c.maxTxnOps, 256],
    ['grpc-keepalive-min-time (nanoseconds, as Go decodes a Duration)', c.grpcKeepaliveMinTimeMs, 1000],
    ['pre-vote', c.preVote, true],
    ['configFile', c.configFile, '/etc/raftkv.yml'],
    // Every value raftkv cannot honour yet is named (the TLS keys work).
    ['warnings', warnings.map((w) => w.split('=')[0]), [
      '--max-wals', '--grpc-keepalive-min-time', "Deprecated '--logger",
    ]],
  ])('%s', (_key, actual, expected) => expect(actual).toEqual(expected));
});

describe('config file precedence and shapes', () => {
  test('flags and environment variables are ignored when a config file is given, with a warning naming them', () => {
    const { config, warnings } = fromFile('name: from-file\n', ['--name=from-flag'], { ETCD_NAME: 'from-env', ETCD_PRE_VOTE: 'true' });
    expect([config.name, config.preVote]).toEqual(['from-file', false]);
    expect(warnings).toEqual([
      'config file /etc/raftkv.yml is used, so these flags and environment variables are ignored: --name, ETCD_NAME, ETCD_PRE_VOTE',
    ]);
  });

  test('ETCD_CONFIG_FILE selects the file, and no flag/variable conflict is raised', () => {
    const result = parseConfig(['--name=x'], { ETCD_CONFIG_FILE: '/f.yml', ETCD_NAME: 'y' }, { ...fresh, readFile: () => 'name: z\n' });
    expect(result.kind === 'run' && result.config.name).toBe('z');
  });

  test('defaults apply to keys the file leaves out, including the renamed default cluster', () => {
    const { config } = fromFile('name: solo\n');
    expect(config.dataDir).toBe('solo.raftkv');
    expect(config.initialCluster.map((m) => [m.name, hrefs(m.peerUrls)])).toEqual([['solo', ['http://localhost:2380']]]);
    expect(hrefs(config.advertiseClientUrls)).toEqual(['http://localhost:2379']);
  });

  test('an empty file is all defaults', () => expect(fromFile('').config.name).toBe('default'));

  test('durations may also be Go duration strings', () => {
    expect(fromFile('experimental-watch-progress-notify-interval: 5s\n').config.experimental.watchProgressNotifyIntervalMs).toBe(5000);
  });

  test('lists may be YAML sequences or comma-separated strings', () => {
    expect(fromFile('cipher-suites: [TLS_A, TLS_B]\n').config.cipherSuites).toEqual(['TLS_A', 'TLS_B']);
    expect(fromFile('cipher-suites: TLS_A,TLS_B\n').config.cipherSuites).toEqual(['TLS_A', 'TLS_B']);
  });

  test('an empty initial-cluster-state means new, as in etcd', () => {
    expect(fromFile("initial-cluster-state: ''\n").config.initialClusterState).toBe('new');
  });

  test('unknown keys are reported as warnings (etcd drops them silently)', () => {
    const { warnings } = fromFile('name: a\nbogus-key: 1\ncert-file: /x.pem\nclient-transport-security:\n  bogus: 1\n');
    expect(warnings).toEqual([
      'config file /etc/raftkv.yml: unrecognized key "bogus-key" ignored',
      // Top-level cert-file is a flag but not a YAML key in etcd; TLS lives in the nested maps.
      'config file /etc/raftkv.yml: unrecognized key "cert-file" ignored',
      'config file /etc/raftkv.yml: unrecognized key "client-transport-security.bogus" ignored',
    ]);
  });

  test('unimplemented features set in the file are named in warnings', () => {
    expect(fromFile('enable-v2: true\n').warnings.join('\n')).toMatch(/--enable-v2=true is not supported by raftkv yet/);
    expect(fromFile('peer-transport-security:\n  auto-tls: true\n')).toMatchObject({ warnings: [], config: { peerTls: { autoTls: true } } });
  });

  test('validation rules apply to the file too', () => {
    expect(fileError('heartbeat-interval: 100\nelection-timeout: 300\n').message).toBe(
      '--election-timeout[300ms] should be at least as 5 times as --heartbeat-interval[100ms]',
    );
  });
});

describe('bad config files give a ConfigError naming the file and key', () => {
  test.each<[string, string, string | undefined]>([
    ['heartbeat-interval: abc\n', 'config file /etc/raftkv.yml: invalid value "abc" for key "heartbeat-interval": parse error', 'heartbeat-interval'],
    ['listen-client-urls: http://1.2.3.4\n', 'invalid value "http://1.2.3.4" for key "listen-client-urls": URL address does not have the form "host:port"', 'listen-client-urls'],
    ['initial-cluster-state: maybe\n', `for key "initial-cluster-state": must be one of 'new', 'existing'`, 'initial-cluster-state'],
    ['pre-vote: sometimes\n', 'for key "pre-vote": parse error', 'pre-vote'],
    ['client-transport-security:\n  client-cert-auth: maybe\n', 'for key "client-transport-security.client-cert-auth": parse error', 'client-cert-auth'],
    ['grpc-keepalive-min-time: 1.5\n', 'must be an integer number of nanoseconds', 'grpc-keepalive-min-time'],
    ['name: [a, b]\n', 'key "name" takes a single value, not a list', 'name'],
    ['name: {a: 1}\n', 'key "name" must be a scalar or a list of scalars', 'name'],
    ['- a\n- b\n', 'config file /etc/raftkv.yml: expected a mapping of option names to values', undefined],
    ['name: a\nname: b\n', 'config file /etc/raftkv.yml: not valid YAML', undefined],
    ['client-transport-security: yes-please\n', 'key "client-transport-security" must be a mapping', undefined],
  ])('%j', (yaml, message, flag) => {
    const error = fileError(yaml);
    expect(error.message).toContain(message);
    expect(error.flag).toBe(flag);
    expect(error.exitCode).toBe(1);
  });

  test('a missing file names the path', () => {
    expect(() => parseConfig(['--config-file=/nope.yml'], {}, { readFile: () => { throw new Error('ENOENT'); } })).toThrow(
      'cannot read config file /nope.yml: ENOENT',
    );
  });
});
