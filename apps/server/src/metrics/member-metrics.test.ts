import { credentials, Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { RaftLogErrors } from '@raftkv/raft-log';
import { afterAll, describe, expect, test } from 'vitest';
import { ETCD_DISK_BUCKETS, MemberMetrics, withoutEmptyFamilies, type MetricsSources } from './member-metrics.js';
import { parseExposition, sampleValue, type Exposition } from './test-support/prom-text.js';

function fakeSources(over: Partial<{ lead: bigint; peers: Map<bigint, { sentBytes: number; receivedBytes: number; active: boolean }> }> = {}) {
  const state = {
    lead: over.lead ?? 0xabn,
    peers: over.peers ?? new Map<bigint, { sentBytes: number; receivedBytes: number; active: boolean }>(),
    opCounts: { ranges: 3, puts: 5, deletes: 1, txns: 2, putBytes: 321 },
  };
  const sources: MetricsSources = {
    memberId: 0xabn,
    raft: {
      get lead() { return state.lead; },
      get isLeader() { return state.lead === 0xabn; },
      commitIndex: 12,
      appliedIndex: 11,
      stats: () => ({ wal: { bytesWritten: 4096 } }),
    },
    store: {
      opCounts: state.opCounts, keyCount: 7, currentRevision: 9, compactedRevision: 4,
      dbSizeBytes: () => 65536, dbSizeInUseBytes: () => 20480,
    },
    transport: { stats: () => ({ peers: state.peers }) },
    isLearner: () => false,
    lessor: { stats: () => ({ granted: 6, revoked: 2, renewed: 31 }) },
    watchStats: () => ({ streams: 2, synced: 5, unsynced: 1, parked: 2, eventsSent: 77 }),
  };
  return { state, sources };
}

async function scrape(m: MemberMetrics): Promise<Exposition> {
  return parseExposition(await m.exposition());
}

describe('MemberMetrics', () => {
  test('reads the bound sources at the scrape, under etcd\'s names and types', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 1234, processMetrics: false });
    const { sources } = fakeSources();
    m.bind(sources);
    const e = await scrape(m);
    const want: Array<[string, string, number, Record<string, string>?]> = [
      ['etcd_server_has_leader', 'gauge', 1],
      ['etcd_server_is_leader', 'gauge', 1],
      ['etcd_server_is_learner', 'gauge', 0],
      ['etcd_server_proposals_committed_total', 'gauge', 12],
      ['etcd_server_proposals_applied_total', 'gauge', 11],
      ['etcd_server_id', 'gauge', 1, { server_id: 'ab' }],
      ['etcd_server_quota_backend_bytes', 'gauge', 1234],
      ['etcd_mvcc_range_total', 'counter', 3],
      ['etcd_mvcc_put_total', 'counter', 5],
      ['etcd_mvcc_delete_total', 'counter', 1],
      ['etcd_mvcc_txn_total', 'counter', 2],
      ['etcd_debugging_mvcc_put_total', 'counter', 5],
      ['etcd_debugging_mvcc_keys_total', 'gauge', 7],
      ['etcd_debugging_mvcc_total_put_size_in_bytes', 'gauge', 321],
      ['etcd_debugging_mvcc_current_revision', 'gauge', 9],
      ['etcd_debugging_mvcc_compact_revision', 'gauge', 4],
      ['etcd_mvcc_db_total_size_in_bytes', 'gauge', 65536],
      ['etcd_mvcc_db_total_size_in_use_in_bytes', 'gauge', 20480],
      ['etcd_disk_wal_write_bytes_total', 'gauge', 4096],
      ['etcd_debugging_mvcc_watch_stream_total', 'gauge', 2],
      ['etcd_debugging_mvcc_watcher_total', 'gauge', 8],
      ['etcd_debugging_mvcc_slow_watcher_total', 'gauge', 3],
      ['etcd_debugging_mvcc_events_total', 'counter', 77],
      ['etcd_debugging_lease_granted_total', 'counter', 6],
      ['etcd_debugging_lease_revoked_total', 'counter', 2],
      ['etcd_debugging_lease_renewed_total', 'counter', 31],
    ];
    for (const [name, type, value, labels] of want) {
      expect(e.types.get(name), name).toBe(type);
      expect(sampleValue(e, name, labels), name).toBe(value);
    }
  });

  test('disk histograms have etcd\'s buckets (1 ms doubling to 8.192 s) and count what the hooks report', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.walSynced(0.0015);
    m.walSynced(3);
    m.backendCommitted(Promise.resolve());
    m.backendCommitted(Promise.reject(new Error('commit failed')));
    await new Promise((resolve) => setImmediate(resolve));
    const e = await scrape(m);
    const les = e.samples.filter((s) => s.name === 'etcd_disk_wal_fsync_duration_seconds_bucket').map((s) => s.labels['le']);
    expect(les).toEqual([...ETCD_DISK_BUCKETS.map(String), '+Inf']);
    expect(les[les.length - 2]).toBe('8.192');
    expect(sampleValue(e, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '0.001' })).toBe(0);
    expect(sampleValue(e, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '0.002' })).toBe(1);
    expect(sampleValue(e, 'etcd_disk_wal_fsync_duration_seconds_count')).toBe(2);
    // A failed commit is not a latency.
    expect(sampleValue(e, 'etcd_disk_backend_commit_duration_seconds_count')).toBe(1);
  });

  test('lease TTLs, expired leases and defragmentations, from their hooks, with etcd\'s buckets', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.leaseGranted(5);
    m.leaseGranted(3600);
    m.leaseExpired();
    let finish!: () => void;
    m.defragmenting(new Promise<void>((resolve) => { finish = resolve; }));
    m.defragmenting(Promise.reject(new Error('defrag failed')));
    let e = await scrape(m);
    expect(sampleValue(e, 'etcd_disk_defrag_inflight')).toBe(1);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    e = await scrape(m);
    expect(sampleValue(e, 'etcd_disk_defrag_inflight')).toBe(0);
    expect(sampleValue(e, 'etcd_disk_backend_defrag_duration_seconds_count')).toBe(1);
    const defragLes = e.samples.filter((s) => s.name === 'etcd_disk_backend_defrag_duration_seconds_bucket').map((s) => s.labels['le']);
    expect(defragLes.slice(0, 2)).toEqual(['0.1', '0.2']);
    expect(defragLes).toHaveLength(14);
    expect(sampleValue(e, 'etcd_debugging_lease_ttl_total_bucket', { le: '4' })).toBe(0);
    expect(sampleValue(e, 'etcd_debugging_lease_ttl_total_bucket', { le: '8' })).toBe(1);
    expect(sampleValue(e, 'etcd_debugging_lease_ttl_total_bucket', { le: '4096' })).toBe(2);
    expect(e.samples.filter((s) => s.name === 'etcd_debugging_lease_ttl_total_bucket')).toHaveLength(25);
    expect(sampleValue(e, 'etcd_debugging_server_lease_expired_total')).toBe(1);
  });

  test('leader changes: each new known leader counts, losing the leader does not', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    for (const lead of [0n, 1n, 1n, 0n, 1n, 2n]) m.leaderChanged(lead);
    expect(sampleValue(await scrape(m), 'etcd_server_leader_changes_seen_total')).toBe(2 + 0 + 1);
  });

  test('proposals: pending while in flight, failed when dropped', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.proposalStarted();
    m.proposalStarted();
    m.proposalStarted();
    m.proposalEnded(false);
    m.proposalEnded(true);
    const e = await scrape(m);
    expect(sampleValue(e, 'etcd_server_proposals_pending')).toBe(1);
    expect(sampleValue(e, 'etcd_server_proposals_failed_total')).toBe(1);
  });

  test('peer bytes are counters by peer that never go back when a re-added peer restarts at 0', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    const { state, sources } = fakeSources();
    m.bind(sources);
    state.peers.set(0x2n, { sentBytes: 100, receivedBytes: 40, active: true });
    let e = await scrape(m);
    expect(sampleValue(e, 'etcd_network_peer_sent_bytes_total', { To: '2' })).toBe(100);
    expect(sampleValue(e, 'etcd_network_peer_received_bytes_total', { From: '2' })).toBe(40);
    expect(sampleValue(e, 'etcd_network_active_peers', { Local: 'ab', Remote: '2' })).toBe(1);
    state.peers.set(0x2n, { sentBytes: 30, receivedBytes: 50, active: false });
    e = await scrape(m);
    expect(sampleValue(e, 'etcd_network_peer_sent_bytes_total', { To: '2' })).toBe(130);
    expect(sampleValue(e, 'etcd_network_peer_received_bytes_total', { From: '2' })).toBe(50);
    expect(sampleValue(e, 'etcd_network_active_peers', { Remote: '2' })).toBeUndefined();
  });

  test('process_* and nodejs_* metrics when asked for (the default)', async () => {
    const e = await scrape(new MemberMetrics({ extensive: false, quotaBackendBytes: 0 }));
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(e.types.has(name), name).toBe(true);
    }
  });
});

describe('gRPC metrics (go-grpc-prometheus names)', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.forceShutdown();
  });

  async function kvServer(extensive: boolean) {
    const m = new MemberMetrics({ extensive, quotaBackendBytes: 0, processMetrics: false });
    const server = new Server({ interceptors: [m.grpc.interceptor] });
    servers.push(server);
    const fail = (code: status) => ({ code, details: 'no' });
    type Cb = sendUnaryData<unknown>;
    server.addService(etcdserverpb.KVService, {
      range: (_call: unknown, cb: Cb) => cb(null, etcdserverpb.RangeResponse.fromPartial({})),
      put: (_call: unknown, cb: Cb) => cb(fail(status.INVALID_ARGUMENT)),
      deleteRange: (_call: unknown, cb: Cb) => cb(fail(status.UNAVAILABLE)),
      txn: (_call: unknown, cb: Cb) => cb(fail(status.INTERNAL)),
      compact: (_call: unknown, cb: Cb) => cb(fail(status.INTERNAL)),
    });
    server.addService(etcdserverpb.WatchService, {
      // Echoes every request as a response until the client goes away.
      watch: (call: ServerDuplexStream<unknown, unknown>) => call.on('data', () => call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: 1n, created: true }))),
    });
    m.grpc.register([etcdserverpb.KVService, etcdserverpb.WatchService]);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const kv = new etcdserverpb.KVClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const watch = new etcdserverpb.WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
    return { m, kv, watch };
  }

  const unary = <Req>(fn: (req: Req, cb: (err: ServiceError | null) => void) => unknown, req: Req): Promise<ServiceError | null> =>
    new Promise((resolve) => fn(req, (err) => resolve(err)));
  const rangeReq = etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') });
  const putReq = etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k') });
  const deleteReq = etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('k') });

  test('every registered method is exported at 0 from the start; calls count by code; streams count messages and a cancel', async () => {
    const { m, kv, watch } = await kvServer(false);
    let e = await scrape(m);
    const range = { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Range' };
    expect(sampleValue(e, 'grpc_server_started_total', range)).toBe(0);
    expect(sampleValue(e, 'grpc_server_handled_total', { ...range, grpc_code: 'OK' })).toBe(0);
    expect(sampleValue(e, 'grpc_server_handled_total', { grpc_method: 'Watch', grpc_type: 'bidi_stream', grpc_code: 'Unauthenticated' })).toBe(0);
    // 17 codes for each of KV's 5 methods and Watch.
    expect(e.samples.filter((s) => s.name === 'grpc_server_handled_total').length).toBe(6 * 17);

    expect(await unary(kv.range.bind(kv), rangeReq)).toBeNull();
    expect(await unary(kv.range.bind(kv), rangeReq)).toBeNull();
    expect((await unary(kv.put.bind(kv), putReq))?.code).toBe(status.INVALID_ARGUMENT);
    expect((await unary(kv.deleteRange.bind(kv), deleteReq))?.code).toBe(status.UNAVAILABLE);

    const stream = watch.watch();
    const got = new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.on('error', () => undefined);
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('k') } }));
    await got;
    stream.cancel();
    // The server learns of the cancel asynchronously.
    for (let i = 0; i < 100; i++) {
      e = await scrape(m);
      if (sampleValue(e, 'grpc_server_handled_total', { grpc_method: 'Watch', grpc_code: 'Canceled' }) === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(sampleValue(e, 'grpc_server_started_total', range)).toBe(2);
    expect(sampleValue(e, 'grpc_server_handled_total', { ...range, grpc_code: 'OK' })).toBe(2);
    expect(sampleValue(e, 'grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'InvalidArgument' })).toBe(1);
    expect(sampleValue(e, 'grpc_server_handled_total', { grpc_method: 'DeleteRange', grpc_code: 'Unavailable' })).toBe(1);
    expect(sampleValue(e, 'grpc_server_msg_received_total', range)).toBe(2);
    expect(sampleValue(e, 'grpc_server_msg_sent_total', range)).toBe(2);
    expect(sampleValue(e, 'grpc_server_started_total', { grpc_method: 'Watch', grpc_type: 'bidi_stream' })).toBe(1);
    expect(sampleValue(e, 'grpc_server_msg_received_total', { grpc_method: 'Watch' })).toBe(1);
    expect(sampleValue(e, 'grpc_server_msg_sent_total', { grpc_method: 'Watch' })).toBe(1);
    expect(sampleValue(e, 'grpc_server_handled_total', { grpc_method: 'Watch', grpc_code: 'Canceled' })).toBe(1);
    expect(e.types.has('grpc_server_handling_seconds')).toBe(false);
    kv.close();
    watch.close();
  });

  test('--metrics extensive adds grpc_server_handling_seconds with Prometheus\'s default buckets', async () => {
    const { m, kv, watch } = await kvServer(true);
    // Every registered method's histogram is there before its first call, at zero (go-grpc-prometheus's pre-registration).
    const before = await scrape(m);
    expect(sampleValue(before, 'grpc_server_handling_seconds_count', { grpc_method: 'Compact', grpc_type: 'unary' })).toBe(0);
    expect(sampleValue(before, 'grpc_server_handling_seconds_count', { grpc_method: 'Watch', grpc_type: 'bidi_stream' })).toBe(0);
    expect(before.samples.filter((s) => s.name === 'grpc_server_handling_seconds_bucket' && s.labels['grpc_method'] === 'Put')).toHaveLength(12);
    await unary(kv.range.bind(kv), rangeReq);
    const e = await scrape(m);
    expect(e.types.get('grpc_server_handling_seconds')).toBe('histogram');
    expect(sampleValue(e, 'grpc_server_handling_seconds_count', { grpc_method: 'Range' })).toBe(1);
    const les = e.samples.filter((s) => s.name === 'grpc_server_handling_seconds_bucket' && s.labels['grpc_method'] === 'Range').map((s) => s.labels['le']);
    expect(les).toEqual(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    kv.close();
    watch.close();
  });

  test('etcd_server_client_requests_total counts calls by type and the client-api-version metadata (unknown without it)', async () => {
    const { m, kv, watch } = await kvServer(false);
    const v34 = new Metadata();
    v34.set('client-api-version', '3.4');
    await new Promise((resolve) => kv.range(rangeReq, v34, resolve));
    await new Promise((resolve) => kv.range(rangeReq, v34, resolve));
    await unary(kv.put.bind(kv), putReq);
    const stream = watch.watch(v34);
    const got = new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.on('error', () => undefined);
    stream.write(etcdserverpb.WatchRequest.fromPartial({}));
    await got;
    const e = await scrape(m);
    expect(e.types.get('etcd_server_client_requests_total')).toBe('counter');
    expect(sampleValue(e, 'etcd_server_client_requests_total', { type: 'unary', client_api_version: '3.4' })).toBe(2);
    expect(sampleValue(e, 'etcd_server_client_requests_total', { type: 'unary', client_api_version: 'unknown' })).toBe(1);
    expect(sampleValue(e, 'etcd_server_client_requests_total', { type: 'stream', client_api_version: '3.4' })).toBe(1);
    stream.cancel();
    kv.close();
    watch.close();
  });
});

describe('MemberMetrics: hooks of slow applies, read indexes, hashes and scrapes', () => {
  test('an apply longer than the warning duration counts as slow; a quick one does not', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false, warningApplyDurationMs: 5 });
    expect(m.applyFinished(process.hrtime.bigint())).toBe(false);
    expect(m.applyFinished(process.hrtime.bigint() - 6_000_000n)).toBe(true);
    expect(m.applyFinished(process.hrtime.bigint() - 60_000_000n)).toBe(true);
    expect(sampleValue(await scrape(m), 'etcd_server_slow_apply_total')).toBe(2);
  });

  test('a ReadIndex timeout is a slow read index, a lost leader a failed one, a stop neither', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.readIndexFailed(RaftLogErrors.Timeout);
    m.readIndexFailed(RaftLogErrors.LeaderChanged);
    m.readIndexFailed(RaftLogErrors.NoLeader);
    m.readIndexFailed(RaftLogErrors.Stopped);
    const e = await scrape(m);
    expect(sampleValue(e, 'etcd_server_slow_read_indexes_total')).toBe(1);
    expect(sampleValue(e, 'etcd_server_read_indexes_failed_total')).toBe(2);
  });

  test('hashes are timed into etcd\'s histograms (10 ms doubling to 163.84 s); a failed one is not', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.hashed('hash', new Promise((resolve) => setTimeout(resolve, 15)));
    m.hashed('hashKV', Promise.resolve());
    m.hashed('hashKV', Promise.reject(new Error('compacted')));
    await new Promise((resolve) => setTimeout(resolve, 40));
    const e = await scrape(m);
    expect(sampleValue(e, 'etcd_mvcc_hash_duration_seconds_count')).toBe(1);
    expect(sampleValue(e, 'etcd_mvcc_hash_duration_seconds_bucket', { le: '0.01' })).toBe(0);
    expect(sampleValue(e, 'etcd_mvcc_hash_rev_duration_seconds_count')).toBe(1);
    const les = e.samples.filter((s) => s.name === 'etcd_mvcc_hash_rev_duration_seconds_bucket').map((s) => s.labels['le']);
    expect(les).toEqual([...Array.from({ length: 15 }, (_, i) => String(Number((0.01 * 2 ** i).toPrecision(12)))), '+Inf']);
  });

  test('scrapes are counted by status (200, 500, 503 from the start), the one in flight included', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    m.scrapeStarted();
    m.scrapeEnded(200);
    m.scrapeStarted();
    const e = await scrape(m);
    expect(sampleValue(e, 'promhttp_metric_handler_requests_total', { code: '200' })).toBe(1);
    expect(sampleValue(e, 'promhttp_metric_handler_requests_total', { code: '500' })).toBe(0);
    expect(sampleValue(e, 'promhttp_metric_handler_requests_total', { code: '503' })).toBe(0);
    expect(sampleValue(e, 'promhttp_metric_handler_requests_in_flight')).toBe(1);
  });

  test('os_fd_used, os_fd_limit and process_virtual_memory_max_bytes read this process\'s /proc', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0 });
    const e = await scrape(m);
    const used = sampleValue(e, 'os_fd_used')!;
    expect(used).toBeGreaterThan(2);
    expect(sampleValue(e, 'os_fd_limit')).toBe(sampleValue(e, 'process_max_fds'));
    expect(sampleValue(e, 'os_fd_limit')).toBeGreaterThanOrEqual(used);
    expect(sampleValue(e, 'process_virtual_memory_max_bytes')).toBeGreaterThan(0);
  });
});

describe('MemberMetrics: peers, snapshots and learners', () => {
  test('a heartbeat later than twice the interval is a send failure; an answer is a round trip to that peer', async () => {
    let now = 0n;
    const ms = (n: number): bigint => BigInt(n) * 1_000_000n;
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false, heartbeatIntervalMs: 5, nowNs: () => now });
    m.leaderChanged(1n);
    m.heartbeatSent(0x2an);
    now += ms(10); // exactly twice the interval: on time
    m.heartbeatSent(0x2an);
    now += ms(11);
    m.heartbeatSent(0x2an); // late
    now += ms(3);
    m.heartbeatAnswered(0x2an); // 24 ms after the first unanswered one
    m.heartbeatAnswered(0x2an); // nothing unanswered: not a second round trip
    m.heartbeatAnswered(0x3bn); // never sent to
    const e = await scrape(m);
    expect(sampleValue(e, 'etcd_server_heartbeat_send_failures_total')).toBe(1);
    expect(sampleValue(e, 'etcd_network_peer_round_trip_time_seconds_count', { To: '2a' })).toBe(1);
    expect(sampleValue(e, 'etcd_network_peer_round_trip_time_seconds_sum', { To: '2a' })).toBeCloseTo(0.024, 9);
    m.leaderChanged(2n); // a new leader's heartbeats start afresh
    now += ms(1000);
    m.heartbeatSent(0x2an);
    expect(sampleValue(await scrape(m), 'etcd_server_heartbeat_send_failures_total')).toBe(1);
    expect(e.types.has('etcd_network_peer_round_trip_time_seconds')).toBe(true);
  });

  test('snapshot sends and receives by peer: successes timed, failures counted, in flight while running', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    let finish!: (ok: boolean) => void;
    m.snapshotSending(0x2an, new Promise((resolve) => { finish = resolve; }));
    m.snapshotSending(0x2an, Promise.resolve(false));
    m.snapshotReceiving(0x3bn, Promise.resolve());
    m.snapshotReceiving(0x3bn, Promise.reject(new Error('cut')));
    await new Promise((resolve) => setImmediate(resolve));
    let e = await scrape(m);
    expect(sampleValue(e, 'etcd_network_snapshot_send_inflights_total', { To: '2a' })).toBe(1);
    expect(sampleValue(e, 'etcd_network_snapshot_send_failures', { To: '2a' })).toBe(1);
    expect(sampleValue(e, 'etcd_network_snapshot_receive_success', { From: '3b' })).toBe(1);
    expect(sampleValue(e, 'etcd_network_snapshot_receive_failures', { From: '3b' })).toBe(1);
    expect(sampleValue(e, 'etcd_snap_db_save_total_duration_seconds_count')).toBe(1);
    finish(true);
    await new Promise((resolve) => setImmediate(resolve));
    e = await scrape(m);
    expect(sampleValue(e, 'etcd_network_snapshot_send_inflights_total', { To: '2a' })).toBe(0);
    expect(sampleValue(e, 'etcd_network_snapshot_send_success', { To: '2a' })).toBe(1);
    expect(sampleValue(e, 'etcd_network_snapshot_send_total_duration_seconds_count', { To: '2a' })).toBe(1);
  });

  test('snapshot apply in progress while installing; learner promotions and refusals by reason', async () => {
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false });
    let done!: () => void;
    m.snapshotApplied(new Promise<void>((resolve) => { done = resolve; }));
    expect(sampleValue(await scrape(m), 'etcd_server_snapshot_apply_in_progress_total')).toBe(1);
    done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sampleValue(await scrape(m), 'etcd_server_snapshot_apply_in_progress_total')).toBe(0);
    let e = await scrape(m);
    expect(e.types.has('etcd_server_learner_promote_failures')).toBe(false); // no sample yet: left out, as Go's client does
    m.learnerPromoted();
    m.learnerPromoted(new Error('etcdserver: can only promote a learner member which is in sync with leader'));
    e = await scrape(m);
    expect(sampleValue(e, 'etcd_server_learner_promote_successes')).toBe(1);
    expect(sampleValue(e, 'etcd_server_learner_promote_failures', { Reason: 'etcdserver: can only promote a learner member which is in sync with leader' })).toBe(1);
  });
});

describe('MemberMetrics: compactions', () => {
  test('index pauses, backend batch pauses with the keys they deleted, and whole compactions, in etcd\'s milliseconds buckets', async () => {
    // A clock the test moves: durations are what the test says, not what a loaded machine takes.
    let now = 0n;
    const m = new MemberMetrics({ extensive: false, quotaBackendBytes: 0, processMetrics: false, nowNs: () => now });
    let slowStepDone!: (keys: number) => void;
    let compactionDone!: () => void;
    m.compactionStep('index', Promise.resolve(0));
    m.compactionStep('db', new Promise<number>((resolve) => { slowStepDone = resolve; }));
    m.compactionStep('db', Promise.resolve(12));
    m.compactionStep('db', Promise.reject(new Error('closed')));
    m.compacted(new Promise<void>((resolve) => { compactionDone = resolve; }));
    await new Promise((resolve) => setImmediate(resolve));
    now = 3_000_000n; // 3 ms
    slowStepDone(1000);
    await new Promise((resolve) => setImmediate(resolve));
    now = 150_000_000n; // 150 ms
    compactionDone();
    await new Promise((resolve) => setImmediate(resolve));
    const e = await scrape(m);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_keys_total')).toBe(1012);
    expect(sampleValue(e, 'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds_count')).toBe(1);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_count')).toBe(2);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_bucket', { le: '1' })).toBe(1);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_bucket', { le: '4' })).toBe(2);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count')).toBe(1);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_bucket', { le: '100' })).toBe(0);
    expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_bucket', { le: '200' })).toBe(1);
    const les = (name: string) => e.samples.filter((s) => s.name === `${name}_bucket`).map((s) => s.labels['le']);
    expect(les('etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds')).toEqual(['0.5', '1', '2', '4', '8', '16', '32', '64', '128', '256', '512', '1024', '2048', '4096', '+Inf']);
    expect(les('etcd_debugging_mvcc_db_compaction_total_duration_milliseconds')).toEqual(['100', '200', '400', '800', '1600', '3200', '6400', '12800', '25600', '51200', '102400', '204800', '409600', '819200', '+Inf']);
  });
});

describe('withoutEmptyFamilies', () => {
  test.each([
    ['an empty labelled family is dropped, its neighbours kept', '# HELP a_total x\n# TYPE a_total counter\n# HELP b y\n# TYPE b gauge\nb 1\n', '# HELP b y\n# TYPE b gauge\nb 1\n'],
    ['a family whose name prefixes the next one', '# HELP a x\n# TYPE a counter\n# HELP a_total y\n# TYPE a_total counter\na_total 2\n', '# HELP a_total y\n# TYPE a_total counter\na_total 2\n'],
    ['a histogram with samples is kept', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n'],
    ['an empty family last', '# HELP b y\n# TYPE b gauge\nb 1\n# HELP z x\n# TYPE z counter\n', '# HELP b y\n# TYPE b gauge\nb 1\n'],
  ])('%s', (_name, input, want) => {
    expect(withoutEmptyFamilies(input)).toBe(want);
  });
});
