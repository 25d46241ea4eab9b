/**
 * The configuration a raftkv member runs with, built from parsed flag values and
 * checked with etcd's rules (embed.Config.Validate and the bootstrap checks of
 * etcdserver), with etcd's error messages.
 */
import { ConfigError } from './config-error.js';
import type { InitialClusterMember } from './go-values.js';
import { parseGoDurationMs, splitHostPort } from './go-values.js';
import type { FlagValues } from './flags.js';
import { isIP } from 'node:net';

/** TLS settings of one side (clients or peers). Empty strings mean "not set". */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  /** Require and verify a certificate from the other side. */
  clientCertAuth: boolean;
  /** Generate a self-signed certificate when no cert/key is given. */
  autoTls: boolean;
  crlFile: string;
  /** Hostname the other side's certificate must carry; '' accepts any. */
  allowedHostname: string;
}

/** Peer TLS adds a CN check and the SAN-check escape hatch. */
export interface PeerTlsConfig extends TlsConfig {
  allowedCn: string;
  skipClientSanVerification: boolean;
}

/**
 * A validated member configuration. Defaults are etcd 3.4.23's, except `dataDir`,
 * whose default is `${name}.raftkv`. Durations are milliseconds (`...Ms`); sizes are
 * bytes; URL lists are deduplicated and sorted by text, as etcd sorts them.
 */
export interface ServerConfig {
  /** Human-readable member name; the key of this member in `initialCluster`. */
  name: string;
  dataDir: string;
  /** Separate WAL directory; '' keeps the WAL under `dataDir/member/wal`. */
  walDir: string;
  snapshotCount: number;
  /** Snapshot files kept; 0 keeps all. */
  maxSnapshots: number;
  /** WAL files kept; 0 keeps all. */
  maxWals: number;
  heartbeatIntervalMs: number;
  /** At least 5x `heartbeatIntervalMs`, at most 50000. */
  electionTimeoutMs: number;
  initialElectionTickAdvance: boolean;

  listenPeerUrls: URL[];
  listenClientUrls: URL[];
  /** Extra listeners serving only /metrics and /health; usually empty. */
  listenMetricsUrls: URL[];
  initialAdvertisePeerUrls: URL[];
  advertiseClientUrls: URL[];

  /** Bootstrap membership; empty when discovery is used. */
  initialCluster: InitialClusterMember[];
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  discovery: {
    url: string;
    fallback: 'proxy' | 'exit';
    proxy: string;
    srv: string;
    srvName: string;
  };
  strictReconfigCheck: boolean;
  preVote: boolean;

  /** Request limits. */
  maxRequestBytes: number;
  maxTxnOps: number;
  maxConcurrentStreams: number;
  /** Backend size that raises the NOSPACE alarm; 0 = default (2 GiB), negative = none. */
  quotaBackendBytes: number;
  backendBatchIntervalMs: number;
  backendBatchLimit: number;

  grpcKeepaliveMinTimeMs: number;
  grpcKeepaliveIntervalMs: number;
  grpcKeepaliveTimeoutMs: number;

  autoCompactionMode: 'periodic' | 'revision';
  /**
   * 0 disables auto compaction. In 'periodic' mode: the retention window in
   * milliseconds (etcd reads a bare number as hours). In 'revision' mode: the number
   * of revisions to keep.
   */
  autoCompactionRetention: number;

  clientTls: TlsConfig;
  peerTls: PeerTlsConfig;
  cipherSuites: string[];
  /** Allowed CORS origins; ['*'] allows all. */
  cors: string[];
  /** Allowed Host headers on plain-HTTP requests; ['*'] allows all. */
  hostWhitelist: string[];

  /** 'simple' or 'jwt,pub-key=...,priv-key=...,sign-method=...'. */
  authToken: string;
  bcryptCost: number;
  authTokenTtlSeconds: number;

  enablePprof: boolean;
  metrics: 'basic' | 'extensive';
  enableGrpcGateway: boolean;

  /**
   * Which logger writes the lines: capnslog's text only when `--logger=capnslog` is given by
   * name, zap's JSON otherwise (etcd 3.4 defaults to capnslog). `--log-outputs` still follows
   * the rules of the flag's value, as etcd's do.
   */
  logger: 'capnslog' | 'zap';
  logOutputs: string[];
  /** `--debug` (deprecated) turns this into 'debug'. */
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  logPackageLevels: string;

  enableV2: boolean;
  proxy: {
    mode: 'off' | 'readonly' | 'on';
    failureWaitMs: number;
    refreshIntervalMs: number;
    dialTimeoutMs: number;
    writeTimeoutMs: number;
    readTimeoutMs: number;
  };

  experimental: {
    initialCorruptCheck: boolean;
    corruptCheckTimeMs: number;
    enableV2V3: string;
    backendFreelistType: string;
    enableLeaseCheckpoint: boolean;
    enableLeaseCheckpointPersist: boolean;
    compactionBatchLimit: number;
    watchProgressNotifyIntervalMs: number;
    warningApplyDurationMs: number;
  };

  forceNewCluster: boolean;
  unsafeNoFsync: boolean;

  /** The config file the settings came from, or '' when from flags/environment. */
  configFile: string;
}

const MAX_ELECTION_MS = 50_000;
const DEFAULT_NAME = 'default';
const DEFAULT_INITIAL_CLUSTER_TEXT = 'default=http://localhost:2380';

/** How the values were given; etcd applies a few rules only to flags/environment. */
export interface BuildContext {
  readonly source: 'command-line' | 'config-file';
  readonly configFile: string;
  /** Flags given explicitly (command line, environment, or config file). */
  readonly explicit: ReadonlySet<string>;
  /** Raw text of `--initial-cluster` as given or defaulted. */
  readonly initialClusterText: string;
  /** True when the data dir already holds a member: bootstrap checks are skipped. */
  readonly isDataDirInitialized: (dataDir: string) => boolean;
  /** Receives the warnings of values etcd corrects instead of refusing. */
  readonly warn: (message: string) => void;
}

function invalid(message: string, flag?: string): ConfigError {
  return new ConfigError(message, flag === undefined ? { code: 'invalid-config' } : { code: 'invalid-config', flag });
}

/** Builds and validates; throws {@link ConfigError} with etcd's messages. */
export function buildServerConfig(v: FlagValues, ctx: BuildContext): ServerConfig {
  const discoveryUsed = v.discovery !== '' || v['discovery-srv'] !== '' || (ctx.source === 'command-line' && v['discovery-srv-name'] !== '');
  const mayBeProxy = v.proxy !== 'off' || (v.discovery !== '' && v['discovery-fallback'] === 'proxy');

  let advertiseClientUrls = v['advertise-client-urls'];
  // etcd drops the default advertise URLs when listen URLs are set explicitly on the
  // command line, so a member never advertises localhost by accident.
  if (ctx.source === 'command-line' && ctx.explicit.has('listen-client-urls') && !ctx.explicit.has('advertise-client-urls') && !mayBeProxy) {
    advertiseClientUrls = [];
  }

  let initialCluster = v['initial-cluster'];
  let initialClusterText = ctx.initialClusterText;
  if (discoveryUsed && (ctx.source === 'command-line' ? !ctx.explicit.has('initial-cluster') : initialClusterText === DEFAULT_INITIAL_CLUSTER_TEXT)) {
    initialCluster = [];
    initialClusterText = '';
  }
  // etcd rewrites the untouched default cluster for a renamed member
  // (UpdateDefaultClusterFromName).
  if (v.name !== DEFAULT_NAME && initialClusterText === DEFAULT_INITIAL_CLUSTER_TEXT && v['initial-advertise-peer-urls'].length > 0) {
    initialCluster = [{ name: v.name === '' ? DEFAULT_NAME : v.name, peerUrls: v['initial-advertise-peer-urls'] }];
  }

  const debug = v.debug && !ctx.explicit.has('log-level');
  const compactionMode = v['auto-compaction-mode'] === '' ? 'periodic' : v['auto-compaction-mode'];
  if (compactionMode !== 'periodic' && compactionMode !== 'revision') {
    throw invalid(`unknown auto-compaction-mode ${JSON.stringify(compactionMode)}`, 'auto-compaction-mode');
  }
  const logger = v.logger;
  if (logger !== 'capnslog' && logger !== 'zap') throw invalid(`unknown logger option ${JSON.stringify(logger)}`, 'logger');
  let bcryptCost = v['bcrypt-cost'];
  if (bcryptCost < 4 || bcryptCost > 31) {
    ctx.warn(`--bcrypt-cost=${bcryptCost} is outside 4..31; using the default 10 (as etcd does)`);
    bcryptCost = 10;
  }

  const config: ServerConfig = {
    name: v.name,
    dataDir: v['data-dir'] === '' ? `${v.name}.raftkv` : v['data-dir'],
    walDir: v['wal-dir'],
    snapshotCount: v['snapshot-count'],
    maxSnapshots: v['max-snapshots'],
    maxWals: v['max-wals'],
    heartbeatIntervalMs: v['heartbeat-interval'],
    electionTimeoutMs: v['election-timeout'],
    initialElectionTickAdvance: v['initial-election-tick-advance'],
    listenPeerUrls: v['listen-peer-urls'],
    listenClientUrls: v['listen-client-urls'],
    listenMetricsUrls: v['listen-metrics-urls'],
    initialAdvertisePeerUrls: v['initial-advertise-peer-urls'],
    advertiseClientUrls,
    initialCluster,
    initialClusterState: v['initial-cluster-state'],
    initialClusterToken: v['initial-cluster-token'],
    discovery: {
      url: v.discovery,
      fallback: v['discovery-fallback'],
      proxy: v['discovery-proxy'],
      srv: v['discovery-srv'],
      srvName: v['discovery-srv-name'],
    },
    strictReconfigCheck: v['strict-reconfig-check'],
    preVote: v['pre-vote'],
    maxRequestBytes: v['max-request-bytes'],
    maxTxnOps: v['max-txn-ops'],
    maxConcurrentStreams: v['max-concurrent-streams'],
    quotaBackendBytes: v['quota-backend-bytes'],
    backendBatchIntervalMs: v['backend-batch-interval'],
    backendBatchLimit: v['backend-batch-limit'],
    grpcKeepaliveMinTimeMs: v['grpc-keepalive-min-time'],
    grpcKeepaliveIntervalMs: v['grpc-keepalive-interval'],
    grpcKeepaliveTimeoutMs: v['grpc-keepalive-timeout'],
    autoCompactionMode: compactionMode,
    autoCompactionRetention: parseRetention(compactionMode, v['auto-compaction-retention']),
    clientTls: {
      certFile: v['cert-file'],
      keyFile: v['key-file'],
      trustedCaFile: v['trusted-ca-file'],
      clientCertAuth: v['client-cert-auth'],
      autoTls: v['auto-tls'],
      crlFile: v['client-crl-file'],
      allowedHostname: v['client-cert-allowed-hostname'],
    },
    peerTls: {
      certFile: v['peer-cert-file'],
      keyFile: v['peer-key-file'],
      trustedCaFile: v['peer-trusted-ca-file'],
      clientCertAuth: v['peer-client-cert-auth'],
      autoTls: v['peer-auto-tls'],
      crlFile: v['peer-crl-file'],
      allowedHostname: v['peer-cert-allowed-hostname'],
      allowedCn: v['peer-cert-allowed-cn'],
      skipClientSanVerification: v['experimental-peer-skip-client-san-verification'],
    },
    cipherSuites: v['cipher-suites'],
    cors: v.cors,
    hostWhitelist: v['host-whitelist'].length === 0 ? ['*'] : v['host-whitelist'],
    authToken: v['auth-token'],
    bcryptCost,
    authTokenTtlSeconds: v['auth-token-ttl'],
    enablePprof: v['enable-pprof'],
    metrics: v.metrics,
    enableGrpcGateway: v['enable-grpc-gateway'],
    logger: logger === 'capnslog' && ctx.explicit.has('logger') ? 'capnslog' : 'zap',
    logOutputs: ctx.explicit.has('log-outputs') || !ctx.explicit.has('log-output') ? v['log-outputs'] : v['log-output'],
    logLevel: debug ? 'debug' : v['log-level'],
    logPackageLevels: v['log-package-levels'],
    enableV2: v['enable-v2'],
    proxy: {
      mode: v.proxy,
      failureWaitMs: v['proxy-failure-wait'],
      refreshIntervalMs: v['proxy-refresh-interval'],
      dialTimeoutMs: v['proxy-dial-timeout'],
      writeTimeoutMs: v['proxy-write-timeout'],
      readTimeoutMs: v['proxy-read-timeout'],
    },
    experimental: {
      initialCorruptCheck: v['experimental-initial-corrupt-check'],
      corruptCheckTimeMs: v['experimental-corrupt-check-time'],
      enableV2V3: v['experimental-enable-v2v3'],
      backendFreelistType: v['experimental-backend-bbolt-freelist-type'],
      enableLeaseCheckpoint: v['experimental-enable-lease-checkpoint'],
      enableLeaseCheckpointPersist: v['experimental-enable-lease-checkpoint-persist'],
      compactionBatchLimit: v['experimental-compaction-batch-limit'],
      watchProgressNotifyIntervalMs: v['experimental-watch-progress-notify-interval'],
      warningApplyDurationMs: v['experimental-warning-apply-duration'],
    },
    forceNewCluster: v['force-new-cluster'],
    unsafeNoFsync: v['unsafe-no-fsync'],
    configFile: ctx.configFile,
  };

  validate(config, v, ctx, mayBeProxy);
  if (!ctx.isDataDirInitialized(config.dataDir)) verifyBootstrap(config);
  return config;
}

/** etcd's `embed.Config.Validate`, in etcd's order, with etcd's messages. */
function validate(c: ServerConfig, v: FlagValues, ctx: BuildContext, mayBeProxy: boolean): void {
  if (ctx.explicit.has('log-output') && ctx.explicit.has('log-outputs') && v['log-output'].join(',') !== v['log-outputs'].join(',')) {
    throw invalid(`'--log-output=${JSON.stringify(v['log-output'])}' and '--log-outputs=${JSON.stringify(v['log-outputs'])}' are incompatible; only set --log-outputs`, 'log-output');
  }
  checkLogOutputs(v.logger, c.logOutputs);
  checkBindUrls('listen-peer-urls', c.listenPeerUrls);
  checkBindUrls('listen-client-urls', c.listenClientUrls);
  checkBindUrls('listen-metrics-urls', c.listenMetricsUrls);
  checkHostUrls('initial-advertise-peer-urls', c.initialAdvertisePeerUrls);
  checkHostUrls('advertise-client-urls', c.advertiseClientUrls);

  const bootstrapWays = [c.discovery.url !== '', c.initialCluster.length > 0, c.discovery.srv !== ''].filter(Boolean).length;
  if (bootstrapWays > 1) {
    throw invalid('multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"');
  }
  if (c.heartbeatIntervalMs <= 0) throw invalid(`--heartbeat-interval must be >0 (set to ${c.heartbeatIntervalMs}ms)`, 'heartbeat-interval');
  if (c.electionTimeoutMs <= 0) throw invalid(`--election-timeout must be >0 (set to ${c.electionTimeoutMs}ms)`, 'election-timeout');
  if (5 * c.heartbeatIntervalMs > c.electionTimeoutMs) {
    throw invalid(
      `--election-timeout[${c.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${c.heartbeatIntervalMs}ms]`,
      'election-timeout',
    );
  }
  if (c.electionTimeoutMs > MAX_ELECTION_MS) {
    throw invalid(`--election-timeout[${c.electionTimeoutMs}ms] is too long, and should be set less than ${MAX_ELECTION_MS}ms`, 'election-timeout');
  }
  if (c.listenClientUrls.length > 0 && c.advertiseClientUrls.length === 0 && !mayBeProxy) {
    throw invalid(
      '--advertise-client-urls is required when --listen-client-urls is set explicitly (a member listening on specific addresses must advertise URLs its clients can reach)',
      'advertise-client-urls',
    );
  }
  if (c.experimental.enableLeaseCheckpointPersist && !c.experimental.enableLeaseCheckpoint) {
    throw invalid('setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint', 'experimental-enable-lease-checkpoint-persist');
  }
  const tokenType = c.authToken.split(',')[0];
  if (tokenType !== 'simple' && tokenType !== 'jwt') {
    throw invalid(`unknown token type "${tokenType ?? ''}" in --auth-token (expected 'simple' or 'jwt,...')`, 'auth-token');
  }
  if (c.name === '') throw invalid('--name must not be empty', 'name');
}

/**
 * etcd's capnslog logger writes to one standard stream; zap also takes files, several at once.
 * (Unless capnslog is named, raftkv writes zap's JSON lines, but keeps the rules of the flag's value.)
 */
function checkLogOutputs(logger: string, logOutputs: readonly string[]): void {
  if (logger === 'zap') {
    if (logOutputs.length > 1 && logOutputs.includes('default')) {
      throw invalid('multi logoutput for "default" is not supported yet', 'log-outputs');
    }
    if (logOutputs.includes('systemd/journal')) {
      throw invalid('--log-outputs=systemd/journal is not supported by raftkv: log to stderr, which journald records under systemd', 'log-outputs');
    }
    return;
  }
  if (logOutputs.length !== 1) {
    throw invalid(`--logger=capnslog supports only 1 value in '--log-outputs', got ${JSON.stringify(logOutputs)}`, 'log-outputs');
  }
  const output = logOutputs[0] ?? '';
  if (!['default', 'stderr', 'stdout'].includes(output)) {
    throw invalid(`unknown log-output ${JSON.stringify(output)} (only supports "default", "stderr", "stdout")`, 'log-outputs');
  }
}

/** Listen URLs must bind an IP address or localhost (unix sockets excepted). */
function checkBindUrls(flag: string, urls: readonly URL[]): void {
  for (const url of urls) {
    const scheme = url.protocol.slice(0, -1);
    if (scheme === 'unix' || scheme === 'unixs') continue;
    const { host } = splitHostPort(authorityOf(url));
    if (host === 'localhost') continue;
    if (isIP(host) === 0) throw invalid(`expected IP in URL for binding (${displayUrl(url)}) in --${flag}`, flag);
  }
}

/** Advertised URLs must name a host. */
function checkHostUrls(flag: string, urls: readonly URL[]): void {
  for (const url of urls) {
    const { host } = splitHostPort(authorityOf(url));
    if (host === '') {
      throw invalid(`--${flag} ${JSON.stringify(urls.map(displayUrl).join(','))} must be "host:port" (unexpected empty host (${displayUrl(url)}))`, flag);
    }
  }
}

/**
 * The `host:port` text of a URL as the user wrote it. WHATWG URLs drop a default port
 * (http :80) and an empty host, so both are put back here.
 */
function authorityOf(url: URL): string {
  const defaultPort = url.protocol === 'http:' ? '80' : url.protocol === 'https:' ? '443' : '';
  const hostname = url.hostname;
  return `${hostname}:${url.port === '' ? defaultPort : url.port}`;
}

/** URL text without the trailing slash WHATWG adds, as etcd prints URLs. */
export function displayUrl(url: URL): string {
  return url.href.replace(/\/$/, '');
}

function parseRetention(mode: 'periodic' | 'revision', text: string): number {
  const bad = (why: string) => invalid(`invalid auto-compaction-retention ${JSON.stringify(text)} for mode ${mode}: ${why}`, 'auto-compaction-retention');
  if (mode === 'revision') {
    if (!/^[0-9]+$/.test(text)) throw bad('expected a revision count');
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw bad('too large');
    return n;
  }
  // A bare number is hours (fractions allowed), anything else is a Go duration.
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    const ms = Number(text) * 3_600_000;
    if (!Number.isSafeInteger(Math.round(ms))) throw bad('too large');
    return ms;
  }
  try {
    return parseGoDurationMs(text);
  } catch {
    throw bad('expected hours or a duration such as "30m"');
  }
}

/**
 * The checks etcd makes when it bootstraps a fresh member (etcdserver's
 * VerifyBootstrap / VerifyJoinExisting): this member is in the initial cluster, its
 * advertised peer URLs are the ones listed for it, no URL is listed twice.
 */
export function verifyBootstrap(c: ServerConfig): void {
  const usesDiscovery = c.discovery.url !== '' || c.discovery.srv !== '';
  if (usesDiscovery) {
    if (c.initialClusterState === 'existing' && c.discovery.url !== '') {
      throw invalid('discovery URL should not be set when joining existing initial cluster', 'discovery');
    }
    return;
  }
  if (c.initialCluster.length === 0) throw invalid('initial cluster unset and no discovery URL found', 'initial-cluster');
  const self = c.initialCluster.find((m) => m.name === c.name);
  if (self === undefined) {
    throw invalid(`couldn't find local name ${JSON.stringify(c.name)} in the initial cluster configuration`, 'initial-cluster');
  }
  const clusterText = c.initialCluster
    .flatMap((m) => m.peerUrls.map((u) => `${m.name}=${displayUrl(u)}`))
    .sort()
    .join(',');
  const seen = new Set<string>();
  let duplicate = false;
  for (const member of c.initialCluster) {
    for (const url of member.peerUrls) {
      if (seen.has(url.href)) duplicate = true;
      seen.add(url.href);
    }
  }
  if (c.initialClusterState === 'existing') {
    if (duplicate) throw invalid(`initial cluster ${clusterText} has duplicate url`, 'initial-cluster');
    return;
  }
  // etcd resolves host names before comparing; raftkv compares the URL text.
  const listed = self.peerUrls.map(displayUrl);
  const advertised = c.initialAdvertisePeerUrls.map(displayUrl);
  const missingFromAdvertised = listed.filter((u) => !advertised.includes(u));
  if (missingFromAdvertised.length > 0) {
    throw invalid(
      `--initial-cluster has ${missingFromAdvertised.map((u) => `${c.name}=${u}`).join(',')} but missing from --initial-advertise-peer-urls=${advertised.join(',')}`,
      'initial-advertise-peer-urls',
    );
  }
  const missingFromCluster = advertised.filter((u) => !listed.includes(u));
  if (missingFromCluster.length > 0) {
    throw invalid(
      `--initial-advertise-peer-urls has ${missingFromCluster.join(',')} but missing from --initial-cluster=${listed.map((u) => `${c.name}=${u}`).join(',')}`,
      'initial-advertise-peer-urls',
    );
  }
  if (duplicate) throw invalid(`initial cluster ${clusterText} has duplicate url`, 'initial-cluster');
}
