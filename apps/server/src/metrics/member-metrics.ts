import { readdirSync, readFileSync } from 'node:fs';
import { RaftLogErrors } from '@raftkv/raft-log';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ETCD_VERSIONS } from '../front-door/index.js';
import { GrpcMetrics } from './grpc-metrics.js';

/** etcd's buckets for disk latencies: 1 ms doubling 14 times (to 8.192 s). */
export const ETCD_DISK_BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** `count` buckets from `start`, each twice the last (Prometheus's ExponentialBuckets(start, 2, count)). */
const doubling = (start: number, count: number): number[] => Array.from({ length: count }, (_, i) => start * 2 ** i);

/** A soft limit from /proc/self/limits (`unlimited`: 2^64 - 1, as Go's procfs reads it); undefined off Linux. */
function processLimit(name: string): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name));
    const soft = line?.slice(name.length).trim().split(/\s+/)[0];
    if (soft === undefined) return undefined;
    return soft === 'unlimited' ? 18446744073709551615 : Number(soft);
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** The parts of a running member that /metrics reads at a scrape (never on the request path). */
export interface MetricsSources {
  readonly memberId: bigint;
  /** The auth store's revision (etcd_debugging_auth_revision). */
  readonly authRevision?: () => number;
  readonly raft: {
    readonly lead: bigint;
    readonly isLeader: boolean;
    readonly commitIndex: number;
    readonly appliedIndex: number;
    stats(): { readonly wal: { readonly bytesWritten: number } };
  };
  readonly store: {
    readonly opCounts: { readonly ranges: number; readonly puts: number; readonly deletes: number; readonly txns: number; readonly putBytes?: number };
    readonly keyCount: number;
    readonly currentRevision: number;
    readonly compactedRevision: number;
    dbSizeBytes(): number;
    dbSizeInUseBytes(): number;
  };
  readonly transport: {
    stats(): { readonly peers: ReadonlyMap<bigint, { readonly sentBytes: number; readonly receivedBytes: number; readonly active: boolean }> };
  };
  isLearner(): boolean;
  readonly lessor: { stats(): { readonly granted: number; readonly revoked: number; readonly renewed: number } };
  /** The watch hub's counts (etcd's watch_stream_total, watcher_total, slow_watcher_total, events_total). */
  watchStats(): { readonly streams: number; readonly synced: number; readonly unsynced: number; readonly parked: number; readonly eventsSent: number };
}

export interface MemberMetricsOptions {
  /** etcd's --metrics extensive: adds grpc_server_handling_seconds. */
  readonly extensive: boolean;
  /** etcd_server_quota_backend_bytes. */
  readonly quotaBackendBytes: number;
  /** process_* and nodejs_* (prom-client's default metrics), os_fd_*. Default true. */
  readonly processMetrics?: boolean;
  /** etcd_server_slow_apply_total counts applies slower than this (etcd's --experimental-warning-apply-duration). Default 100 ms. */
  readonly warningApplyDurationMs?: number;
  /** --heartbeat-interval: a leader's heartbeat to a peer later than twice this is a send failure, as etcd counts. Default 100 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Monotonic nanoseconds for heartbeat timing. Default process.hrtime.bigint (tests inject a clock). */
  readonly nowNs?: () => bigint;
}

/** When the leader last sent a peer a heartbeat, and when the oldest unanswered one went (for the round trip). */
interface HeartbeatRecord {
  lastSentNs: bigint;
  unansweredSinceNs: bigint | undefined;
}

/** A counter whose value lives elsewhere (a monotonic number read at the scrape). */
function mirrorCounter(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name, help, registers: [registry],
    collect() {
      const v = read();
      if (v === undefined) return;
      this.reset();
      this.inc(v);
    },
  });
}

function liveGauge(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name, help, registers: [registry],
    collect() {
      const v = read();
      if (v !== undefined) this.set(v);
    },
  });
}

/** etcd's types.ID.String(): hex without leading zeros. */
function hexId(id: bigint): string {
  return id.toString(16);
}

/**
 * A member's Prometheus metrics under etcd 3.4's names, help texts and types, for what raftkv
 * has (see docs/compatibility.md for what it does not export). One registry per member, so
 * several members in one process (tests) do not share counters.
 *
 * The request path only increments plain numbers (here, in mvcc's opCounts, in the WAL's and
 * peer transport's stats); prom-client builds samples from them when /metrics is scraped.
 * Disk latencies are observed once per WAL sync or backend commit (batches, not requests).
 *
 * Built before the parts it reads: the hooks ({@link walSynced}, {@link backendCommitted},
 * {@link leaderChanged}, proposals) work at once; {@link bind} gives the sources read at a scrape.
 */
export class MemberMetrics {
  readonly registry = new Registry();
  readonly grpc: GrpcMetrics;
  private sources: MetricsSources | undefined;
  private lead = 0n;
  private leaderChanges = 0;
  private proposalsPending = 0;
  private proposalsFailed = 0;
  private healthOk = 0;
  private healthFailed = 0;
  /** Per-peer transport totals at the last scrape. */
  private readonly peerTotals = { sent: new Map<bigint, number>(), received: new Map<bigint, number>() };
  private readonly walFsync: Histogram;
  private readonly backendCommit: Histogram;
  private readonly defragDuration: Histogram;
  private readonly leaseTtl: Histogram;
  private defragsRunning = 0;
  private leasesExpired = 0;
  private readonly hashDuration: Histogram;
  private readonly hashRevDuration: Histogram;
  private slowApplies = 0;
  private slowReadIndexes = 0;
  private readIndexesFailed = 0;
  private scrapesInFlight = 0;
  private readonly scrapes = new Map<number, number>([[200, 0], [500, 0], [503, 0]]);
  /** etcd's --experimental-warning-apply-duration: an apply slower than this is counted. */
  private readonly slowApplyNs: bigint;
  private readonly heartbeatTimeoutNs: bigint;
  private readonly nowNs: () => bigint;
  private readonly heartbeats = new Map<bigint, HeartbeatRecord>();
  private heartbeatSendFailures = 0;
  private readonly peerRoundTrip: Histogram<'To'>;
  private snapshotApplying = 0;
  private learnerPromotions = 0;
  private readonly learnerPromoteFailures: Counter<'Reason'>;
  private readonly snapshotSends: { success: Counter<'To'>; failures: Counter<'To'>; inflight: Gauge<'To'>; seconds: Histogram<'To'> };
  private readonly snapshotReceives: { success: Counter<'From'>; failures: Counter<'From'>; inflight: Gauge<'From'>; seconds: Histogram<'From'> };
  private readonly snapDbSave: Histogram;
  private readonly indexCompactionPause: Histogram;
  private readonly dbCompactionPause: Histogram;
  private readonly dbCompactionTotal: Histogram;
  private dbCompactionKeys = 0;

  constructor(options: MemberMetricsOptions) {
    const r = this.registry;
    const src = (): MetricsSources | undefined => this.sources;
    this.grpc = new GrpcMetrics(r, options.extensive);
    this.slowApplyNs = BigInt(Math.round((options.warningApplyDurationMs ?? 100) * 1e6));
    this.heartbeatTimeoutNs = BigInt(Math.round(2 * (options.heartbeatIntervalMs ?? 100) * 1e6));
    this.nowNs = options.nowNs ?? process.hrtime.bigint;

    // etcdserver/metrics.go
    liveGauge(r, 'etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', () => {
      const s = src();
      return s === undefined ? 0 : s.raft.lead === 0n ? 0 : 1;
    });
    liveGauge(r, 'etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', () => (src()?.raft.isLeader ? 1 : 0));
    liveGauge(r, 'etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', () => (src()?.isLearner() ? 1 : 0));
    mirrorCounter(r, 'etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', () => this.leaderChanges);
    // Gauges in etcd (set from raft's indexes), so here too.
    liveGauge(r, 'etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', () => src()?.raft.commitIndex);
    liveGauge(r, 'etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', () => src()?.raft.appliedIndex);
    liveGauge(r, 'etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => this.proposalsPending);
    mirrorCounter(r, 'etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', () => this.proposalsFailed);
    liveGauge(r, 'etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', () => options.quotaBackendBytes);
    new Gauge({
      name: 'etcd_server_id', help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      labelNames: ['server_id'], registers: [r],
      collect() {
        const s = src();
        if (s === undefined) return;
        this.reset();
        this.set({ server_id: hexId(s.memberId) }, 1);
      },
    });
    new Gauge({
      name: 'etcd_server_version', help: "Which version is running. 1 for 'server_version' label with current version.",
      labelNames: ['server_version'], registers: [r],
    }).set({ server_version: ETCD_VERSIONS.etcdserver }, 1);
    new Gauge({
      name: 'etcd_cluster_version', help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
      labelNames: ['cluster_version'], registers: [r],
    }).set({ cluster_version: ETCD_VERSIONS.etcdcluster.split('.').slice(0, 2).join('.') }, 1);
    mirrorCounter(r, 'etcd_server_slow_apply_total', 'The total number of slow apply requests (likely overloaded from slow disk).', () => this.slowApplies);
    mirrorCounter(r, 'etcd_server_slow_read_indexes_total', "The total number of pending read indexes not in sync with leader's or timed out read index requests.", () => this.slowReadIndexes);
    mirrorCounter(r, 'etcd_server_read_indexes_failed_total', 'The total number of failed read indexes seen.', () => this.readIndexesFailed);
    mirrorCounter(r, 'etcd_server_heartbeat_send_failures_total', 'The total number of leader heartbeat send failures (likely overloaded from slow disk).', () => this.heartbeatSendFailures);
    liveGauge(r, 'etcd_server_snapshot_apply_in_progress_total', '1 if the server is applying the incoming snapshot. 0 if none.', () => this.snapshotApplying);
    mirrorCounter(r, 'etcd_server_learner_promote_successes', 'The total number of successful learner promotions while this member is leader.', () => this.learnerPromotions);
    this.learnerPromoteFailures = new Counter({
      name: 'etcd_server_learner_promote_failures', help: 'The total number of failed learner promotions (likely learner not ready) while this member is leader.',
      labelNames: ['Reason'], registers: [r],
    });
    // etcdserver/api/etcdhttp/metrics.go
    mirrorCounter(r, 'etcd_server_health_success', 'The total number of successful health checks', () => this.healthOk);
    mirrorCounter(r, 'etcd_server_health_failures', 'The total number of failed health checks', () => this.healthFailed);

    // mvcc/metrics.go: etcd 3.4 exports the op counters twice, the etcd_debugging_ names being the old ones.
    const ops = () => src()?.store.opCounts;
    for (const prefix of ['etcd_mvcc', 'etcd_debugging_mvcc']) {
      mirrorCounter(r, `${prefix}_range_total`, 'Total number of ranges seen by this member.', () => ops()?.ranges);
      mirrorCounter(r, `${prefix}_put_total`, 'Total number of puts seen by this member.', () => ops()?.puts);
      mirrorCounter(r, `${prefix}_delete_total`, 'Total number of deletes seen by this member.', () => ops()?.deletes);
      mirrorCounter(r, `${prefix}_txn_total`, 'Total number of txns seen by this member.', () => ops()?.txns);
    }
    // A gauge in etcd 3.4.
    liveGauge(r, 'etcd_debugging_mvcc_total_put_size_in_bytes', 'The total size of put kv pairs seen by this member.', () => ops()?.putBytes);
    // auth/metrics.go
    liveGauge(r, 'etcd_debugging_auth_revision', 'The current revision of auth store.', () => src()?.authRevision?.());
    liveGauge(r, 'etcd_debugging_mvcc_keys_total', 'Total number of keys.', () => src()?.store.keyCount);
    liveGauge(r, 'etcd_debugging_mvcc_current_revision', 'The current revision of store.', () => src()?.store.currentRevision);
    liveGauge(r, 'etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', () => src()?.store.compactedRevision);
    const dbSize = (): number | undefined => src()?.store.dbSizeBytes();
    liveGauge(r, 'etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', dbSize);
    liveGauge(r, 'etcd_debugging_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', dbSize);
    liveGauge(r, 'etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', () => src()?.store.dbSizeInUseBytes());

    // wal/metrics.go, mvcc/backend/metrics.go
    this.walFsync = new Histogram({
      name: 'etcd_disk_wal_fsync_duration_seconds', help: 'The latency distributions of fsync called by WAL.',
      buckets: [...ETCD_DISK_BUCKETS], registers: [r],
    });
    this.backendCommit = new Histogram({
      name: 'etcd_disk_backend_commit_duration_seconds', help: 'The latency distributions of commit called by backend.',
      buckets: [...ETCD_DISK_BUCKETS], registers: [r],
    });
    // 100 ms doubling 13 times (to 409.6 s), as etcd's.
    this.defragDuration = new Histogram({
      name: 'etcd_disk_backend_defrag_duration_seconds', help: 'The latency distribution of backend defragmentation.',
      buckets: Array.from({ length: 13 }, (_, i) => 0.1 * 2 ** i), registers: [r],
    });
    liveGauge(r, 'etcd_disk_defrag_inflight', 'Whether or not defrag is active on the member. 1 means active, 0 means not.', () => (this.defragsRunning > 0 ? 1 : 0));
    // A gauge in etcd 3.4.
    liveGauge(r, 'etcd_disk_wal_write_bytes_total', 'Total number of bytes written in WAL.', () => src()?.raft.stats().wal.bytesWritten);

    // rafthttp/metrics.go
    const peerDelta = this.peerDelta.bind(this);
    new Counter({
      name: 'etcd_network_peer_sent_bytes_total', help: 'The total number of bytes sent to peers.', labelNames: ['To'], registers: [r],
      collect() {
        const s = src();
        if (s === undefined) return;
        for (const [id, p] of s.transport.stats().peers) this.inc({ To: hexId(id) }, peerDelta('sent', id, p.sentBytes));
      },
    });
    new Counter({
      name: 'etcd_network_peer_received_bytes_total', help: 'The total number of bytes received from peers.', labelNames: ['From'], registers: [r],
      collect() {
        const s = src();
        if (s === undefined) return;
        for (const [id, p] of s.transport.stats().peers) this.inc({ From: hexId(id) }, peerDelta('received', id, p.receivedBytes));
      },
    });
    new Gauge({
      name: 'etcd_network_active_peers', help: 'The current number of active peer connections.', labelNames: ['Local', 'Remote'], registers: [r],
      collect() {
        const s = src();
        if (s === undefined) return;
        this.reset();
        const local = hexId(s.memberId);
        for (const [id, p] of s.transport.stats().peers) if (p.active) this.set({ Local: local, Remote: hexId(id) }, 1);
      },
    });

    // rafthttp/metrics.go: 100 µs doubling 16 times; snapshots 100 ms doubling 10 times (label sets appear with their first event, as etcd's).
    this.peerRoundTrip = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds', help: 'Round-Trip-Time histogram between peers', labelNames: ['To'], buckets: doubling(0.0001, 16), registers: [r],
    });
    const snapshotFamily = <L extends 'To' | 'From'>(verb: 'send' | 'receive', label: L, what: string) => ({
      success: new Counter({ name: `etcd_network_snapshot_${verb}_success`, help: `Total number of successful snapshot ${what}`, labelNames: [label], registers: [r] }),
      failures: new Counter({ name: `etcd_network_snapshot_${verb}_failures`, help: `Total number of snapshot ${verb} failures`, labelNames: [label], registers: [r] }),
      inflight: new Gauge({ name: `etcd_network_snapshot_${verb}_inflights_total`, help: `Total number of inflight snapshot ${what}`, labelNames: [label], registers: [r] }),
      seconds: new Histogram({
        name: `etcd_network_snapshot_${verb}_total_duration_seconds`, help: `Total latency distributions of v3 snapshot ${what}`,
        labelNames: [label], buckets: doubling(0.1, 10), registers: [r],
      }),
    });
    this.snapshotSends = snapshotFamily('send', 'To', 'sends');
    this.snapshotReceives = snapshotFamily('receive', 'From', 'receives');
    // snap/metrics.go
    this.snapDbSave = new Histogram({
      name: 'etcd_snap_db_save_total_duration_seconds', help: 'The total latency distributions of v3 snapshot save', buckets: doubling(0.1, 10), registers: [r],
    });

    // mvcc/metrics.go: the watch hub's counts. etcd's pending_events_total counts events held for
    // slow watchers; raftkv's parked watchers hold none (they re-read history), so it is not exported.
    const watch = () => src()?.watchStats();
    liveGauge(r, 'etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.', () => watch()?.streams);
    liveGauge(r, 'etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', () => {
      const w = watch();
      return w === undefined ? undefined : w.synced + w.unsynced + w.parked;
    });
    liveGauge(r, 'etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.', () => {
      const w = watch();
      return w === undefined ? undefined : w.unsynced + w.parked;
    });
    mirrorCounter(r, 'etcd_debugging_mvcc_events_total', 'Total number of events sent by this member.', () => watch()?.eventsSent);

    // lease/metrics.go, etcdserver/metrics.go
    const leases = () => src()?.lessor.stats();
    mirrorCounter(r, 'etcd_debugging_lease_granted_total', 'The total number of granted leases.', () => leases()?.granted);
    mirrorCounter(r, 'etcd_debugging_lease_revoked_total', 'The total number of revoked leases.', () => leases()?.revoked);
    mirrorCounter(r, 'etcd_debugging_lease_renewed_total', 'The number of renewed leases seen by the leader.', () => leases()?.renewed);
    // 1 s doubling 24 times (about 3 months), as etcd's.
    this.leaseTtl = new Histogram({
      name: 'etcd_debugging_lease_ttl_total', help: 'Bucketed histogram of lease TTLs.',
      buckets: Array.from({ length: 24 }, (_, i) => 2 ** i), registers: [r],
    });
    mirrorCounter(r, 'etcd_debugging_server_lease_expired_total', 'The total number of expired leases.', () => this.leasesExpired);

    // mvcc/metrics.go: 10 ms doubling 15 times (to 163.84 s).
    this.hashDuration = new Histogram({
      name: 'etcd_mvcc_hash_duration_seconds', help: 'The latency distribution of storage hash operation.', buckets: doubling(0.01, 15), registers: [r],
    });
    this.hashRevDuration = new Histogram({
      name: 'etcd_mvcc_hash_rev_duration_seconds', help: 'The latency distribution of storage hash by revision operation.', buckets: doubling(0.01, 15), registers: [r],
    });

    // mvcc/metrics.go: compaction pauses and totals in milliseconds (0.5 ms, 1 ms and 100 ms doubling 14, 13 and 14 times).
    this.indexCompactionPause = new Histogram({
      name: 'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds', help: 'Bucketed histogram of index compaction pause duration.',
      buckets: doubling(0.5, 14), registers: [r],
    });
    this.dbCompactionPause = new Histogram({
      name: 'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds', help: 'Bucketed histogram of db compaction pause duration.',
      buckets: doubling(1, 13), registers: [r],
    });
    this.dbCompactionTotal = new Histogram({
      name: 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds', help: 'Bucketed histogram of db compaction total duration.',
      buckets: doubling(100, 14), registers: [r],
    });
    mirrorCounter(r, 'etcd_debugging_mvcc_db_compaction_keys_total', 'Total number of db keys compacted.', () => this.dbCompactionKeys);

    // promhttp's instrumentation of the /metrics handler (codes 200, 500, 503 from the start, as promhttp).
    const scrapes = this.scrapes;
    liveGauge(r, 'promhttp_metric_handler_requests_in_flight', 'Current number of scrapes being served.', () => this.scrapesInFlight);
    new Counter({
      name: 'promhttp_metric_handler_requests_total', help: 'Total number of scrapes by HTTP status code.', labelNames: ['code'], registers: [r],
      collect() {
        this.reset();
        for (const [code, n] of scrapes) this.inc({ code: String(code) }, n);
      },
    });

    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: r });
      // etcdserver/metrics.go (read every 10 minutes there; at each scrape here) and the Go client's process collector.
      liveGauge(r, 'os_fd_used', 'The number of used file descriptors.', openFds);
      liveGauge(r, 'os_fd_limit', 'The file descriptor limit.', () => processLimit('Max open files'));
      liveGauge(r, 'process_virtual_memory_max_bytes', 'Maximum amount of virtual memory available in bytes.', () => processLimit('Max address space'));
    }
  }

  /**
   * What a peer's transport total moved since the last scrape. The transport's totals restart at
   * 0 when a peer is removed and added again; the exported counter never goes back.
   */
  private peerDelta(direction: 'sent' | 'received', id: bigint, total: number): number {
    const seen = this.peerTotals[direction];
    const last = seen.get(id) ?? 0;
    seen.set(id, total);
    return total >= last ? total - last : total;
  }

  /** The sources read at a scrape; until bound, gauges of the member read 0 or are absent. */
  bind(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** For WalOptions.onSync. */
  readonly walSynced = (seconds: number): void => {
    this.walFsync.observe(seconds);
  };

  /** For MvccStoreOptions.onBackendCommit: times the commit's write, if it succeeds. */
  readonly backendCommitted = (written: Promise<void>): void => {
    const start = process.hrtime.bigint();
    written.then(
      () => this.backendCommit.observe(Number(process.hrtime.bigint() - start) / 1e9),
      () => undefined,
    );
  };

  /** Raft's leader as this member sees it changed; etcd counts a change to a known leader. */
  leaderChanged(lead: bigint): void {
    if (lead !== 0n && lead !== this.lead) this.leaderChanges++;
    // A new term's heartbeats start afresh (etcd resets its timeout detector on a leader change).
    if (lead !== this.lead) this.heartbeats.clear();
    this.lead = lead;
  }

  /**
   * The leader sent `to` a heartbeat: later than twice the heartbeat interval after the last one
   * is a send failure (etcd's timeout detector). Also starts a round-trip measurement, unless one
   * is out (a heartbeat unanswered for an election timeout is given up).
   */
  readonly heartbeatSent = (to: bigint): void => {
    const now = this.nowNs();
    const h = this.heartbeats.get(to);
    if (h === undefined) {
      this.heartbeats.set(to, { lastSentNs: now, unansweredSinceNs: now });
      return;
    }
    if (now - h.lastSentNs > this.heartbeatTimeoutNs) this.heartbeatSendFailures++;
    h.lastSentNs = now;
    if (h.unansweredSinceNs === undefined || now - h.unansweredSinceNs > 5n * this.heartbeatTimeoutNs) h.unansweredSinceNs = now;
  };

  /** `from` answered a heartbeat: the round trip since the oldest unanswered one (etcd_network_peer_round_trip_time_seconds). */
  readonly heartbeatAnswered = (from: bigint): void => {
    const h = this.heartbeats.get(from);
    if (h?.unansweredSinceNs === undefined) return;
    this.peerRoundTrip.observe({ To: hexId(from) }, Number(this.nowNs() - h.unansweredSinceNs) / 1e9);
    h.unansweredSinceNs = undefined;
  };

  /** A snapshot is being sent to `to`; `done` resolves whether it was delivered. */
  readonly snapshotSending = (to: bigint, done: Promise<boolean>): void => {
    this.snapshotTransfer(this.snapshotSends, { To: hexId(to) }, done, () => undefined);
  };

  /** A snapshot is being received from `from` and saved; `done` settles when it is (rejects if it failed). */
  readonly snapshotReceiving = (from: bigint, done: Promise<unknown>): void => {
    this.snapshotTransfer(this.snapshotReceives, { From: hexId(from) }, done.then(() => true, () => false), (s) => this.snapDbSave.observe(s));
  };

  private snapshotTransfer<L extends string>(
    family: { success: Counter<L>; failures: Counter<L>; inflight: Gauge<L>; seconds: Histogram<L> },
    labels: Partial<Record<L, string>>, done: Promise<boolean>, saved: (seconds: number) => void,
  ): void {
    const start = process.hrtime.bigint();
    family.inflight.inc(labels);
    void done.then((ok) => {
      family.inflight.dec(labels);
      if (!ok) {
        family.failures.inc(labels);
        return;
      }
      const s = seconds(start);
      family.success.inc(labels);
      family.seconds.observe(labels, s);
      saved(s);
    });
  }

  /** The member is installing a snapshot from the leader (etcd_server_snapshot_apply_in_progress_total). */
  readonly snapshotApplied = (done: Promise<unknown>): void => {
    this.snapshotApplying++;
    void done.finally(() => this.snapshotApplying--).catch(() => undefined);
  };

  /** This member, as leader, promoted a learner (no `err`) or refused to (`err`'s message is the reason, as etcd's). */
  readonly learnerPromoted = (err?: unknown): void => {
    if (err === undefined) this.learnerPromotions++;
    else this.learnerPromoteFailures.inc({ Reason: err instanceof Error ? err.message : String(err) });
  };

  /** A proposal of this member's went to raft; {@link proposalEnded} when it is applied or failed. */
  proposalStarted(): void {
    this.proposalsPending++;
  }

  proposalEnded(failed: boolean): void {
    this.proposalsPending--;
    if (failed) this.proposalsFailed++;
  }

  /** For Lessor.onGrant: the TTL a lease was granted with. */
  readonly leaseGranted = (ttlSeconds: number): void => {
    this.leaseTtl.observe(ttlSeconds);
  };

  /** The leader revoked a lease because it expired. */
  readonly leaseExpired = (): void => {
    this.leasesExpired++;
  };

  /** Times a defragmentation (etcd_disk_backend_defrag_duration_seconds, defrag_inflight) if it succeeds. */
  readonly defragmenting = (done: Promise<unknown>): void => {
    const start = process.hrtime.bigint();
    this.defragsRunning++;
    done.then(
      () => this.defragDuration.observe(Number(process.hrtime.bigint() - start) / 1e9),
      () => undefined,
    ).finally(() => this.defragsRunning--);
  };

  /** Times a Hash (`hash`) or a HashKV / corruption check (`hashKV`), if it succeeds. */
  readonly hashed = (kind: 'hash' | 'hashKV', done: Promise<unknown>): void => {
    const start = process.hrtime.bigint();
    const histogram = kind === 'hash' ? this.hashDuration : this.hashRevDuration;
    done.then(() => histogram.observe(seconds(start)), () => undefined);
  };

  /** For MvccStore.onCompactionStep: a pause of a compaction (an index step, or a backend batch deleting keys). */
  readonly compactionStep = (kind: 'index' | 'db', done: Promise<number>): void => {
    const start = this.nowNs();
    done.then((keys) => {
      const ms = Number(this.nowNs() - start) / 1e6;
      if (kind === 'index') this.indexCompactionPause.observe(ms);
      else {
        this.dbCompactionPause.observe(ms);
        this.dbCompactionKeys += keys;
      }
    }, () => undefined);
  };

  /** For MvccStore.onCompaction: a whole backend compaction, timed if it succeeds. */
  readonly compacted = (done: Promise<void>): void => {
    const start = this.nowNs();
    done.then(() => this.dbCompactionTotal.observe(Number(this.nowNs() - start) / 1e6), () => undefined);
  };

  /**
   * An apply or a read started at `start` (process.hrtime.bigint()) just finished: counted in
   * etcd_server_slow_apply_total if it took longer than the warning duration, as etcd's
   * warnOfExpensiveRequest. Returns whether it was slow (for a log line).
   */
  readonly applyFinished = (start: bigint): boolean => {
    if (process.hrtime.bigint() - start <= this.slowApplyNs) return false;
    this.slowApplies++;
    return true;
  };

  /** A ReadIndex round of this member's linearizable reads failed: a timeout is a slow read index, as etcd counts it. */
  readonly readIndexFailed = (err: unknown): void => {
    if (err === RaftLogErrors.Stopped) return;
    if (err === RaftLogErrors.Timeout) this.slowReadIndexes++;
    else this.readIndexesFailed++;
  };

  /** A /metrics scrape started; {@link scrapeEnded} with its status. */
  scrapeStarted(): void {
    this.scrapesInFlight++;
  }

  scrapeEnded(status: number): void {
    this.scrapesInFlight--;
    this.scrapes.set(status, (this.scrapes.get(status) ?? 0) + 1);
  }

  healthChecked(ok: boolean): void {
    if (ok) this.healthOk++;
    else this.healthFailed++;
  }

  /** The text exposition (Prometheus format 0.0.4). */
  async exposition(): Promise<string> {
    return withoutEmptyFamilies(await this.registry.metrics());
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Drops the HELP and TYPE lines of families without a sample (a labelled metric before its first
 * event), which Go's client leaves out: scrapes list the same families as etcd's.
 */
export function withoutEmptyFamilies(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('# HELP ')) {
      const end = line.indexOf(' ', 7);
      const name = end < 0 ? line.slice(7) : line.slice(7, end);
      let j = i + 1;
      while (lines[j]?.startsWith(`# TYPE ${name} `) === true) j++;
      const next = lines[j] ?? '';
      const sample = next.startsWith(name) && /^(?:_bucket|_sum|_count)?[{ ]/.test(next.slice(name.length));
      if (!sample) {
        i = j - 1;
        continue;
      }
    }
    out.push(line);
  }
  return out.join('\n');
}
