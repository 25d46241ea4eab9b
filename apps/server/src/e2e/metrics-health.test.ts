// /health and /metrics of the real binary, next to a real etcd 3.4 started the same way: the
// same answers from /health (a single member; a member whose cluster lost its quorum), a
// Prometheus text that parses and whose counters move with the work done, and etcd's names and
// types for every metric raftkv exports under an etcd name.
import { etcdctl, eventually, freePort, removeDir, startCluster, startEtcd, startRaftkv, type Cluster, type ServerProcess } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sampleValue, type Exposition } from '../metrics/test-support/prom-text.js';

interface Answer { status: number; body: string; contentType: string | null }

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') };
}

async function scrape(base: string): Promise<Exposition> {
  const r = await get(`${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.body);
}

const total = (e: Exposition, name: string, labels: Record<string, string> = {}): number =>
  e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

/**
 * The etcd metrics raftkv exports. etcd's etcd_network_peer_* families have samples only once a
 * peer exists; they are compared on clusters below.
 */
const SHARED_SINGLE_MEMBER = [
  'etcd_server_has_leader', 'etcd_server_is_leader', 'etcd_server_is_learner', 'etcd_server_leader_changes_seen_total',
  'etcd_server_proposals_committed_total', 'etcd_server_proposals_applied_total', 'etcd_server_proposals_pending',
  'etcd_server_proposals_failed_total', 'etcd_server_id', 'etcd_server_version', 'etcd_cluster_version', 'etcd_server_quota_backend_bytes',
  'etcd_server_health_success', 'etcd_server_health_failures',
  'etcd_mvcc_db_total_size_in_bytes', 'etcd_mvcc_db_total_size_in_use_in_bytes', 'etcd_debugging_mvcc_db_total_size_in_bytes',
  'etcd_debugging_mvcc_keys_total', 'etcd_debugging_mvcc_current_revision', 'etcd_debugging_mvcc_compact_revision',
  'etcd_mvcc_put_total', 'etcd_mvcc_delete_total', 'etcd_mvcc_range_total', 'etcd_mvcc_txn_total',
  'etcd_debugging_mvcc_put_total', 'etcd_debugging_mvcc_delete_total', 'etcd_debugging_mvcc_range_total', 'etcd_debugging_mvcc_txn_total',
  'etcd_disk_wal_fsync_duration_seconds', 'etcd_disk_backend_commit_duration_seconds', 'etcd_disk_wal_write_bytes_total',
  'grpc_server_started_total', 'grpc_server_handled_total', 'grpc_server_msg_received_total', 'grpc_server_msg_sent_total',
  'grpc_server_handling_seconds',
  'process_cpu_seconds_total', 'process_open_fds', 'process_max_fds', 'process_resident_memory_bytes', 'process_start_time_seconds',
  'process_virtual_memory_bytes',
  'etcd_server_slow_apply_total', 'etcd_server_slow_read_indexes_total', 'etcd_server_read_indexes_failed_total',
  'etcd_server_heartbeat_send_failures_total', 'etcd_server_snapshot_apply_in_progress_total', 'etcd_server_learner_promote_successes',
  'etcd_server_client_requests_total', 'etcd_mvcc_hash_duration_seconds', 'etcd_mvcc_hash_rev_duration_seconds',
  'etcd_snap_db_save_total_duration_seconds', 'os_fd_used', 'os_fd_limit', 'process_virtual_memory_max_bytes',
  'promhttp_metric_handler_requests_total', 'promhttp_metric_handler_requests_in_flight',
  'etcd_debugging_mvcc_db_compaction_keys_total', 'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds',
  'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds', 'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds',
  'etcd_debugging_mvcc_total_put_size_in_bytes',
];
/** Histograms whose buckets must be etcd's. */
const SHARED_HISTOGRAMS = [
  'etcd_disk_wal_fsync_duration_seconds', 'etcd_disk_backend_commit_duration_seconds', 'etcd_mvcc_hash_duration_seconds',
  'etcd_mvcc_hash_rev_duration_seconds', 'etcd_snap_db_save_total_duration_seconds',
  'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds', 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds',
  'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds',
];
const PEER_FAMILIES = ['etcd_network_peer_sent_bytes_total', 'etcd_network_peer_received_bytes_total', 'etcd_network_active_peers'];

describe('/health and /metrics of one member, raftkv and etcd side by side', () => {
  const servers: Record<'raftkv' | 'etcd', { process: ServerProcess; metricsUrl: string } | undefined> = { raftkv: undefined, etcd: undefined };

  beforeAll(async () => {
    const [rPort, ePort] = [await freePort(), await freePort()];
    const args = (port: number) => ['--listen-metrics-urls', `http://127.0.0.1:${port}`, '--metrics', 'extensive'];
    const [raftkv, etcd] = await Promise.all([startRaftkv({ args: args(rPort) }), startEtcd({ args: args(ePort) })]);
    servers.raftkv = { process: raftkv, metricsUrl: `http://127.0.0.1:${rPort}` };
    servers.etcd = { process: etcd, metricsUrl: `http://127.0.0.1:${ePort}` };
  }, 60_000);
  afterAll(async () => {
    for (const s of Object.values(servers)) {
      await s?.process.stop();
      if (s) removeDir(s.process.dataDir);
    }
  });

  it('/health answers as etcd\'s on the client and the metrics URL', async () => {
    for (const kind of ['raftkv', 'etcd'] as const) {
      const s = servers[kind]!;
      for (const base of [s.process.clientUrl, s.metricsUrl]) {
        expect(await get(`${base}/health`), `${kind} ${base}`).toEqual({ status: 200, body: '{"health":"true"}', contentType: 'text/plain; charset=utf-8' });
        const post = await fetch(`${base}/health`, { method: 'POST' });
        expect([post.status, post.headers.get('allow'), await post.text()]).toEqual([405, 'GET', 'Method Not Allowed\n']);
      }
      expect((await get(`${s.metricsUrl}/version`)).status).toBe(404);
    }
  });

  it('/metrics parses as Prometheus text and its counters move with puts, gets and a txn', async () => {
    const s = servers.raftkv!;
    const before = await scrape(s.metricsUrl);
    for (const i of [1, 2, 3]) expect((await etcdctl(s.process.endpoint, ['put', `k${i}`, 'v'])).stdout.trim()).toBe('OK');
    expect((await etcdctl(s.process.endpoint, ['get', 'k1', '--print-value-only'])).stdout.trim()).toBe('v');
    expect((await etcdctl(s.process.endpoint, ['del', 'k3'])).stdout.trim()).toBe('1');
    // Backend commits happen every 100 ms: wait for one after the writes.
    let after = await scrape(s.metricsUrl);
    for (let i = 0; i < 50 && total(after, 'etcd_disk_backend_commit_duration_seconds_count') === total(before, 'etcd_disk_backend_commit_duration_seconds_count'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await scrape(s.metricsUrl);
    }
    const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(moved('etcd_mvcc_put_total')).toBe(3);
    expect(moved('etcd_mvcc_delete_total')).toBe(1);
    expect(moved('etcd_mvcc_range_total')).toBe(1);
    expect(moved('etcd_debugging_mvcc_keys_total')).toBe(2);
    expect(moved('grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'OK' })).toBe(3);
    expect(moved('grpc_server_started_total', { grpc_method: 'Range' })).toBe(1);
    expect(moved('grpc_server_handling_seconds_count', { grpc_method: 'DeleteRange' })).toBe(1);
    expect(moved('etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(4);
    expect(moved('etcd_server_proposals_applied_total')).toBeGreaterThanOrEqual(4);
    expect(moved('etcd_disk_wal_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(4);
    expect(moved('etcd_disk_backend_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, 'etcd_server_has_leader')).toBe(1);
    expect(sampleValue(after, 'etcd_server_is_leader')).toBe(1);
    expect(sampleValue(after, 'etcd_server_proposals_pending')).toBe(0);
    expect(sampleValue(after, 'etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    // The member's ID as etcdctl prints it (hex, no leading zeros).
    const id = (await etcdctl(s.process.endpoint, ['member', 'list'])).stdout.split(',')[0]!.trim();
    expect(sampleValue(after, 'etcd_server_id', { server_id: id })).toBe(1);
    // The same text on the client URL.
    expect((await scrape(s.process.clientUrl)).types.get('etcd_server_has_leader')).toBe('gauge');
  }, 30_000);

  it('every metric raftkv shares with etcd has etcd\'s name, type, labels and (for histograms) buckets', async () => {
    // A call of each kind so labelled families have samples on both.
    for (const kind of ['raftkv', 'etcd'] as const) await etcdctl(servers[kind]!.process.endpoint, ['put', 'same', 'names']);
    const ours = await scrape(servers.raftkv!.metricsUrl);
    const theirs = await scrape(servers.etcd!.metricsUrl);
    for (const name of SHARED_SINGLE_MEMBER) {
      expect(ours.types.get(name), `raftkv ${name}`).toBe(theirs.types.get(name));
      expect(theirs.types.get(name), `etcd ${name}`).toBeDefined();
      const labelsOf = (e: Exposition) => [...new Set(e.samples.filter((s) => s.name === name || s.name === `${name}_bucket`).flatMap((s) => Object.keys(s.labels)))].sort();
      expect(labelsOf(ours), `labels of ${name}`).toEqual(labelsOf(theirs));
    }
    for (const histogram of SHARED_HISTOGRAMS) {
      const buckets = (e: Exposition) => e.samples.filter((s) => s.name === `${histogram}_bucket`).map((s) => s.labels['le']);
      expect(buckets(ours)).toEqual(buckets(theirs));
    }
    const range = { grpc_method: 'Range', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary' };
    const les = (e: Exposition) => e.samples.filter((s) => s.name === 'grpc_server_handling_seconds_bucket' && s.labels['grpc_method'] === 'Range').map((s) => s.labels['le']);
    expect(les(ours)).toEqual(les(theirs));
    // go-grpc-prometheus exports every code of every method from the start: the same rows for KV.Range.
    const codes = (e: Exposition) => e.samples.filter((s) => s.name === 'grpc_server_handled_total' && Object.entries(range).every(([k, v]) => s.labels[k] === v)).map((s) => s.labels['grpc_code']).sort();
    expect(codes(ours)).toEqual(codes(theirs));
    // etcdctl 3.4 names its API version: its calls are counted under it on both.
    for (const e of [ours, theirs]) expect(sampleValue(e, 'etcd_server_client_requests_total', { type: 'unary', client_api_version: '3.4' })).toBeGreaterThan(0);
    // A HashKV and a compaction are timed, and the compacted keys counted, on both.
    for (const kind of ['raftkv', 'etcd'] as const) {
      const ep = servers[kind]!.process.endpoint;
      for (let i = 0; i < 3; i++) await etcdctl(ep, ['put', 'compacted', `v${i}`]);
      const rev = Number(/"revision":(\d+)/.exec((await etcdctl(ep, ['endpoint', 'status', '-w', 'json'])).stdout)![1]);
      expect((await etcdctl(ep, ['compaction', '--physical', String(rev)])).code).toBe(0);
      expect((await etcdctl(ep, ['endpoint', 'hashkv'])).code).toBe(0);
    }
    for (const kind of ['raftkv', 'etcd'] as const) {
      const e = await eventually(`${kind}: a compaction counted`, async () => {
        const got = await scrape(servers[kind]!.metricsUrl);
        return (sampleValue(got, 'etcd_debugging_mvcc_db_compaction_keys_total') ?? 0) > 0 ? got : undefined;
      });
      expect(sampleValue(e, 'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count'), kind).toBeGreaterThan(0);
      expect(sampleValue(e, 'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds_count'), kind).toBeGreaterThan(0);
      expect(sampleValue(e, 'etcd_mvcc_hash_rev_duration_seconds_count'), kind).toBeGreaterThan(0);
    }
    // Names raftkv exports under etcd's prefixes all exist in etcd (peer families: with peers, below).
    for (const name of ours.types.keys()) {
      if (!/^(etcd|grpc)_/.test(name) || PEER_FAMILIES.includes(name)) continue;
      expect(theirs.types.has(name), `${name} is not an etcd metric`).toBe(true);
    }
  }, 30_000);
});

describe.each(['raftkv', 'etcd'] as const)('/health on a 3-member %s cluster', (kind) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(kind, { size: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('is true on every member, and peer traffic is counted under etcd\'s network metric names', async () => {
    const leader = await cluster.waitForLeader();
    for (const m of cluster.members) expect(await get(`${m.clientUrl}/health`)).toMatchObject({ status: 200, body: '{"health":"true"}' });
    // The leader talks to every follower (a raftkv follower talks only to its leader).
    const e = await scrape(leader.clientUrl);
    const peers = e.samples.filter((s) => s.name === 'etcd_network_peer_sent_bytes_total' && s.value > 0).map((s) => s.labels['To']);
    expect(peers.length).toBe(2);
    expect(total(e, 'etcd_network_peer_received_bytes_total')).toBeGreaterThan(0);
    if (kind === 'raftkv') expect(e.types.get('etcd_network_active_peers')).toBe('gauge');
  }, 30_000);

  it('measures round trips to both peers on the leader, in etcd\'s buckets', async () => {
    const leader = await cluster.waitForLeader();
    // etcd probes its peers every few seconds; raftkv times heartbeats and their answers.
    const e = await eventually('round trips to both peers', async () => {
      const got = await scrape(leader.clientUrl);
      const peers = new Set(got.samples.filter((s) => s.name === 'etcd_network_peer_round_trip_time_seconds_count' && s.value > 0).map((s) => s.labels['To']));
      return peers.size === 2 ? got : undefined;
    });
    expect(e.types.get('etcd_network_peer_round_trip_time_seconds')).toBe('histogram');
    const les = [...new Set(e.samples.filter((s) => s.name === 'etcd_network_peer_round_trip_time_seconds_bucket').map((s) => s.labels['le']))];
    expect(les).toEqual([...Array.from({ length: 16 }, (_, i) => String(Number((0.0001 * 2 ** i).toPrecision(12)))), '+Inf']);
  }, 30_000);

  it('is true on a learner', async () => {
    const learner = await cluster.addMember({ learner: true });
    let answer = await get(`${learner.clientUrl}/health`);
    // A new learner may not know its leader for a moment.
    for (let i = 0; i < 40 && answer.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await get(`${learner.clientUrl}/health`);
    }
    expect(answer).toEqual({ status: 200, body: '{"health":"true"}', contentType: 'text/plain; charset=utf-8' });
    expect(sampleValue(await scrape(learner.clientUrl), 'etcd_server_is_learner')).toBe(1);
    // Promoted once it has caught up: the leader counts it (and any refusal while it had not).
    const leader = await cluster.waitForLeader();
    const id = (await etcdctl(leader.endpoint, ['member', 'list'])).stdout.split('\n').find((l) => l.includes(learner.clientUrl))!.split(',')[0]!.trim();
    await eventually('the learner promoted', async () => {
      const r = await etcdctl(leader.endpoint, ['member', 'promote', id]);
      if (r.code !== 0) throw new Error(r.stderr);
      return true;
    });
    expect(sampleValue(await scrape(leader.clientUrl), 'etcd_server_learner_promote_successes')).toBe(1);
  }, 60_000);

  it('turns false with 503 on the member left when the quorum is gone', async () => {
    const [survivor, ...others] = cluster.members;
    await Promise.all(others.map((m) => m.kill()));
    let answer = await get(`${survivor!.clientUrl}/health`);
    // The survivor notices when its leader (or it, as leader) loses the quorum: an election timeout at most.
    for (let i = 0; i < 60 && answer.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await get(`${survivor!.clientUrl}/health`);
    }
    expect(answer).toEqual({ status: 503, body: '{"health":"false"}\n', contentType: 'text/plain; charset=utf-8' });
    const e = await scrape(survivor!.clientUrl);
    expect(sampleValue(e, 'etcd_server_health_failures')).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
