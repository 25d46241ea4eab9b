/**
 * Every flag reaches ServerConfig, and reaches it the same way from every source:
 * `--flag=value`, `-flag value`, ETCD_FLAG, RAFTKV_FLAG and the YAML config file.
 */
import { describe, expect, test } from 'vitest';
import { flagToEnv } from './environment.js';
import { FLAG_NAMES, FLAGS, type FlagName } from './flags.js';
import { parseConfig } from './index.js';

const fresh = { isDataDirInitialized: () => false };

/** One non-default, valid setting per flag; a few flags need a partner to be valid. */
const SAMPLES: Record<Exclude<FlagName, 'version' | 'config-file'>, Partial<Record<FlagName, string>>> = {
  name: { name: 'n1' },
  'data-dir': { 'data-dir': '/data/x' },
  'wal-dir': { 'wal-dir': '/wal/x' },
  'snapshot-count': { 'snapshot-count': '5000' },
  'heartbeat-interval': { 'heartbeat-interval': '150' },
  'election-timeout': { 'election-timeout': '3000' },
  'initial-election-tick-advance': { 'initial-election-tick-advance': 'false' },
  'listen-peer-urls': { 'listen-peer-urls': 'http://127.0.0.1:12380' },
  'listen-client-urls': { 'listen-client-urls': 'http://127.0.0.1:12379', 'advertise-client-urls': 'http://127.0.0.1:12379' },
  'max-snapshots': { 'max-snapshots': '0' },
  'max-wals': { 'max-wals': '9' },
  'quota-backend-bytes': { 'quota-backend-bytes': '8589934592' },
  'backend-batch-interval': { 'backend-batch-interval': '10ms' },
  'backend-batch-limit': { 'backend-batch-limit': '100' },
  'max-txn-ops': { 'max-txn-ops': '1024' },
  'max-request-bytes': { 'max-request-bytes': '10485760' },
  'max-concurrent-streams': { 'max-concurrent-streams': '100' },
  'grpc-keepalive-min-time': { 'grpc-keepalive-min-time': '1s' },
  'grpc-keepalive-interval': { 'grpc-keepalive-interval': '30m' },
  'grpc-keepalive-timeout': { 'grpc-keepalive-timeout': '5s' },
  'initial-advertise-peer-urls': { 'initial-advertise-peer-urls': 'http://10.0.0.1:2380', 'initial-cluster': 'default=http://10.0.0.1:2380' },
  'initial-cluster': { 'initial-cluster': 'default=http://localhost:2380,b=http://10.0.0.2:2380' },
  'initial-cluster-state': { 'initial-cluster-state': 'existing' },
  'initial-cluster-token': { 'initial-cluster-token': 'tok' },
  'advertise-client-urls': { 'advertise-client-urls': 'http://10.0.0.1:2379,http://10.0.0.2:2379' },
  discovery: { discovery: 'https://discovery.example.com:443' },
  'discovery-fallback': { 'discovery-fallback': 'exit' },
  'discovery-proxy': { 'discovery-proxy': 'http://proxy:3128' },
  'discovery-srv': { 'discovery-srv': 'example.com' },
  'discovery-srv-name': { 'discovery-srv': 'example.com', 'discovery-srv-name': 'east' },
  'strict-reconfig-check': { 'strict-reconfig-check': 'false' },
  'pre-vote': { 'pre-vote': 'true' },
  'auto-compaction-retention': { 'auto-compaction-retention': '2' },
  'auto-compaction-mode': { 'auto-compaction-mode': 'revision' },
  'enable-v2': { 'enable-v2': 'true' },
  'cert-file': { 'cert-file': '/c.pem' },
  'key-file': { 'key-file': '/c.key' },
  'client-cert-auth': { 'client-cert-auth': 'true' },
  'client-crl-file': { 'client-crl-file': '/c.crl' },
  'client-cert-allowed-hostname': { 'client-cert-allowed-hostname': 'client.example' },
  'trusted-ca-file': { 'trusted-ca-file': '/ca.pem' },
  'auto-tls': { 'auto-tls': 'true' },
  'peer-cert-file': { 'peer-cert-file': '/p.pem' },
  'peer-key-file': { 'peer-key-file': '/p.key' },
  'peer-client-cert-auth': { 'peer-client-cert-auth': 'true' },
  'peer-trusted-ca-file': { 'peer-trusted-ca-file': '/pca.pem' },
  'peer-auto-tls': { 'peer-auto-tls': 'true' },
  'peer-crl-file': { 'peer-crl-file': '/p.crl' },
  'peer-cert-allowed-cn': { 'peer-cert-allowed-cn': 'peer' },
  'peer-cert-allowed-hostname': { 'peer-cert-allowed-hostname': 'peer.example' },
  'cipher-suites': { 'cipher-suites': 'TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384' },
  cors: { cors: 'http://a.example:8080' },
  'host-whitelist': { 'host-whitelist': 'a.example,b.example' },
  'experimental-peer-skip-client-san-verification': { 'experimental-peer-skip-client-san-verification': 'true' },
  'auth-token': { 'auth-token': 'jwt,pub-key=/k.pub,priv-key=/k,sign-method=RS256' },
  'bcrypt-cost': { 'bcrypt-cost': '12' },
  'auth-token-ttl': { 'auth-token-ttl': '600' },
  'enable-pprof': { 'enable-pprof': 'true' },
  metrics: { metrics: 'extensive' },
  'listen-metrics-urls': { 'listen-metrics-urls': 'http://127.0.0.1:2381' },
  'enable-grpc-gateway': { 'enable-grpc-gateway': 'false' },
  logger: { logger: 'capnslog' },
  'log-outputs': { 'log-outputs': 'stderr' },
  'log-level': { 'log-level': 'warn' },
  proxy: { proxy: 'readonly' },
  'proxy-failure-wait': { 'proxy-failure-wait': '1' },
  'proxy-refresh-interval': { 'proxy-refresh-interval': '2' },
  'proxy-dial-timeout': { 'proxy-dial-timeout': '3' },
  'proxy-write-timeout': { 'proxy-write-timeout': '4' },
  'proxy-read-timeout': { 'proxy-read-timeout': '5' },
  'experimental-initial-corrupt-check': { 'experimental-initial-corrupt-check': 'true' },
  'experimental-corrupt-check-time': { 'experimental-corrupt-check-time': '3m' },
  'experimental-enable-v2v3': { 'experimental-enable-v2v3': '/v2/' },
  'experimental-backend-bbolt-freelist-type': { 'experimental-backend-bbolt-freelist-type': 'map' },
  'experimental-enable-lease-checkpoint': { 'experimental-enable-lease-checkpoint': 'true' },
  'experimental-enable-lease-checkpoint-persist': {
    'experimental-enable-lease-checkpoint': 'true',
    'experimental-enable-lease-checkpoint-persist': 'true',
  },
  'experimental-compaction-batch-limit': { 'experimental-compaction-batch-limit': '50' },
  'experimental-watch-progress-notify-interval': { 'experimental-watch-progress-notify-interval': '1m' },
  'experimental-warning-apply-duration': { 'experimental-warning-apply-duration': '1s' },
  'force-new-cluster': { 'force-new-cluster': 'true' },
  'unsafe-no-fsync': { 'unsafe-no-fsync': 'true' },
  debug: { debug: 'true' },
  'log-package-levels': { 'log-package-levels': 'etcdserver=DEBUG' },
  'log-output': { 'log-output': 'stdout' },
};

const NESTED_TLS: Partial<Record<FlagName, string>> = {
  'cert-file': 'client-transport-security.cert-file',
  'key-file': 'client-transport-security.key-file',
  'client-cert-auth': 'client-transport-security.client-cert-auth',
  'trusted-ca-file': 'client-transport-security.trusted-ca-file',
  'auto-tls': 'client-transport-security.auto-tls',
  'peer-cert-file': 'peer-transport-security.cert-file',
  'peer-key-file': 'peer-transport-security.key-file',
  'peer-client-cert-auth': 'peer-transport-security.client-cert-auth',
  'peer-trusted-ca-file': 'peer-transport-security.trusted-ca-file',
  'peer-auto-tls': 'peer-transport-security.auto-tls',
};

/** URLs have no enumerable fields, so compare configs through JSON (URL → href). */
function normalised(argv: string[], env: Record<string, string>, file?: string): unknown {
  const result = parseConfig(argv, env, { ...fresh, readFile: () => file ?? '' });
  if (result.kind !== 'run') throw new Error(`expected run, got ${result.kind}`);
  const { configFile: _ignored, ...rest } = result.config;
  return JSON.parse(JSON.stringify(rest));
}

function yamlOf(settings: Partial<Record<FlagName, string>>): string | undefined {
  const top: string[] = [];
  const nested: Record<string, string[]> = {};
  for (const [flag, value] of Object.entries(settings) as [FlagName, string][]) {
    const path = NESTED_TLS[flag];
    if (path !== undefined) {
      const [section = '', key = ''] = path.split('.');
      (nested[section] ??= []).push(`  ${key}: ${JSON.stringify(value)}`);
    } else if (FLAGS[flag].fileKey) {
      top.push(`${flag}: ${JSON.stringify(value)}`);
    } else {
      return undefined; // etcd's file has no key for it
    }
  }
  return [...top, ...Object.entries(nested).flatMap(([section, lines]) => [`${section}:`, ...lines])].join('\n');
}

const defaults = normalised([], {});

describe.each(Object.entries(SAMPLES))('--%s', (flag, settings) => {
  const entries = Object.entries(settings);
  const expected = normalised(entries.map(([f, v]) => `--${f}=${v}`), {});

  test('changes the configuration', () => expect(expected).not.toEqual(defaults));
  // Go booleans take no separate value argument, so they use -flag=value here.
  const singleDash = entries.flatMap(([f, v]) => (FLAGS[f as FlagName].kind === 'bool' ? [`-${f}=${v}`] : [`-${f}`, v]));
  test('-flag value gives the same', () => expect(normalised(singleDash, {})).toEqual(expected));
  test('ETCD_* gives the same', () => expect(normalised([], Object.fromEntries(entries.map(([f, v]) => [flagToEnv('ETCD', f), v])))).toEqual(expected));
  test('RAFTKV_* gives the same', () => expect(normalised([], Object.fromEntries(entries.map(([f, v]) => [flagToEnv('RAFTKV', f), v])))).toEqual(expected));
  const yaml = yamlOf(settings);
  // Flags without a key in etcd's YAML (the TLS name checks, CRLs) have no file form.
  if (yaml !== undefined) {
    test('the config file gives the same', () => expect(normalised(['--config-file=/c.yml'], {}, yaml)).toEqual(expected));
  }
});

test('the sample table covers every flag', () => {
  expect(Object.keys(SAMPLES).sort()).toEqual(FLAG_NAMES.filter((n) => n !== 'version' && n !== 'config-file').sort());
});
