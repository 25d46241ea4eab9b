import { describe, expect, test } from 'vitest';
import { describeCell, parseMetrics, type MemberProbe } from './member-probe.js';

// The lines both servers print (etcd 3.4.23's names and buckets; other lines around them).
const exposition = (count: number, fast: number, sum: number, changes: number) => [
  '# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.',
  '# TYPE etcd_disk_wal_fsync_duration_seconds histogram',
  `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} ${fast - 1}`,
  `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} ${fast}`,
  `etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} ${count}`,
  `etcd_disk_wal_fsync_duration_seconds_sum ${sum}`,
  `etcd_disk_wal_fsync_duration_seconds_count ${count}`,
  'etcd_disk_backend_commit_duration_seconds_count 99',
  `etcd_server_leader_changes_seen_total ${changes}`,
].join('\n');

describe('member probe', () => {
  test('reads the WAL fsync histogram and the leader changes from a /metrics text', () => {
    expect(parseMetrics(exposition(120, 117, 0.25, 1))).toEqual({ fsyncs: 120, fsyncSeconds: 0.25, slowFsyncs: 3, leaderChanges: 1 });
    expect(parseMetrics('process_cpu_seconds_total 3\n')).toEqual({});
  });

  test('a cell line names the leader, marks a term or leader change, and gives each member its deltas', () => {
    const at = (term: number, leader: string, cpu: number, fsyncs: number, secs: number, slow: number, changes: number): MemberProbe[] =>
      ['a', 'b', 'c'].map((id, i) => ({ id, term, leader, cpuSeconds: cpu * (i + 1), fsyncs, fsyncSeconds: secs, slowFsyncs: slow, leaderChanges: changes }));
    const steady = describeCell({ start: at(2, 'a', 1, 100, 0.1, 0, 1), end: at(2, 'a', 2, 600, 1.1, 2, 1) }, 500);
    expect(steady).toBe('term 2→2 leader m0→m0; m0 (leader) cpu 1000 ms = 2000 µs/op, fsync 500×2.00 ms (>8 ms: 2); ' +
      'm1 cpu 2000 ms = 4000 µs/op, fsync 500×2.00 ms (>8 ms: 2); m2 cpu 3000 ms = 6000 µs/op, fsync 500×2.00 ms (>8 ms: 2)');
    const moved = describeCell({ start: at(2, 'a', 1, 0, 0, 0, 1), end: at(3, 'b', 1, 0, 0, 0, 2) });
    expect(moved).toMatch(/^term 2→3! leader m0→m1!; m0 cpu 0 ms, fsync 0×- ms \(>8 ms: 0\), leader changes 1; m1 \(leader\) /);
  });

  test('a member that did not answer shows as unknown, not as zero', () => {
    const line = describeCell({ start: [{ id: 'a', term: 2, leader: 'a' }, {}], end: [{ id: 'a', term: 2, leader: 'a' }, {}] });
    expect(line).toBe('term 2/?→2/? leader m0/?→m0/?; m0 (leader) cpu ? ms, fsync ?×- ms (>8 ms: ?); m1 cpu ? ms, fsync ?×- ms (>8 ms: ?)');
  });
});
