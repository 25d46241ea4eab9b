import { startAutoCompactor } from './alarm/compactor.js';
import { QuotaGuard } from './alarm/quota.js';
import { IdGenerator } from './cluster/id-generator.js';
import { formatUrl } from './cluster/member-id.js';
import { MemberRpcClient } from './cluster/member-rpc.js';
import { goDuration } from './config/go-values.js';
import type { ServerConfig } from './config/index.js';
import { openFrontDoor, resolveLimits } from './front-door/index.js';
import { Gateway, goServeMux } from './gateway/index.js';
import { alarmName } from './alarm/alarm-store.js';
import { onUnexpectedError } from './grpc/unary.js';
import { clientHttpHandler, HealthChecker, MemberMetrics, metricsUrlHandler } from './metrics/index.js';
import type { Logger } from './logger.js';
import { createDataDirs, dataDirLayout, lockDataDirs } from './member/data-dir.js';
import { resolveIdentity } from './member/identity.js';
import { openPeerSide } from './member/peers.js';
import { checkInitialHashKV, startCorruptionMonitor } from './member/corruption-check.js';
import { publishMember } from './member/publish.js';
import { openRaftNode } from './member/raft-node.js';
import { buildServices, clientConnectionLimits, SHUTDOWN_GRACE_MS } from './member/services.js';
import { ShutdownStack } from './member/shutdown.js';
import { buildStateMachine } from './member/state-machine.js';
import { adjustTicksAtBoot } from './member/election-advance.js';
import { openStorage } from './member/storage.js';
import { StartupTimeline } from './member/startup-timeline.js';
import type { RaftLog } from '@raftkv/raft-log';
import { etcdserverpb } from '@raftkv/api';
import { openTransportSecurity } from './security/transport-security.js';
import { ServerCore } from './server-core.js';
import { openTokenProvider } from './auth/tokens.js';

export { SHUTDOWN_GRACE_MS };

/** Room in a gateway request's JSON beyond the message itself (field names, quoting). */
const GATEWAY_OVERHEAD_BYTES = 512 * 1024;

/**
 * A shutdown that has not finished by then (a stuck close) gives up: the WAL already holds
 * everything acknowledged. Well past the grace given to open streams.
 */
export const SHUTDOWN_DEADLINE_MS = SHUTDOWN_GRACE_MS + 8_000;

export interface RunningServer {
  readonly core: ServerCore;
  /** host:port of each client listener that is bound. */
  readonly clientEndpoints: string[];
  /** Stops the member, newest part first; rejects if it does not finish by {@link SHUTDOWN_DEADLINE_MS}. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** This member was removed from the cluster (etcd stops such a member). Default: close the server. */
  onRemoved?(): void;
  /** Told each start-up phase as it is reached (see member/startup-timeline.ts). */
  timeline?: StartupTimeline;
}

/**
 * Starts a raftkv member, in the order of its life: lock the data dir → resolve who it is →
 * open storage (backend, membership) → build the state machine (lessor, applier) → open the
 * peer side → open the raft node over the WAL → build the gRPC services → publish itself
 * through the log → open the front door to clients. Each part is closed in reverse order by
 * `close()`, or when a later step fails. Resolves once clients can connect (which, as in
 * etcd, needs a leader).
 */
export async function startServer(config: ServerConfig, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  options = { ...options, timeline: options.timeline ?? new StartupTimeline(log) };
  const parts = new ShutdownStack((step, err) => log.error('shutdown step failed', { step, error: String(err) }));
  const close = (): Promise<void> => parts.close(SHUTDOWN_DEADLINE_MS);
  try {
    return await start(config, log, options, parts, close);
  } catch (err) {
    await close().catch((closeErr: unknown) => log.error('closing a half-started member failed', { error: String(closeErr) }));
    throw err;
  }
}

async function start(
  config: ServerConfig, log: Logger, options: StartOptions, parts: ShutdownStack, close: () => Promise<void>,
): Promise<RunningServer> {
  onUnexpectedError((err) => log.error('unexpected error answering a request', { error: err instanceof Error ? err.stack : String(err) }));
  // Parts built later that earlier ones call back into.
  let core: ServerCore | undefined;
  let raft: RaftLog | undefined;
  let removed = false;
  const onRemoved = (): void => {
    if (removed) return;
    removed = true;
    log.warn('this member was removed from the cluster; stopping');
    setImmediate(() => (options.onRemoved ? options.onRemoved() : void close()));
  };
  // Only local I/O failures get here (WAL, backend commit); a stopping member ignores them.
  const fatal = (err: unknown): void => {
    if (parts.isClosing) return;
    log.error('fatal error, stopping', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  };

  // 1. The data dir, locked before anything in it is created or opened.
  const locks = await lockDataDirs(config);
  parts.add('data dir locks', () => locks.release());
  const layout = dataDirLayout(config);
  await createDataDirs(layout);
  const timeline = options.timeline!;
  timeline.mark('data dir locked');

  // 2. Who this member is: from its WAL, the flags, or (joining) the cluster's members.
  // TLS: certificates checked (and --auto-tls ones made in the data dir) before any listener opens.
  const security = await openTransportSecurity(config, log);
  let knownClusterId = 0n;
  const memberRpc = new MemberRpcClient(() => core?.clusterId ?? knownClusterId, security.peer?.channelCredentials);
  parts.add('member RPC client', () => memberRpc.close());
  const identity = await resolveIdentity(layout.walDir, config, memberRpc, log);
  const { memberId, clusterId } = identity;
  knownClusterId = clusterId;
  timeline.mark('identity resolved');

  // Metrics first: the parts opened next report through its hooks.
  const metrics = new MemberMetrics({
    extensive: config.metrics === 'extensive', quotaBackendBytes: config.quotaBackendBytes,
    warningApplyDurationMs: config.experimental.warningApplyDurationMs, heartbeatIntervalMs: config.heartbeatIntervalMs,
  });

  // 3. Storage: the MVCC backend and the membership it keeps.
  const { store, membership } = await openStorage(layout, identity, log, metrics.backendCommitted, () => timeline.mark('backend opened'));
  timeline.mark('key index rebuilt', { keys: store.keyCount, revision: store.currentRevision });
  parts.add('backend', () => store.close());
  store.onHash = metrics.hashed;
  store.onCompactionStep = metrics.compactionStep;
  store.onCompaction = metrics.compacted;
  // etcd's --experimental-initial-corrupt-check: a restarting member (its WAL existed: no voters
  // or member list from the flags) compares HashKV with its peers before serving anyone.
  if (config.experimental.initialCorruptCheck && !identity.voters && !identity.initialMembers) {
    await checkInitialHashKV({ store, memberId, members: membership.list(), rpc: memberRpc, timeoutMs: 5000 + 2 * config.electionTimeoutMs, log });
  }

  // 4. The state machine committed entries are applied to.
  const { lessor, applier } = buildStateMachine(store, membership, config, log, fatal);
  lessor.onGrant = metrics.leaseGranted;
  // etcd's warnOfExpensiveRequest: a slow apply is counted and logged (the log line names the request's kind).
  applier.onApplyFinished = (started, kind) => {
    if (!metrics.applyFinished(started)) return;
    const took = Number(process.hrtime.bigint() - started) / 1e6;
    log.warn('apply request took too long', { took: goDuration(took), 'expected-duration': goDuration(config.experimental.warningApplyDurationMs), request: kind });
  };
  parts.add('applier', () => applier.flushed());

  // 5. The peer side: transport and peer listener (bound now; its connections served once raft exists).
  const peers = await openPeerSide({
    config, memberId, clusterId, membership, snapDir: layout.snapDir, log, raft: () => raft, core: () => core, onRemoved, metrics,
    ...(security.peer ? { security: security.peer } : {}),
  });
  parts.add('peer side', () => peers.close());
  timeline.mark('peers listening');

  // 6. The raft node over the WAL.
  raft = await openRaftNode({
    config, identity, layout, store, lessor, membership, applier, peers, log, core: () => core, onRemoved, fatal, metrics, timeline,
  });
  timeline.mark('wal replayed', { lastIndex: raft.status().lastIndex });
  parts.add('raft node', () => raft!.close());
  peers.startServing();
  log.info('raft log opened', { member: memberId.toString(16), cluster: clusterId.toString(16), peers: peers.endpoints });
  // The first election soon after boot rather than a whole election timeout later (etcd's adjustTicks).
  const stopTickAdvance = adjustTicksAtBoot({
    voters: raft.status().confState.voters.length,
    activePeers: () => [...peers.transport.stats().peers.values()].filter((p) => p.active).length,
    advanceTicks: (n) => {
      log.info('fast-forwarding election ticks', { 'forward-ticks': n, 'forward-duration-ms': n * config.heartbeatIntervalMs });
      raft!.advanceTicks(n);
    },
    electionTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
    enabled: config.initialElectionTickAdvance,
  });
  parts.add('election tick advance', stopTickAdvance);

  // 7. The services clients call.
  const quota = new QuotaGuard({
    quotaFlagBytes: config.quotaBackendBytes,
    sizeBytes: () => store.dbSizeInUseBytes(),
    compactableRevisions: () => store.currentRevision - store.compactedRevision,
    alarms: applier.alarms,
    memberId,
    raiseNoSpace: () => core!.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: memberId, alarm: etcdserverpb.AlarmType.NOSPACE }),
    log,
  });
  // --auth-token: refused at start if malformed, as etcd (which fails to create its token provider).
  const tokens = openTokenProvider({
    spec: config.authToken, simpleTtlSeconds: config.authTokenTtlSeconds, waitApplied: (index) => core!.waitApplied(index),
  });
  core = new ServerCore({
    quota, tokens,
    config, store, lessor, log: raft, applier, ids: new IdGenerator(memberId, Date.now()), membership,
    transport: peers.transport, memberRpc, clusterId, proposals: metrics,
    self: {
      id: memberId,
      name: config.name,
      peerUrls: config.initialAdvertisePeerUrls.map(formatUrl),
      clientUrls: config.advertiseClientUrls.map(formatUrl),
    },
  });
  // etcd's --auto-compaction-*: the leader proposes compactions as a client would.
  const compactor = startAutoCompactor(config.autoCompactionMode, config.autoCompactionRetention, {
    currentRevision: () => store.currentRevision,
    isLeader: () => raft!.isLeader,
    compact: (revision) => core!.compact({ revision: BigInt(revision), physical: false }),
  }, log, autoCompactionTestOptions());
  if (compactor) parts.add('auto compactor', () => compactor.stop());
  // etcd's --experimental-corrupt-check-time: the leader compares HashKV with every peer.
  const corruptionMonitor = startCorruptionMonitor({
    intervalMs: config.experimental.corruptCheckTimeMs, store, memberId, members: () => membership.list(), isLeader: () => raft!.isLeader,
    rpc: memberRpc, timeoutMs: core.requestTimeoutMs, linearizableRead: () => core!.linearizableRead(), log,
    raiseCorrupt: () => core!.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: 0n, alarm: etcdserverpb.AlarmType.CORRUPT }),
  });
  if (corruptionMonitor) parts.add('corruption monitor', () => corruptionMonitor.stop());
  const doorLimits = resolveLimits(clientConnectionLimits(config));
  const services = buildServices(core, lessor, config, doorLimits, log, metrics);
  const readyCore = core;
  metrics.bind({
    memberId, raft, store, transport: peers.transport, isLearner: () => readyCore.isLearner, lessor, watchStats: services.watchStats,
    authRevision: () => readyCore.auth.revision,
  });
  const health = new HealthChecker({
    leaderId: () => readyCore.leaderId,
    // etcd's check is a QGET through raft; a ReadIndex proves the same without a log entry (see metrics/health.ts).
    confirmQuorumRead: () => raft!.readIndex(Buffer.from(`health-${readyCore.nextRequestId()}`)),
    activeAlarms: () => readyCore.alarms.get().map((a) => alarmName(a.alarm)),
  }, log, (ok) => metrics.healthChecked(ok));
  const monitoring = { health, metrics };
  parts.add('services', () => services.close());
  // etcd's --enable-grpc-gateway: /v3/* on the client URLs, a loopback client of the gRPC server.
  // A JSON value may be base64 (4/3) of a message up to the gRPC limit, plus field names.
  const gateway = config.enableGrpcGateway
    ? new Gateway({
      grpcServer: services.grpcServer, maxJsonValueBytes: 2 * (config.maxRequestBytes + GATEWAY_OVERHEAD_BYTES),
      refuseClientCommonNames: () => config.clientTls.clientCertAuth && readyCore.auth.isEnabled,
    })
    : undefined;
  if (gateway) parts.add('gateway', () => gateway.close());
  const clientHttp = clientHttpHandler(monitoring);
  const monitoringHttp = {
    client: gateway ? gateway.handler(clientHttp) : goServeMux(clientHttp), metrics: metricsUrlHandler(monitoring),
    ...(gateway ? { clientUpgrade: gateway.upgradeHandler() } : {}),
  };

  timeline.mark('services built');
  // 8. Serve clients only once this member's attributes are committed (as etcd).
  await publishMember(core, () => parts.isClosing, log);
  timeline.mark('published');

  // 9. The front door.
  // gRPC and HTTP on every client URL, HTTP on the metrics URLs (see front-door/).
  const frontDoor = await openFrontDoor({ grpcServer: services.grpcServer, clientUrls: config.listenClientUrls, metricsUrls: config.listenMetricsUrls, limits: doorLimits, http: monitoringHttp, ...(security.client ? { tls: security.client } : {}) });
  parts.add('front door', () => frontDoor.close());
  const clientEndpoints = frontDoor.endpoints;
  log.info('ready to serve client requests', { endpoints: clientEndpoints, member: memberId, cluster: clusterId });
  timeline.mark('ready');
  return { core, clientEndpoints, close };
}

/** A test knob: etcd 3.4's revision compactor looks every 5 minutes, with no flag to change it. */
function autoCompactionTestOptions(): { revisionIntervalMs?: number } {
  const ms = Number(process.env['RAFTKV_AUTO_COMPACTION_REVISION_INTERVAL_MS']);
  return ms > 0 ? { revisionIntervalMs: ms } : {};
}
