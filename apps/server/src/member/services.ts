import { Server } from '@grpc/grpc-js';
import { etcdserverpb, v3electionpb, v3lockpb } from '@raftkv/api';
import type { Lessor } from '@raftkv/lease';
import { WatchableStore, type WatchStats } from '@raftkv/watch';
import type { ServerConfig } from '../config/index.js';
import { grpcServerOptions, type FrontDoorLimits } from '../front-door/index.js';
import { electionService } from '../coordination/election-service.js';
import { lockService } from '../coordination/lock-service.js';
import { loopbackClient } from '../coordination/loopback-client.js';
import { authService } from '../grpc/auth-service.js';
import { clusterService } from '../grpc/cluster-service.js';
import { kvService } from '../grpc/kv-service.js';
import { leaseService, LeaseServiceWithEncodedGrant } from '../grpc/lease-service.js';
import { maintenanceService } from '../grpc/maintenance-service.js';
import { serveHotMethodsLean } from '../grpc/lean-services.js';
import { requireLeader } from '../grpc/require-leader.js';
import { LEAN_GRPC_SERVER_OPTIONS, shutdownGrpcServer } from '../grpc/server-shutdown.js';
import { KVServiceWithEncodedRange } from '../grpc/range-response.js';
import { MaintenanceServiceWithEncodedSnapshot } from '../snapshot/snapshot-rpc.js';
import { watchService, WatchServiceWithEncodedResponses } from '../grpc/watch-service.js';
import { startLeaseExpiry } from '../lease/lease-expiry.js';
import type { Logger } from '../logger.js';
import type { GrpcMetrics } from '../metrics/index.js';
import type { ServerCore } from '../server-core.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much before gRPC itself refuses it. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * How long shutdown lets open calls finish before cancelling them: Watch and LeaseKeepAlive
 * streams never finish on their own. etcd 3.4, SIGTERMed with an open `etcdctl watch` and
 * `lease keep-alive`, exits in about 2 s.
 */
export const SHUTDOWN_GRACE_MS = 2_000;

/** The etcd v3 gRPC services of a member, and what runs beside them (lease expiry, watch progress). */
export interface Services {
  /** The gRPC server with every service added, not bound: the front door hands it connections. */
  readonly grpcServer: Server;
  /** Stops background work, lets open calls finish for {@link SHUTDOWN_GRACE_MS}, then cancels the rest. */
  close(): Promise<void>;
  /** The watch hub's counts, for /metrics. */
  watchStats(): WatchStats;
}

/** What the services report to /metrics (MemberMetrics has them). */
export interface ServiceMetrics {
  readonly grpc: GrpcMetrics;
  defragmenting(done: Promise<unknown>): void;
  leaseExpired(): void;
}

/**
 * The front door's limits from the flags: etcd's --grpc-keepalive-interval and -timeout (either
 * 0 turns server pings off). Besides finding dead clients, a failed ping is what closes a
 * connection after Node's HTTP/2 refused one of its frames (see FrontDoorLimits).
 */
export function clientConnectionLimits(config: ServerConfig): Partial<FrontDoorLimits> {
  const pings = config.grpcKeepaliveIntervalMs > 0 && config.grpcKeepaliveTimeoutMs > 0;
  return pings
    ? { keepaliveIntervalMs: config.grpcKeepaliveIntervalMs, keepaliveTimeoutMs: config.grpcKeepaliveTimeoutMs }
    : { keepaliveIntervalMs: 0 };
}

export function buildServices(
  core: ServerCore, lessor: Lessor, config: ServerConfig, limits: FrontDoorLimits, log: Logger, metrics?: ServiceMetrics,
): Services {
  const grpcMetrics = metrics?.grpc;
  const stopLeaseExpiry = startLeaseExpiry(core, lessor, log, metrics?.leaseExpired);
  // Watchers catch up from history in bounded steps between other work, never inside apply.
  const watchHub: WatchableStore = new WatchableStore(core.store, { onSyncNeeded: () => setImmediate(() => watchHub.syncUnsynced()) });
  const progressTimer = setInterval(() => watchHub.progressAll(), config.experimental.watchProgressNotifyIntervalMs || 600_000);
  progressTimer.unref();

  const leaderRequired = requireLeader(() => core.leaderId !== 0n, config.electionTimeoutMs);
  const grpcServer = new Server({
    // Keepalive and header limits of gRPC connections, which grpc-js's HTTP/2 sessions enforce.
    ...grpcServerOptions(limits),
    'grpc.max_receive_message_length': config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    // etcd's --max-concurrent-streams (default 2^32-1); Node's HTTP/2 caps the setting at 2^31-1.
    'grpc.max_concurrent_streams': Math.min(config.maxConcurrentStreams, 2 ** 31 - 1),
    ...LEAN_GRPC_SERVER_OPTIONS,
    // The metrics interceptor first, so it counts the calls refused for want of a leader.
    interceptors: grpcMetrics ? [grpcMetrics.interceptor, leaderRequired.interceptor] : [leaderRequired.interceptor],
  });
  const kv = kvService(core);
  grpcServer.addService(KVServiceWithEncodedRange, kv);
  grpcServer.addService(MaintenanceServiceWithEncodedSnapshot, maintenanceService(core, log, metrics?.defragmenting));
  grpcServer.addService(etcdserverpb.ClusterService, clusterService(core));
  const lease = leaseService(core);
  grpcServer.addService(LeaseServiceWithEncodedGrant, lease);
  grpcServer.addService(WatchServiceWithEncodedResponses, watchService(core, watchHub));
  grpcServer.addService(etcdserverpb.AuthService, authService(core));
  // Lock and Election are etcd's concurrency recipes run by the member over a client of itself.
  const loopback = loopbackClient(config);
  grpcServer.addService(v3lockpb.LockService, lockService(loopback));
  grpcServer.addService(v3electionpb.ElectionService, electionService(loopback));
  // KV and lease unary calls skip grpc-js's per-call machinery; the interceptors' effects are hooks.
  serveHotMethodsLean(grpcServer, { kv: { def: KVServiceWithEncodedRange, impl: kv }, lease: { def: LeaseServiceWithEncodedGrant, impl: lease } },
    config.maxRequestBytes + GRPC_OVERHEAD_BYTES, { count: grpcMetrics && ((path, md) => grpcMetrics.leanUnaryCall(path, md)), refuse: leaderRequired.refuses });
  grpcMetrics?.register([
    KVServiceWithEncodedRange, MaintenanceServiceWithEncodedSnapshot, etcdserverpb.ClusterService, LeaseServiceWithEncodedGrant, WatchServiceWithEncodedResponses,
    v3lockpb.LockService, v3electionpb.ElectionService, etcdserverpb.AuthService,
  ]);

  const close = async (): Promise<void> => {
    core.close();
    stopLeaseExpiry();
    leaderRequired.close();
    clearInterval(progressTimer);
    watchHub.close();
    await shutdownGrpcServer(grpcServer, SHUTDOWN_GRACE_MS);
    loopback.close();
  };
  return { grpcServer, close, watchStats: () => watchHub.stats };
}
