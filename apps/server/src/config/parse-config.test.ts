import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig, type ParseResult, type ServerConfig } from './index.js';

const fresh = { isDataDirInitialized: () => false };

function run(argv: string[], env: Record<string, string | undefined> = {}): Extract<ParseResult, { kind: 'run' }> {
  const result = parseConfig(argv, env, fresh);
  if (result.kind !== 'run') throw new Error(`expected a run result, got ${result.kind}`);
  return result;
}

function configOf(argv: string[], env: Record<string, string | undefined> = {}): ServerConfig {
  return run(argv, env).config;
}

function errorOf(argv: string[], env: Record<string, string | undefined> = {}): ConfigError {
  try {
    parseConfig(argv, env, fresh);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${argv.join(' ')}`);
}

const hrefs = (urls: URL[]) => urls.map((u) => u.href.replace(/\/$/, ''));

describe('defaults are etcd 3.4.23 defaults', () => {
  const { config: c, warnings } = run([]);
  test.each<[string, unknown, unknown]>([
    ['name', c.name, 'default'],
    ['dataDir (raftkv: ${name}.raftkv)', c.dataDir, 'default.raftkv'],
    ['walDir', c.walDir, ''],
    ['snapshotCount', c.snapshotCount, 100_000],
    ['maxSnapshots', c.maxSnapshots, 5],
    ['maxWals', c.maxWals, 5],
    ['heartbeatIntervalMs', c.heartbeatIntervalMs, 100],
    ['electionTimeoutMs', c.electionTimeoutMs, 1000],
    ['initialElectionTickAdvance', c.initialElectionTickAdvance, true],
    ['listenPeerUrls', hrefs(c.listenPeerUrls), ['http://localhost:2380']],
    ['listenClientUrls', hrefs(c.listenClientUrls), ['http://localhost:2379']],
    ['listenMetricsUrls', hrefs(c.listenMetricsUrls), []],
    ['initialAdvertisePeerUrls', hrefs(c.initialAdvertisePeerUrls), ['http://localhost:2380']],
    ['advertiseClientUrls', hrefs(c.advertiseClientUrls), ['http://localhost:2379']],
    ['initialCluster', c.initialCluster.map((m) => [m.name, hrefs(m.peerUrls)]), [['default', ['http://localhost:2380']]]],
    ['initialClusterState', c.initialClusterState, 'new'],
    ['initialClusterToken', c.initialClusterToken, 'etcd-cluster'],
    ['discovery', c.discovery, { url: '', fallback: 'proxy', proxy: '', srv: '', srvName: '' }],
    ['strictReconfigCheck', c.strictReconfigCheck, true],
    ['preVote', c.preVote, false],
    ['maxRequestBytes', c.maxRequestBytes, 1_572_864],
    ['maxTxnOps', c.maxTxnOps, 128],
    ['maxConcurrentStreams', c.maxConcurrentStreams, 4_294_967_295],
    ['quotaBackendBytes', c.quotaBackendBytes, 0],
    ['backendBatchIntervalMs', c.backendBatchIntervalMs, 0],
    ['backendBatchLimit', c.backendBatchLimit, 0],
    ['grpcKeepaliveMinTimeMs', c.grpcKeepaliveMinTimeMs, 5000],
    ['grpcKeepaliveIntervalMs', c.grpcKeepaliveIntervalMs, 7_200_000],
    ['grpcKeepaliveTimeoutMs', c.grpcKeepaliveTimeoutMs, 20_000],
    ['autoCompactionMode', c.autoCompactionMode, 'periodic'],
    ['autoCompactionRetention', c.autoCompactionRetention, 0],
    ['clientTls', c.clientTls, { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false, autoTls: false, crlFile: '', allowedHostname: '' }],
    ['peerTls', c.peerTls, { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false, autoTls: false, crlFile: '', allowedHostname: '', allowedCn: '', skipClientSanVerification: false }],
    ['cipherSuites', c.cipherSuites, []],
    ['cors', c.cors, ['*']],
    ['hostWhitelist', c.hostWhitelist, ['*']],
    ['authToken', c.authToken, 'simple'],
    ['bcryptCost', c.bcryptCost, 10],
    ['authTokenTtlSeconds', c.authTokenTtlSeconds, 300],
    ['enablePprof', c.enablePprof, false],
    ['metrics', c.metrics, 'basic'],
    ['enableGrpcGateway', c.enableGrpcGateway, true],
    ['logger', c.logger, 'zap'],
    ['logOutputs', c.logOutputs, ['default']],
    ['logLevel', c.logLevel, 'info'],
    ['enableV2', c.enableV2, false],
    ['proxy', c.proxy, { mode: 'off', failureWaitMs: 5000, refreshIntervalMs: 30000, dialTimeoutMs: 1000, writeTimeoutMs: 5000, readTimeoutMs: 0 }],
    ['experimental', c.experimental, {
      initialCorruptCheck: false, corruptCheckTimeMs: 0, enableV2V3: '', backendFreelistType: 'array', enableLeaseCheckpoint: false,
      enableLeaseCheckpointPersist: false, compactionBatchLimit: 1000, watchProgressNotifyIntervalMs: 600_000, warningApplyDurationMs: 100,
    }],
    ['forceNewCluster', c.forceNewCluster, false],
    ['unsafeNoFsync', c.unsafeNoFsync, false],
    ['configFile', c.configFile, ''],
    ['warnings', warnings, []],
  ])('%s', (_field, actual, expected) => expect(actual).toEqual(expected));
});

describe('flag forms (Go flag package syntax)', () => {
  test.each<[string, string[]]>([
    ['--flag=value', ['--name=n1']],
    ['--flag value', ['--name', 'n1']],
    ['-flag=value', ['-name=n1']],
    ['-flag value', ['-name', 'n1']],
    ['last occurrence wins', ['--name=x', '--name', 'n1']],
  ])('%s', (_form, argv) => {
    expect(configOf(argv).name).toBe('n1');
  });

  test.each<[string, string[], boolean]>([
    ['--flag', ['--pre-vote'], true],
    ['-flag', ['-pre-vote'], true],
    ['--flag=true', ['--pre-vote=true'], true],
    ['--flag=1', ['--pre-vote=1'], true],
    ['--flag=T', ['--pre-vote=T'], true],
    ['--flag=false', ['--pre-vote=false'], false],
    ['--flag=0', ['--pre-vote=0'], false],
    ['not given', [], false],
  ])('boolean %s', (_form, argv, expected) => {
    expect(configOf(argv).preVote).toBe(expected);
  });

  test('a boolean does not take the next argument (etcd: it is a stray argument)', () => {
    const error = errorOf(['--pre-vote', 'false']);
    expect(error.message).toBe("'false' is not a valid flag");
    expect(error.exitCode).toBe(1);
  });

  test('a value may start with a dash when given as the next argument, as in Go', () => {
    expect(configOf(['--initial-cluster-token', '-tok']).initialClusterToken).toBe('-tok');
  });

  test('-- ends the flags; nothing may follow it', () => {
    expect(configOf(['--name=n1', '--']).name).toBe('n1');
    expect(errorOf(['--', '--name=n1']).message).toBe("'--name=n1' is not a valid flag");
  });

  test('numbers use Go syntax', () => {
    const c = configOf(['--snapshot-count=0x10', '--max-txn-ops', '1_000', '--quota-backend-bytes=-1']);
    expect([c.snapshotCount, c.maxTxnOps, c.quotaBackendBytes]).toEqual([16, 1000, -1]);
  });

  test('durations use Go syntax', () => {
    const c = configOf(['--grpc-keepalive-min-time=1m30s', '--grpc-keepalive-interval=0', '--experimental-warning-apply-duration=250ms']);
    expect([c.grpcKeepaliveMinTimeMs, c.grpcKeepaliveIntervalMs, c.experimental.warningApplyDurationMs]).toEqual([90_000, 0, 250]);
  });

  test('every URL flag takes a comma-separated list', () => {
    const c = configOf([
      '--listen-client-urls=http://127.0.0.1:2379,https://[::1]:2379,unix://localhost:1234',
      '--advertise-client-urls=http://10.0.0.1:2379',
      '--listen-metrics-urls=http://0.0.0.0:9100',
    ]);
    expect(hrefs(c.listenClientUrls)).toEqual(['http://127.0.0.1:2379', 'https://[::1]:2379', 'unix://localhost:1234']);
    expect(hrefs(c.listenMetricsUrls)).toEqual(['http://0.0.0.0:9100']);
  });

  test('an empty URL list keeps the default yet counts as given, as in etcd', () => {
    expect(hrefs(configOf(['--advertise-client-urls=']).advertiseClientUrls)).toEqual(['http://localhost:2379']);
    expect(errorOf(['--listen-client-urls=']).flag).toBe('advertise-client-urls');
  });

  test('TLS flags fill clientTls and peerTls', () => {
    const c = configOf([
      '--cert-file=/c.pem', '--key-file=/c.key', '--trusted-ca-file=/ca.pem', '--client-cert-auth',
      '--peer-cert-file=/p.pem', '--peer-key-file=/p.key', '--peer-trusted-ca-file=/pca.pem', '--peer-client-cert-auth=true',
    ]);
    expect(c.clientTls).toMatchObject({ certFile: '/c.pem', keyFile: '/c.key', trustedCaFile: '/ca.pem', clientCertAuth: true });
    expect(c.peerTls).toMatchObject({ certFile: '/p.pem', keyFile: '/p.key', trustedCaFile: '/pca.pem', clientCertAuth: true });
  });

  test('auto compaction retention: hours or a duration in periodic mode, a count in revision mode', () => {
    expect(configOf(['--auto-compaction-retention=1']).autoCompactionRetention).toBe(3_600_000);
    expect(configOf(['--auto-compaction-retention=0.5']).autoCompactionRetention).toBe(1_800_000);
    expect(configOf(['--auto-compaction-retention=5m']).autoCompactionRetention).toBe(300_000);
    const c = configOf(['--auto-compaction-mode=revision', '--auto-compaction-retention=1000']);
    expect([c.autoCompactionMode, c.autoCompactionRetention]).toEqual(['revision', 1000]);
  });

  test('--debug means log level debug unless --log-level is given', () => {
    expect(configOf(['--debug']).logLevel).toBe('debug');
    expect(configOf(['--debug', '--log-level=warn']).logLevel).toBe('warn');
  });
});

describe('the name drives data dir and the default cluster, as in etcd', () => {
  test('data dir defaults to ${name}.raftkv', () => expect(configOf(['--name=n1']).dataDir).toBe('n1.raftkv'));
  test('an explicit data dir wins', () => expect(configOf(['--name=n1', '--data-dir=/var/lib/x']).dataDir).toBe('/var/lib/x'));
  test('the untouched default initial cluster is renamed after the member', () => {
    const c = configOf(['--name=n1', '--initial-advertise-peer-urls=http://10.0.0.1:2380', '--listen-peer-urls=http://10.0.0.1:2380']);
    expect(c.initialCluster.map((m) => [m.name, hrefs(m.peerUrls)])).toEqual([['n1', ['http://10.0.0.1:2380']]]);
  });
  test('a three-member cluster', () => {
    const c = configOf([
      '--name', 'infra1',
      '--initial-advertise-peer-urls', 'http://127.0.0.1:12380',
      '--listen-peer-urls', 'http://127.0.0.1:12380',
      '--listen-client-urls', 'http://127.0.0.1:2379',
      '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--initial-cluster-token', 'etcd-cluster-1',
      '--initial-cluster', 'infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380',
      '--initial-cluster-state', 'new',
    ]);
    expect(c.initialCluster.map((m) => m.name)).toEqual(['infra1', 'infra2', 'infra3']);
    expect(c.initialClusterToken).toBe('etcd-cluster-1');
  });
});

describe('environment variables work like etcd', () => {
  test.each<[string, Record<string, string>, (c: ServerConfig) => unknown, unknown]>([
    ['ETCD_NAME', { ETCD_NAME: 'n1' }, (c) => c.name, 'n1'],
    ['ETCD_INITIAL_CLUSTER_STATE', { ETCD_INITIAL_CLUSTER_STATE: 'existing' }, (c) => c.initialClusterState, 'existing'],
    ['ETCD_PRE_VOTE', { ETCD_PRE_VOTE: 'true' }, (c) => c.preVote, true],
    ['ETCD_HEARTBEAT_INTERVAL + ETCD_ELECTION_TIMEOUT', { ETCD_HEARTBEAT_INTERVAL: '50', ETCD_ELECTION_TIMEOUT: '500' }, (c) => [c.heartbeatIntervalMs, c.electionTimeoutMs], [50, 500]],
    ['ETCD_LISTEN_PEER_URLS', { ETCD_LISTEN_PEER_URLS: 'http://127.0.0.1:7001' }, (c) => hrefs(c.listenPeerUrls), ['http://127.0.0.1:7001']],
    ['RAFTKV_ alias', { RAFTKV_NAME: 'n2' }, (c) => c.name, 'n2'],
    ['both prefixes agreeing', { ETCD_NAME: 'n3', RAFTKV_NAME: 'n3' }, (c) => c.name, 'n3'],
    ['an empty variable counts as unset', { ETCD_NAME: '' }, (c) => c.name, 'default'],
    ['a flag and an unrelated variable combine', { ETCD_NAME: 'n4' }, (c) => c.dataDir, 'n4.raftkv'],
  ])('%s', (_case, env, pick, expected) => {
    expect(pick(configOf([], env))).toEqual(expected);
  });

  test('a command-line flag with the same variable set is a fatal conflict (etcd exits 1)', () => {
    const error = errorOf(['--name=y'], { ETCD_NAME: 'x' });
    expect(error.message).toBe(
      'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)',
    );
    expect([error.code, error.flag, error.exitCode]).toEqual(['invalid-config', 'name', 1]);
  });

  test('the conflict applies even when the variable is empty, as in etcd', () => {
    expect(errorOf(['--name=y'], { ETCD_NAME: '' }).flag).toBe('name');
  });

  test('a bad value in a variable names the variable', () => {
    const error = errorOf([], { ETCD_ELECTION_TIMEOUT: 'abc' });
    expect(error.message).toBe('invalid value "abc" for ETCD_ELECTION_TIMEOUT: parse error (flag --election-timeout)');
    expect(error.exitCode).toBe(1);
  });

  test('ETCD_ and RAFTKV_ disagreeing is an error', () => {
    expect(errorOf([], { ETCD_NAME: 'a', RAFTKV_NAME: 'b' }).message).toMatch(/ETCD_NAME="a" and RAFTKV_NAME="b" disagree/);
  });

  test('unknown variables with the prefix are warnings; others are not looked at', () => {
    const { warnings } = run([], { ETCD_BOGUS: '1', ETCDCTL_API: '3', PATH: '/bin' });
    expect(warnings).toEqual(['unrecognized environment variable ETCD_BOGUS=1']);
  });

  test('an unimplemented flag set by a variable is named in a warning', () => {
    expect(run([], { ETCD_ENABLE_V2: 'true' }).warnings.join('\n')).toMatch(/--enable-v2=true is not supported by raftkv yet/);
  });
});

describe('bad values give a ConfigError naming the flag and the value', () => {
  test.each<[string[], string, string | undefined, 1 | 2]>([
    [['--bogus-flag'], "flag provided but not defined: --bogus-flag (see 'raftkv --help')", 'bogus-flag', 2],
    [['--name'], 'flag needs an argument: --name', 'name', 2],
    [['---name=x'], 'bad flag syntax: ---name=x', undefined, 2],
    [['extra-arg'], "'extra-arg' is not a valid flag", undefined, 1],
    [['--listen-client-urls=foo://1.2.3.4:1'], 'invalid value "foo://1.2.3.4:1" for flag --listen-client-urls: URL scheme must be http, https, unix, or unixs: foo://1.2.3.4:1', 'listen-client-urls', 2],
    [['--listen-client-urls=http://1.2.3.4'], 'invalid value "http://1.2.3.4" for flag --listen-client-urls: URL address does not have the form "host:port": http://1.2.3.4', 'listen-client-urls', 2],
    [['--listen-peer-urls=http://1.2.3.4:1/path'], 'invalid value "http://1.2.3.4:1/path" for flag --listen-peer-urls: URL must not contain a path: http://1.2.3.4:1/path', 'listen-peer-urls', 2],
    [['--initial-cluster-state=bad'], `invalid value "bad" for flag --initial-cluster-state: must be one of 'new', 'existing'`, 'initial-cluster-state', 2],
    [['--pre-vote=maybe'], 'invalid boolean value "maybe" for --pre-vote: parse error', 'pre-vote', 2],
    [['--election-timeout=-1'], 'invalid value "-1" for flag --election-timeout: parse error', 'election-timeout', 2],
    [['--max-request-bytes=1k'], 'invalid value "1k" for flag --max-request-bytes: parse error', 'max-request-bytes', 2],
    [['--max-request-bytes=4294967296'], 'invalid value "4294967296" for flag --max-request-bytes: value out of range (at most 2147483647)', 'max-request-bytes', 2],
    [['--grpc-keepalive-min-time=5'], 'invalid value "5" for flag --grpc-keepalive-min-time: time: missing unit in duration "5"', 'grpc-keepalive-min-time', 2],
    [['--log-level=verbose'], `invalid value "verbose" for flag --log-level: must be one of 'debug', 'info', 'warn', 'error', 'panic', 'fatal'`, 'log-level', 2],
    [['--initial-cluster=n1=foo'], 'invalid value "n1=foo" for flag --initial-cluster: URL scheme must be http, https, unix, or unixs: foo', 'initial-cluster', 2],
  ])('%j', (argv, message, flag, exitCode) => {
    const error = errorOf(argv);
    expect(error.message).toBe(message);
    expect(error.flag).toBe(flag);
    expect(error.exitCode).toBe(exitCode);
  });

  test('the first bad flag is the one reported, as Go parses left to right', () => {
    expect(errorOf(['--pre-vote=maybe', '--bogus']).flag).toBe('pre-vote');
  });
});

describe("etcd's validation rules and messages", () => {
  test.each<[string[], string, string | undefined]>([
    [['--heartbeat-interval=100', '--election-timeout=400'], '--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]', 'election-timeout'],
    [['--heartbeat-interval=0'], '--heartbeat-interval must be >0 (set to 0ms)', 'heartbeat-interval'],
    [['--election-timeout=0', '--heartbeat-interval=0'], '--heartbeat-interval must be >0 (set to 0ms)', 'heartbeat-interval'],
    [['--election-timeout=60000'], '--election-timeout[60000ms] is too long, and should be set less than 50000ms', 'election-timeout'],
    [['--listen-client-urls=http://127.0.0.1:2379'], '--advertise-client-urls is required when --listen-client-urls is set explicitly', 'advertise-client-urls'],
    [['--listen-peer-urls=http://example.com:2380'], 'expected IP in URL for binding (http://example.com:2380) in --listen-peer-urls', 'listen-peer-urls'],
    [['--discovery=http://x:1', '--initial-cluster=default=http://localhost:2380'], 'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"', undefined],
    [['--experimental-enable-lease-checkpoint-persist'], 'setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint', 'experimental-enable-lease-checkpoint-persist'],
    [['--auto-compaction-mode=revision', '--auto-compaction-retention=1h'], 'invalid auto-compaction-retention "1h" for mode revision: expected a revision count', 'auto-compaction-retention'],
    [['--auto-compaction-retention=soon'], 'invalid auto-compaction-retention "soon" for mode periodic', 'auto-compaction-retention'],
    [['--auto-compaction-mode=x'], 'unknown auto-compaction-mode "x"', 'auto-compaction-mode'],
    [['--logger=x'], 'unknown logger option "x"', 'logger'],
    [['--log-outputs=x'], 'unknown log-output "x" (only supports "default", "stderr", "stdout")', 'log-outputs'],
    [['--log-outputs=stderr,stdout'], "--logger=capnslog supports only 1 value in '--log-outputs'", 'log-outputs'],
    [['--logger=zap', '--log-outputs=default,/tmp/raftkv.log'], 'multi logoutput for "default" is not supported yet', 'log-outputs'],
    [['--logger=zap', '--log-outputs=systemd/journal'], '--log-outputs=systemd/journal is not supported by raftkv', 'log-outputs'],
    [['--auth-token=oauth'], 'unknown token type "oauth" in --auth-token', 'auth-token'],
    [['--name=n1', '--initial-cluster=n2=http://localhost:2380'], `couldn't find local name "n1" in the initial cluster configuration`, 'initial-cluster'],
    [['--name=n1', '--initial-cluster=n1=http://localhost:2381'], '--initial-cluster has n1=http://localhost:2381 but missing from --initial-advertise-peer-urls=http://localhost:2380', 'initial-advertise-peer-urls'],
    [['--name=n1', '--initial-cluster=n1=http://localhost:2380,n1=http://127.0.0.1:2380'], '--initial-cluster has n1=http://127.0.0.1:2380 but missing from --initial-advertise-peer-urls=http://localhost:2380', 'initial-advertise-peer-urls'],
    [['--name=n1', '--initial-advertise-peer-urls=http://localhost:2380,http://127.0.0.1:2380', '--initial-cluster=n1=http://localhost:2380'], '--initial-advertise-peer-urls has http://127.0.0.1:2380 but missing from --initial-cluster=n1=http://localhost:2380', 'initial-advertise-peer-urls'],
    [['--name=n1', '--initial-cluster=n1=http://localhost:2380,n2=http://localhost:2380'], 'initial cluster n1=http://localhost:2380,n2=http://localhost:2380 has duplicate url', 'initial-cluster'],
    [['--initial-cluster='], 'initial cluster unset and no discovery URL found', 'initial-cluster'],
    [['--initial-cluster-state=existing', '--name=n1', '--initial-cluster=n2=http://localhost:2380'], `couldn't find local name "n1" in the initial cluster configuration`, 'initial-cluster'],
  ])('%j', (argv, message, flag) => {
    const error = errorOf(argv);
    expect(error.message).toContain(message);
    expect(error.flag).toBe(flag);
    expect(error.exitCode).toBe(1);
  });

  test('an out-of-range bcrypt cost falls back to 10 with a warning, as in etcd', () => {
    const { config, warnings } = run(['--bcrypt-cost=32']);
    expect(config.bcryptCost).toBe(10);
    expect(warnings).toContain('--bcrypt-cost=32 is outside 4..31; using the default 10 (as etcd does)');
  });

  test('zap may log to files', () => {
    expect(run(['--logger=zap', '--log-outputs=stderr,/var/log/raftkv.log']).config.logOutputs).toEqual(['stderr', '/var/log/raftkv.log']);
  });

  test('joining an existing cluster does not require the advertise URLs to match', () => {
    const c = configOf(['--initial-cluster-state=existing', '--name=n2', '--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380']);
    expect(c.initialClusterState).toBe('existing');
  });

  test('bootstrap checks are skipped when the data dir already holds a member, as in etcd', () => {
    const argv = ['--name=n1', '--initial-cluster=n2=http://localhost:2380'];
    const seen: string[] = [];
    const result = parseConfig(argv, {}, { isDataDirInitialized: (dir) => (seen.push(dir), true) });
    expect(result.kind).toBe('run');
    expect(seen).toEqual(['n1.raftkv']);
  });

  test('discovery replaces the default initial cluster; with the proxy fallback the default advertise URLs stay', () => {
    const { config, warnings } = run(['--discovery=https://discovery.example.com:443', '--listen-client-urls=http://127.0.0.1:2379']);
    expect(config.initialCluster).toEqual([]);
    expect(hrefs(config.advertiseClientUrls)).toEqual(['http://localhost:2379']);
    expect(warnings.join('\n')).toMatch(/--discovery=https:\/\/discovery.example.com:443 is not supported by raftkv yet/);
  });

  test('unix and 0.0.0.0 listen URLs need no IP check', () => {
    const c = configOf(['--listen-client-urls=unix://localhost:1,http://0.0.0.0:2379', '--advertise-client-urls=http://10.1.1.1:2379']);
    expect(c.listenClientUrls).toHaveLength(2);
  });
});

describe('unimplemented and legacy flags are accepted with a warning naming them', () => {
  test.each<[string[], RegExp]>([
    [['--enable-v2'], /--enable-v2=true is not supported by raftkv yet \(the etcd v2 API\)/],
    [['--proxy=on'], /--proxy=on is not supported by raftkv yet/],
    [['--cors=http://a.example:80'], /--cors=http:\/\/a.example:80 is not supported by raftkv yet/],
    [['--unsafe-no-fsync'], /--unsafe-no-fsync=true is not supported by raftkv yet/],
    [['--experimental-backend-bbolt-freelist-type=map'], /--experimental-backend-bbolt-freelist-type=map .*LMDB/],
    [['--peer-heartbeat-interval'], /flag "--peer-heartbeat-interval" is no longer supported by etcd; ignored/],
    [['-v'], /flag "--v" is no longer supported/],
    [['--debug'], /--debug is deprecated/],
  ])('%j', (argv, warning) => {
    const { warnings } = run(argv);
    expect(warnings.some((w) => warning.test(w))).toBe(true);
  });

  test('an unimplemented flag set to its default value changes nothing and warns about nothing', () => {
    expect(run(['--enable-v2=false', '--unsafe-no-fsync=false', '--proxy=off']).warnings).toEqual([]);
  });

  test("--logger=capnslog given by name: capnslog's text lines and etcd's deprecation warning; by default zap's JSON", () => {
    const named = run(['--logger=capnslog']);
    expect(named.config.logger).toBe('capnslog');
    expect(named.warnings).toEqual(["Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead"]);
    const byDefault = run([]);
    expect(byDefault.config.logger).toBe('zap');
    expect(run(['--logger=zap']).config.logger).toBe('zap');
    // The output rules are still those of etcd's default logger, capnslog.
    expect(() => run(['--log-outputs=stderr,stdout'])).toThrow("--logger=capnslog supports only 1 value in '--log-outputs'");
  });

  test('implemented flags give no warnings', () => {
    expect(run(['--name=n1', '--pre-vote', '--snapshot-count=5000', '--max-request-bytes=10485760']).warnings).toEqual([]);
  });
});

describe('--version and --help', () => {
  test.each([['--version'], ['-version'], ['--version=true']])('%s prints the version', (flag) => {
    const result = parseConfig([flag], {});
    expect(result.kind).toBe('version');
    if (result.kind === 'version') expect(result.text.split('\n').slice(0, 2)).toEqual(['raftkv Version: 0.1.0', 'etcd API Version: 3.4']);
  });

  test('--version=false runs', () => expect(parseConfig(['--version=false'], {}, fresh).kind).toBe('run'));

  test('--version with an unknown flag is still an unknown-flag error, as in etcd', () => {
    expect(() => parseConfig(['--version', '--bogus'], {})).toThrow(ConfigError);
  });

  test.each([['-h'], ['--help'], ['-help'], ['--name=n1', '--help', '--bogus']])('%s prints help', (...argv) => {
    const result = parseConfig(argv, {});
    expect(result.kind).toBe('help');
    if (result.kind === 'help') {
      expect(result.text).toMatch(/^Usage:/);
      expect(result.text).toContain("--initial-cluster 'default=http://localhost:2380'");
      expect(result.text).toContain("--data-dir '${name}.raftkv'");
      expect(result.text).toMatch(/--enable-v2 'false' \*/);
    }
  });
});

describe('command lines that real deployments give etcd', () => {
  test('a kubeadm static pod', () => {
    const { config, warnings } = run([
      '--advertise-client-urls=https://10.0.0.1:2379',
      '--cert-file=/etc/kubernetes/pki/etcd/server.crt',
      '--client-cert-auth=true',
      '--data-dir=/var/lib/etcd',
      '--experimental-initial-corrupt-check=true',
      '--experimental-watch-progress-notify-interval=5s',
      '--initial-advertise-peer-urls=https://10.0.0.1:2380',
      '--initial-cluster=cp1=https://10.0.0.1:2380',
      '--key-file=/etc/kubernetes/pki/etcd/server.key',
      '--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.1:2379',
      '--listen-metrics-urls=http://127.0.0.1:2381',
      '--listen-peer-urls=https://10.0.0.1:2380',
      '--name=cp1',
      '--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt',
      '--peer-client-cert-auth=true',
      '--peer-key-file=/etc/kubernetes/pki/etcd/peer.key',
      '--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
      '--snapshot-count=10000',
      '--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
    ]);
    expect(config.name).toBe('cp1');
    expect(hrefs(config.listenClientUrls)).toEqual(['https://10.0.0.1:2379', 'https://127.0.0.1:2379']);
    expect(config.experimental.watchProgressNotifyIntervalMs).toBe(5000);
    // kubeadm's TLS flags and the initial corruption check work: no warning.
    expect(warnings).toEqual([]);
    expect(config.experimental.initialCorruptCheck).toBe(true);
    expect(config.clientTls).toMatchObject({ certFile: '/etc/kubernetes/pki/etcd/server.crt', clientCertAuth: true, trustedCaFile: '/etc/kubernetes/pki/etcd/ca.crt' });
    expect(config.peerTls).toMatchObject({ certFile: '/etc/kubernetes/pki/etcd/peer.crt', clientCertAuth: true, trustedCaFile: '/etc/kubernetes/pki/etcd/ca.crt' });
  });

  test('a docker-compose member advertising a host name, configured through the environment', () => {
    const config = configOf([], {
      ETCD_NAME: 'etcd1',
      ETCD_LISTEN_CLIENT_URLS: 'http://0.0.0.0:2379',
      ETCD_ADVERTISE_CLIENT_URLS: 'http://etcd1:2379',
      ETCD_LISTEN_PEER_URLS: 'http://0.0.0.0:2380',
      ETCD_INITIAL_ADVERTISE_PEER_URLS: 'http://etcd1:2380',
      ETCD_INITIAL_CLUSTER: 'etcd1=http://etcd1:2380,etcd2=http://etcd2:2380,etcd3=http://etcd3:2380',
      ETCD_INITIAL_CLUSTER_STATE: 'new',
      ETCD_INITIAL_CLUSTER_TOKEN: 'tkn',
    });
    expect(config.initialCluster).toHaveLength(3);
    expect(hrefs(config.advertiseClientUrls)).toEqual(['http://etcd1:2379']);
  });
});
