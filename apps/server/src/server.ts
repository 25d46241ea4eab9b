import { Server, ServerCredentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { Lessor, minLeaseTtlSeconds } from '@raftkv/lease';
import { MvccStore } from '@raftkv/mvcc';
import { Wal } from '@raftkv/wal';
import { WatchableStore } from '@raftkv/watch';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Applier, DEFAULT_COMMIT_POLICY } from './apply/applier.js';
import { computeClusterId, computeMemberId, formatUrl } from './cluster/member-id.js';
import type { ServerConfig } from './config/index.js';
import { IdGenerator } from './cluster/id-generator.js';
import { clusterService } from './grpc/cluster-service.js';
import { leaseService } from './grpc/lease-service.js';
import { BackendLeaseStore } from './lease/backend-lease-store.js';
import { startLeaseExpiry } from './lease/lease-expiry.js';
import { kvService } from './grpc/kv-service.js';
import { maintenanceService } from './grpc/maintenance-service.js';
import { watchService, WatchServiceWithEncodedResponses } from './grpc/watch-service.js';
import type { Logger } from './logger.js';
import { SingleMemberLog } from './log/single-member-log.js';
import { WalSnapshotter } from './log/wal-snapshotter.js';
import { ServerCore } from './server-core.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much before gRPC itself refuses it. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export interface RunningServer {
  readonly core: ServerCore;
  /** host:port of each client listener that is bound. */
  readonly clientEndpoints: string[];
  close(): Promise<void>;
}

function encodeIds(memberId: bigint, clusterId: bigint): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(memberId, 0);
  b.writeBigUInt64BE(clusterId, 8);
  return b;
}

function decodeIds(meta: Uint8Array): { memberId: bigint; clusterId: bigint } {
  if (meta.byteLength !== 16) throw new Error(`WAL metadata has ${meta.byteLength} bytes, want 16`);
  const b = Buffer.from(meta.buffer, meta.byteOffset, meta.byteLength);
  return { memberId: b.readBigUInt64BE(0), clusterId: b.readBigUInt64BE(8) };
}

function grpcAddress(url: URL): string {
  if (url.protocol === 'unix:' || url.protocol === 'unixs:') return `unix:${url.host}${url.pathname}`;
  return url.host;
}

/** Every live key that names a lease, for rebuilding the lessor's attachments. */
function* leasedKeys(store: MvccStore): Iterable<{ key: Uint8Array; lease: bigint }> {
  const all = store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), keysOnly: true });
  for (const kv of all.kvs) if (kv.lease !== 0n) yield { key: kv.key, lease: kv.lease };
}

interface RecoveredWal {
  wal: Wal;
  memberId: bigint;
  clusterId: bigint;
  /** Term of the last hard state (1 for a new log). */
  term: number;
  /** Highest committed index; new entries follow it. */
  committed: number;
  /** Committed entries still in the WAL, to replay above the backend's consistent index. */
  replayEntries: Array<{ term: number; index: number; data: Uint8Array }>;
  /** The latest snapshot marker: the WAL holds no entry at or below it. */
  snapshotIndex: number;
  /** Entries read from an existing WAL; -1 for a new one. */
  recoveredEntries: number;
}

/** Opens the WAL of an existing member, or creates it with IDs derived from the flags as etcd's. */
async function openWal(walDir: string, config: ServerConfig): Promise<RecoveredWal> {
  // Small segments let tests see segments released; production keeps the WAL's default.
  const segmentBytes = Number(process.env['RAFTKV_WAL_SEGMENT_BYTES'] ?? 0);
  const walOptions = segmentBytes > 0 ? { segmentSizeBytes: segmentBytes } : {};
  if (await Wal.exists(walDir)) {
    const { wal, replay } = await Wal.open(walDir, walOptions);
    const committed = Math.max(replay.hardState?.commit ?? 0, replay.snapshot?.index ?? 0);
    return {
      wal,
      ...decodeIds(replay.metadata),
      term: Math.max(replay.hardState?.term ?? 1, replay.snapshot?.term ?? 1),
      committed,
      replayEntries: replay.entries.filter((e) => e.index <= committed),
      snapshotIndex: replay.snapshot?.index ?? 0,
      recoveredEntries: replay.entries.length,
    };
  }
  const memberId = computeMemberId(config.initialAdvertisePeerUrls, config.initialClusterToken);
  const clusterId = computeClusterId(config.initialCluster.map((m) => computeMemberId(m.peerUrls, config.initialClusterToken)));
  await mkdir(walDir, { recursive: true });
  const wal = await Wal.create(walDir, encodeIds(memberId, clusterId), walOptions);
  return { wal, memberId, clusterId, term: 1, committed: 0, replayEntries: [], snapshotIndex: 0, recoveredEntries: -1 };
}

/**
 * Starts a one-member raftkv: recovers the store from the WAL, then serves gRPC on every client
 * URL. Resolves once clients can connect.
 */
export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const memberDir = join(config.dataDir, 'member');
  const walDir = config.walDir || join(memberDir, 'wal');
  const dbDir = join(memberDir, 'db');
  await mkdir(join(memberDir, 'snap'), { recursive: true });
  await mkdir(dbDir, { recursive: true });

  const recovered = await openWal(walDir, config);
  const { wal, memberId, clusterId, committed, replayEntries, snapshotIndex } = recovered;
  if (recovered.recoveredEntries >= 0) {
    log.info('recovered the WAL', { entries: recovered.recoveredEntries, commit: committed, term: recovered.term });
  }
  // A restarted member starts a new term, as a raft member campaigning again would.
  const term = recovered.term + 1;

  const store = await MvccStore.open({ dir: dbDir });
  let fatal = (err: unknown): void => {
    log.error('fatal error, stopping', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  };
  const lessor = new Lessor({
    clock: { nowMs: () => performance.now() },
    store: new BackendLeaseStore(store.bucket('lease')),
    // A test knob: etcd 3.4 has no flag for the interval (5 minutes).
    ...(Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) > 0
      ? { checkpointIntervalMs: Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) } : {}),
    minTtlSeconds: minLeaseTtlSeconds(Math.max(1, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)), config.heartbeatIntervalMs),
  });
  lessor.recover(leasedKeys(store));
  store.setLeaseChecker((lease) => lessor.lookup(lease) !== undefined);
  const applier = new Applier(store, lessor, (err) => fatal(err), {
    intervalMs: config.backendBatchIntervalMs || DEFAULT_COMMIT_POLICY.intervalMs,
    limitEntries: config.backendBatchLimit || DEFAULT_COMMIT_POLICY.limitEntries,
  });
  if (snapshotIndex > store.consistentIndex) {
    // The WAL released entries the backend does not hold: applied state was lost.
    throw new Error(`backend is at index ${store.consistentIndex} but the WAL starts after snapshot ${snapshotIndex}`);
  }
  const toReplay = replayEntries.filter((e) => e.index > store.consistentIndex);
  if (toReplay.length > 0) {
    applier.apply(toReplay);
    await applier.flushed();
    log.info('replayed WAL entries above the consistent index', { from: toReplay[0]!.index, to: committed });
  }
  const snapshotter = new WalSnapshotter({
    wal,
    snapshotCount: config.snapshotCount,
    backendDurable: async () => {
      await applier.flushed();
      await store.flushed();
    },
    log,
    fatal: (err) => fatal(err),
  });
  const replicatedLog = new SingleMemberLog({
    wal, memberId, term, lastIndex: committed,
    apply: (entries) => {
      applier.apply(entries);
      const last = entries[entries.length - 1]!;
      snapshotter.applied(entries.length, last.index, last.term);
    },
    fatal: (err) => fatal(err),
  });

  const self = {
    id: memberId,
    name: config.name,
    peerUrls: config.initialAdvertisePeerUrls.map(formatUrl),
    clientUrls: config.advertiseClientUrls.map(formatUrl),
  };
  // The only member is the leader: its lessor expires leases, after a full TTL of grace.
  lessor.promote(config.electionTimeoutMs);
  const core = new ServerCore(config, store, lessor, replicatedLog, applier, new IdGenerator(memberId, Date.now()), clusterId, self);
  const stopLeaseExpiry = startLeaseExpiry(core, lessor, log);

  // Watchers catch up from history in bounded steps between other work, never inside apply.
  const watchHub: WatchableStore = new WatchableStore(store, { onSyncNeeded: () => setImmediate(() => watchHub.syncUnsynced()) });
  const progressTimer = setInterval(() => watchHub.progressAll(), config.experimental.watchProgressNotifyIntervalMs || 600_000);
  progressTimer.unref();

  const grpcServer = new Server({
    'grpc.max_receive_message_length': config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.max_concurrent_streams': 2 ** 31 - 1,
  });
  grpcServer.addService(etcdserverpb.KVService, kvService(core));
  grpcServer.addService(etcdserverpb.MaintenanceService, maintenanceService(core));
  grpcServer.addService(etcdserverpb.ClusterService, clusterService(core));
  grpcServer.addService(etcdserverpb.LeaseService, leaseService(core));
  grpcServer.addService(WatchServiceWithEncodedResponses, watchService(core, watchHub));

  const clientEndpoints: string[] = [];
  for (const url of config.listenClientUrls) {
    if (url.protocol === 'https:' || url.protocol === 'unixs:') {
      throw new Error(`${formatUrl(url)}: TLS client listeners are not implemented yet`);
    }
    const address = grpcAddress(url);
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    clientEndpoints.push(url.protocol === 'unix:' ? address : `${url.hostname}:${port}`);
  }
  log.info('ready to serve client requests', { endpoints: clientEndpoints, member: memberId, cluster: clusterId });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      fatal = () => {};
      stopLeaseExpiry();
      clearInterval(progressTimer);
      watchHub.close();
      await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
      await replicatedLog.close();
      await applier.flushed();
      await wal.close();
      await store.close();
    })();
    return closing;
  };
  return { core, clientEndpoints, close };
}
