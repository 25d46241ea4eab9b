import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfChangeType, EntryType, MessageType, type Message } from '@raftkv/raft';
import { busyForTesting, crashForTesting } from './raft-log.js';
import { RaftLogErrors } from './proposal-errors.js';
import { TestCluster, removeDir, tempDir, type MemberOptions, type TestMember } from './test-support/harness.js';

const ids = [1n, 2n, 3n] as const;
const dirs: string[] = [];
const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.closeAll();
  for (const d of dirs.splice(0)) removeDir(d);
});

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
/** A raft message from a follower to the leader, as the transport would hand it over. */
const fromFollower = (m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message => ({
  term: 0, logTerm: 0, index: 0, entries: [], commit: 0, snapshot: undefined, reject: false, rejectHint: 0, context: new Uint8Array(0), ...m,
});
const seq = (m: TestMember): Array<[number, string]> => m.applied.map((e) => [e.index, Buffer.from(e.data).toString()]);

async function threeMembers(opts: MemberOptions = {}): Promise<{ cluster: TestCluster; dirOf: Map<bigint, string> }> {
  const cluster = new TestCluster(ids, opts);
  clusters.push(cluster);
  const dirOf = new Map<bigint, string>();
  for (const id of ids) {
    const dir = tempDir(`raftkv-raftlog-${id}-`);
    dirs.push(dir);
    dirOf.set(id, dir);
    await cluster.start(id, dir, { voters: [...ids] });
  }
  await cluster.until(() => cluster.leader() !== undefined);
  return { cluster, dirOf };
}

const dirOfMember = (m: TestMember): string => m.dir;

/** Proposes `n` entries on the leader, a few per event-loop turn, and waits for them to settle. */
async function proposeOnLeader(cluster: TestCluster, prefix: string, n: number, padBytes = 0): Promise<void> {
  const leader = cluster.leader();
  if (!leader) throw new Error('no leader');
  for (let i = 0; i < n; i++) {
    leader.log.propose(bytes(`${prefix}${i}${' '.repeat(padBytes)}`));
    if (i % 5 === 4) await new Promise<void>((r) => setImmediate(r));
  }
  await cluster.settle();
}

/** Three members with `opts`: five entries written, then a follower crashed and left down. */
async function followerDownAfterFive(opts: MemberOptions) {
  const { cluster } = await threeMembers(opts);
  const leader = cluster.leader()!;
  await proposeOnLeader(cluster, 'a', 5);
  const victim = cluster.running.find((m) => m !== leader)!;
  await crashForTesting(victim.log);
  cluster.remove(victim.id);
  return { cluster, leader, victim };
}

describe('RaftLog, three members over an in-memory network', () => {
  it('a message that leaves raft nothing to do starts no Ready loop; one that does, does', async () => {
    const { cluster } = await threeMembers();
    const leader = cluster.leader()!;
    await proposeOnLeader(cluster, 'a', 3);
    const follower = cluster.running.find((m) => m !== leader)!;
    const readies = leader.log.stats().readies;
    const term = leader.log.term;
    const lastIndex = leader.log.status().lastIndex;
    // A repeated ack of what the follower already has: nothing to commit, send or persist.
    leader.log.step(fromFollower({ type: MessageType.AppResp, from: follower.id, to: leader.id, term, index: lastIndex }));
    expect(busyForTesting(leader.log)).toBe(false);
    await cluster.settle();
    expect(leader.log.stats().readies).toBe(readies);
    // A proposal the follower forwarded does: an entry to persist and send.
    const data = bytes('forwarded');
    leader.log.step(fromFollower({ type: MessageType.Prop, from: follower.id, to: leader.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }));
    expect(busyForTesting(leader.log)).toBe(true);
    await cluster.settle();
    for (const m of cluster.running) expect(seq(m).at(-1)).toEqual([lastIndex + 1, 'forwarded']);
  });

  it('elects one leader and applies the leader\'s proposals on all three in the same order', async () => {
    const { cluster } = await threeMembers();
    const leader = cluster.leader()!;
    for (const m of cluster.running) {
      expect(m.log.status().lead).toBe(leader.id);
      expect(m.confChanges).toEqual([1, 2, 3]);
    }
    await proposeOnLeader(cluster, 'v', 40);
    await cluster.until(() => cluster.running.every((m) => m.applied.length === 40));
    const expected = seq(leader);
    expect(expected.map(([, d]) => d)).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`));
    for (const m of cluster.running) expect(seq(m)).toEqual(expected);
    for (const m of cluster.running) expect(m.fatal).toEqual([]);
  });

  it('forwards proposals from a follower, refuses them with "not leader" when forwarding is off', async () => {
    const { cluster } = await threeMembers();
    const leader = cluster.leader()!;
    const follower = cluster.running.find((m) => m !== leader)!;
    follower.log.propose(bytes('via-follower'));
    await cluster.until(() => cluster.running.every((m) => m.applied.length === 1));
    expect(Buffer.from(leader.applied[0]!.data).toString()).toBe('via-follower');

    const strict = await threeMembers({ disableProposalForwarding: true });
    const sLeader = strict.cluster.leader()!;
    const sFollower = strict.cluster.running.find((m) => m !== sLeader)!;
    expect(() => sFollower.log.propose(bytes('x'))).toThrow(RaftLogErrors.NotLeader);
    sLeader.log.propose(bytes('ok'));
    await strict.cluster.until(() => strict.cluster.running.every((m) => m.applied.length === 1));
  });

  it('refuses proposals and reads with "no leader" before an election', async () => {
    const cluster = new TestCluster(ids, {});
    clusters.push(cluster);
    for (const id of ids) {
      const dir = tempDir(`raftkv-raftlog-${id}-`);
      dirs.push(dir);
      await cluster.start(id, dir, { voters: [...ids] });
    }
    await cluster.settle();
    const m = cluster.member(1n);
    expect(() => m.log.propose(bytes('x'))).toThrow(RaftLogErrors.NoLeader);
    await expect(m.log.readIndex(bytes('r'))).rejects.toBe(RaftLogErrors.NoLeader);
  });

  it('serves ReadIndex through a follower once it has applied up to the leader\'s commit', async () => {
    const { cluster } = await threeMembers();
    const leader = cluster.leader()!;
    const follower = cluster.running.find((m) => m !== leader)!;
    await proposeOnLeader(cluster, 'r', 10);
    // With peers a read point needs a quorum's confirmation: none is available at once, even on the leader.
    expect(leader.log.readPointNow()).toBeUndefined();
    expect(follower.log.readPointNow()).toBeUndefined();
    const read = follower.log.readIndex(bytes('read-1'));
    await cluster.until(() => follower.log.appliedIndex >= leader.log.commitIndex);
    const rs = await read;
    expect(rs.index).toBe(leader.log.commitIndex);
    expect(follower.log.appliedIndex).toBeGreaterThanOrEqual(rs.index);
  });

  it('tells the proposer when its entry was overwritten by a new leader, and fails a read the old leader could not confirm', async () => {
    const { cluster } = await threeMembers();
    const old = cluster.leader()!;
    cluster.net.isolate(old.id);
    const dropped: unknown[] = [];
    old.log.propose(bytes('lost'), (err) => dropped.push(err));
    // A read on the cut-off leader cannot reach a quorum; check-quorum deposes it.
    const staleRead = old.log.readIndex(bytes('stale')).then(() => 'confirmed', (err: unknown) => err);
    await cluster.until(() => cluster.running.some((m) => m !== old && m.log.status().isLeader));
    await proposeOnLeader(cluster, 'n', 3);
    cluster.net.heal(old.id);
    await cluster.until(() => dropped.length === 1 && old.applied.length === 3);
    expect(dropped).toEqual([RaftLogErrors.LeaderChanged]);
    expect(await staleRead).toBe(RaftLogErrors.LeaderChanged);
    expect(seq(old).map(([, d]) => d)).toEqual(['n0', 'n1', 'n2']);
  });

  it('moves leadership on request, and applies a membership change on every member', async () => {
    const { cluster, dirOf } = await threeMembers();
    const old = cluster.leader()!;
    const target = cluster.running.find((m) => m !== old)!;
    old.log.transferLeader(target.id);
    await cluster.until(() => cluster.leader() === target);
    expect(cluster.running.every((m) => m.log.status().lead === target.id)).toBe(true);

    const removed = cluster.running.find((m) => m !== target)!;
    target.log.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: removed.id, context: new Uint8Array(0) });
    await cluster.until(() => cluster.running.every((m) => m.confChanges.length === 4));
    const remaining = [...ids].filter((id) => id !== removed.id);
    for (const m of cluster.running) expect(m.log.status().confState.voters.slice().sort()).toEqual(remaining);
    expect(target.log.status().progress?.has(removed.id)).toBe(false);

    // The two remaining voters still commit; a restart relearns the smaller membership.
    await crashForTesting(removed.log);
    cluster.remove(removed.id);
    await proposeOnLeader(cluster, 'two', 3);
    await cluster.until(() => cluster.running.every((m) => m.applied.length === 3));
    const other = cluster.running.find((m) => m !== target)!;
    await other.log.close();
    cluster.remove(other.id);
    const back = await cluster.start(other.id, dirOf.get(other.id)!);
    await cluster.until(() => back.applied.length === 3);
    expect(back.log.status().confState.voters.slice().sort()).toEqual(remaining);
  });

  it('goes on without a crashed follower, which catches up from its WAL and the leader after a restart', async () => {
    const { cluster, dirOf } = await threeMembers();
    const leader = cluster.leader()!;
    await proposeOnLeader(cluster, 'a', 10);
    const victim = cluster.running.find((m) => m !== leader)!;
    await crashForTesting(victim.log);
    cluster.remove(victim.id);

    await proposeOnLeader(cluster, 'b', 20);
    await cluster.until(() => cluster.running.every((m) => m.applied.length === 30));

    const back = await cluster.start(victim.id, dirOf.get(victim.id)!);
    await cluster.until(() => back.applied.length === 30);
    expect(seq(back)).toEqual(seq(leader));
    expect(back.confChanges).toEqual([1, 2, 3]); // membership relearned from its own log
    expect(back.snapshotsInstalled).toEqual([]);
    await proposeOnLeader(cluster, 'c', 5);
    await cluster.until(() => cluster.running.every((m) => m.applied.length >= 35));
    expect(seq(back).slice(-5)).toEqual(seq(leader).slice(-5));
  });

  it('compacts by snapshot, and a far-behind member catches up by receiving the leader\'s snapshot', async () => {
    const { cluster, dirOf } = await threeMembers({
      snapshotCount: 10,
      snapshotCatchUpEntries: 0,
      maxSnapshots: 2,
      walOptions: { segmentSizeBytes: 4096, preallocate: false },
    });
    const leader = cluster.leader()!;
    await proposeOnLeader(cluster, 'a', 5);
    const victim = cluster.running.find((m) => m !== leader)!;
    const victimAppliedBefore = victim.log.appliedIndex;
    await crashForTesting(victim.log);
    cluster.remove(victim.id);

    await proposeOnLeader(cluster, 'b', 60, 200); // ~15 KiB: several 4 KiB WAL segments
    await cluster.until(() => leader.log.status().snapshotIndex > victimAppliedBefore + 10);
    const leaderStatus = leader.log.status();
    expect(leaderStatus.snapshotIndex).toBeGreaterThan(victimAppliedBefore);
    // Old snapshot files are purged and WAL segments below the snapshot released.
    const leaderDir = dirOf.get(leader.id)!;
    expect(readdirSync(join(leaderDir, 'snap')).filter((n) => n.endsWith('.snap')).length).toBeLessThanOrEqual(2);
    expect(leader.log.stats().wal.segmentsCut).toBeGreaterThan(0);
    expect(readdirSync(join(leaderDir, 'wal')).filter((n) => n.endsWith('.wal')).length).toBeLessThan(leader.log.stats().wal.segmentsCut + 1);

    const back = await cluster.start(victim.id, dirOf.get(victim.id)!);
    await cluster.until(() => back.log.appliedIndex === leader.log.appliedIndex);
    // The entries it missed are below the leader's first index: a snapshot was the only way.
    expect(cluster.net.snapshotsDelivered.get(victim.id)).toBeGreaterThanOrEqual(1);
    expect(back.snapshotsInstalled.length).toBeGreaterThanOrEqual(1);
    const installed = back.snapshotsInstalled[0]!;
    expect(installed).toBeGreaterThan(victimAppliedBefore);
    expect(back.log.status().snapshotIndex).toBeGreaterThanOrEqual(installed);
    expect(back.log.status().confState.voters.slice().sort()).toEqual([...ids]);
    // Entries after the snapshot arrive by ordinary replication, in the leader's order.
    const after = seq(leader).filter(([i]) => i > installed);
    expect(seq(back).filter(([i]) => i > installed)).toEqual(after);

    // New writes reach it, and it survives another restart from its own snapshot file.
    await proposeOnLeader(cluster, 'c', 5);
    await cluster.until(() => back.log.appliedIndex === leader.log.appliedIndex);
    await back.log.close();
    cluster.remove(victim.id);
    const again = await cluster.start(victim.id, dirOf.get(victim.id)!);
    await cluster.until(() => again.log.appliedIndex === leader.log.appliedIndex);
    expect(again.log.status().snapshotIndex).toBeGreaterThanOrEqual(installed);
    expect(seq(again).map(([, d]) => d).slice(-5)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    for (const m of cluster.running) expect(m.fatal).toEqual([]);
  });

  it('a member further behind than the bytes kept below the leader\'s snapshot catches up by snapshot', async () => {
    // Byte bounds only: the count bounds (10,000 entries, 5,000 kept) are never reached here.
    const { cluster, leader, victim } = await followerDownAfterFive({ snapshotCount: 10_000, snapshotBytes: 8000, snapshotCatchUpBytes: 2000 });

    // ~30 KB: byte-triggered snapshots (how many depends on how the entries share Readies).
    await proposeOnLeader(cluster, 'b', 60, 500);
    const leaderStatus = leader.log.status();
    expect(leader.log.stats().snapshotsSaved).toBeGreaterThanOrEqual(1);
    // The leader keeps at most ~2,000 bytes (3 entries of ~500) below its snapshot.
    expect(leader.log['storage'].firstIndex()).toBeGreaterThanOrEqual(leaderStatus.snapshotIndex - 3);

    const back = await cluster.start(victim.id, dirOfMember(victim));
    await cluster.until(() => back.log.appliedIndex === leader.log.appliedIndex);
    expect(cluster.net.snapshotsDelivered.get(victim.id)).toBeGreaterThanOrEqual(1);
    expect(back.snapshotsInstalled.length).toBeGreaterThanOrEqual(1);
    const installed = back.snapshotsInstalled[0]!;
    expect(seq(back).filter(([i]) => i > installed)).toEqual(seq(leader).filter(([i]) => i > installed));
    for (const m of cluster.running) expect(m.fatal).toEqual([]);
  });

  it('a member behind by less than the bytes kept below the leader\'s snapshot catches up from the log, without a snapshot', async () => {
    const { cluster, leader, victim } = await followerDownAfterFive({ snapshotCount: 10_000, snapshotBytes: 8000, snapshotCatchUpBytes: 16_000 });

    await proposeOnLeader(cluster, 'b', 20, 500); // ~10 KB: one snapshot, everything still kept below it
    expect(leader.log.stats().snapshotsSaved).toBe(1);
    const back = await cluster.start(victim.id, dirOfMember(victim));
    await cluster.until(() => back.log.appliedIndex === leader.log.appliedIndex);
    expect(cluster.net.snapshotsDelivered.get(victim.id) ?? 0).toBe(0);
    expect(seq(back).map(([, d]) => d.trimEnd()).slice(-20)).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
  });

  it('does not compact while a snapshot is being sent, so its follower goes on from the log after it', async () => {
    const { cluster, leader, victim } = await followerDownAfterFive({ snapshotCount: 10_000, snapshotBytes: 8000, snapshotCatchUpBytes: 2000 });
    await proposeOnLeader(cluster, 'b', 60, 500);

    // A slow transfer: the snapshot stays on its way while ~30 KB more are written.
    cluster.net.holdSnapshots = true;
    const back = await cluster.start(victim.id, victim.dir);
    await cluster.until(() => cluster.net.snapshotsHeld > 0);
    expect(leader.log.status().progress!.get(victim.id)!.state).toBe('snapshot');
    const firstIndex = leader.log['storage'].firstIndex();
    const saved = leader.log.stats().snapshotsSaved;
    await proposeOnLeader(cluster, 'c', 60, 500);
    expect(leader.log.stats().snapshotsSaved).toBeGreaterThan(saved);
    expect(leader.log['storage'].firstIndex()).toBe(firstIndex);

    cluster.net.releaseSnapshots();
    await cluster.until(() => back.log.appliedIndex === leader.log.appliedIndex);
    // One snapshot, then the entries after it from the leader's log.
    expect(cluster.net.snapshotsDelivered.get(victim.id)).toBe(1);
    expect(seq(back).map(([, d]) => d.trimEnd()).slice(-60)).toEqual(Array.from({ length: 60 }, (_, i) => `c${i}`));
    // The next snapshot compacts again.
    await proposeOnLeader(cluster, 'd', 30, 500);
    expect(leader.log['storage'].firstIndex()).toBeGreaterThan(firstIndex);
    for (const m of cluster.running) expect(m.fatal).toEqual([]);
  });
});
