// --force-new-cluster on the raft log: a survivor of a three-member cluster that lost the other
// two restarts as the only voter with every committed entry, commits alone, and stays a
// one-member cluster on later restarts without the flag. Also forceStandalone's rules alone.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfChangeType, EntryType, decodeEntryConfChange, encodeConfChange, type Entry } from '@raftkv/raft';
import { forceStandalone, type ForcedRestart } from './force-new-cluster.js';
import { crashForTesting } from './raft-log.js';
import { TestCluster, removeDir, tempDir } from './test-support/harness.js';

const ids = [1n, 2n, 3n] as const;
const dirs: string[] = [];
const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.closeAll();
  for (const d of dirs.splice(0)) removeDir(d);
});

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const SELF_CONTEXT = bytes('{"self":true}');

describe('RaftLog with forceNewCluster', () => {
  it('a lone survivor becomes the only voter, keeps every committed entry, commits alone and stays alone after a plain restart', async () => {
    const cluster = new TestCluster(ids, {});
    clusters.push(cluster);
    const dirOf = new Map<bigint, string>();
    for (const id of ids) {
      const dir = tempDir(`raftkv-force-${id}-`);
      dirs.push(dir);
      dirOf.set(id, dir);
      await cluster.start(id, dir, { voters: [...ids] });
    }
    await cluster.until(() => cluster.leader() !== undefined);
    const leader = cluster.leader()!;
    for (let i = 0; i < 10; i++) leader.log.propose(bytes(`a${i}`));
    await cluster.until(() => cluster.running.every((m) => m.applied.length === 10));
    const survivor = cluster.running.find((m) => m !== leader)!;
    const committed = survivor.log.commitIndex;
    // What its state machine had applied (the server passes mvcc's consistent index): the
    // crash loses the commit-only hard state, so the WAL alone would say less.
    const applied = survivor.log.appliedIndex;
    for (const m of cluster.running) await crashForTesting(m.log);
    for (const id of ids) cluster.remove(id);

    let forced: ForcedRestart | undefined;
    const alone = await cluster.start(survivor.id, dirOf.get(survivor.id)!, {
      forceNewCluster: { appliedIndex: applied, selfContext: SELF_CONTEXT, onForced: (f) => { forced = f; } },
    });
    await cluster.until(() => alone.log.isLeader);
    expect(forced?.removed).toEqual(ids.filter((id) => id !== survivor.id));
    expect(forced?.addedSelf).toBe(false);
    expect(forced?.commitIndex).toBeGreaterThanOrEqual(committed);
    expect(alone.log.status().confState.voters).toEqual([survivor.id]);
    expect(alone.applied.map((e) => Buffer.from(e.data).toString())).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    alone.log.propose(bytes('b0'));
    await cluster.until(() => alone.applied.length === 11);

    await alone.log.close();
    cluster.remove(survivor.id);
    const again = await cluster.start(survivor.id, dirOf.get(survivor.id)!);
    await cluster.until(() => again.log.isLeader);
    expect(again.log.status().confState.voters).toEqual([survivor.id]);
    expect(again.applied.map((e) => Buffer.from(e.data).toString()).at(-1)).toBe('b0');
    again.log.propose(bytes('c0'));
    await cluster.until(() => again.applied.length === 12);
    expect(again.fatal).toEqual([]);
  });
});

const cc = (index: number, type: ConfChangeType, nodeId: bigint): Entry =>
  ({ term: 2, index, type: EntryType.ConfChange, data: encodeConfChange({ type, nodeId, context: new Uint8Array(0) }) });
const normal = (index: number, term = 2): Entry => ({ term, index, type: EntryType.Normal, data: bytes(`e${index}`) });
const changes = (entries: readonly Entry[]): Array<[ConfChangeType, bigint]> =>
  entries.map((e) => decodeEntryConfChange(e)!).map((c) => ('nodeId' in c ? [c.type, c.nodeId] : [-1 as ConfChangeType, 0n]));

describe('forceStandalone', () => {
  const snapshot = (voters: bigint[], learners: bigint[] = []) => ({
    data: new Uint8Array(0),
    metadata: { index: 3, term: 2, confState: { voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false } },
  });

  it('drops entries above the commit index and removes every other voter and learner, in ID order', () => {
    const entries = [normal(4), cc(5, ConfChangeType.AddLearnerNode, 9n), normal(6), normal(7, 3)];
    const r = forceStandalone(2n, snapshot([3n, 2n, 1n]), entries, { term: 3, vote: 1n, commit: 6 }, { appliedIndex: 0, selfContext: SELF_CONTEXT });
    expect(r.forced.discardedEntries).toBe(1);
    expect(r.forced.commitIndex).toBe(6);
    expect(changes(r.forced.appended)).toEqual([[ConfChangeType.RemoveNode, 1n], [ConfChangeType.RemoveNode, 3n], [ConfChangeType.RemoveNode, 9n]]);
    expect(r.forced.appended.map((e) => [e.index, e.term])).toEqual([[7, 3], [8, 3], [9, 3]]);
    expect(r.hardState).toEqual({ term: 3, vote: 1n, commit: 9 });
    expect(r.entries.map((e) => e.index)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('counts entries the state machine applied as committed even when the WAL\'s commit lags', () => {
    const entries = [normal(4), normal(5), normal(6)];
    const r = forceStandalone(1n, snapshot([1n, 2n]), entries, { term: 2, vote: 1n, commit: 4 }, { appliedIndex: 5, selfContext: SELF_CONTEXT });
    expect(r.forced.commitIndex).toBe(5);
    expect(r.forced.discardedEntries).toBe(1);
    expect(r.forced.appended[0]!.index).toBe(6);
  });

  it('adds itself first when it is not a voter (removed, or a learner), with the context given', () => {
    const removedSelf = forceStandalone(4n, snapshot([1n, 2n]), [], { term: 2, vote: 0n, commit: 3 }, { appliedIndex: 3, selfContext: SELF_CONTEXT });
    expect(changes(removedSelf.forced.appended)).toEqual([[ConfChangeType.AddNode, 4n], [ConfChangeType.RemoveNode, 1n], [ConfChangeType.RemoveNode, 2n]]);
    expect(decodeEntryConfChange(removedSelf.forced.appended[0]!)!.context).toEqual(SELF_CONTEXT);
    const learner = forceStandalone(4n, snapshot([1n], [4n]), [], { term: 2, vote: 0n, commit: 3 }, { appliedIndex: 0, selfContext: SELF_CONTEXT });
    expect(changes(learner.forced.appended)).toEqual([[ConfChangeType.AddNode, 4n], [ConfChangeType.RemoveNode, 1n]]);
  });

  it('appends nothing for a member that is already the only voter', () => {
    const r = forceStandalone(1n, snapshot([1n]), [normal(4)], { term: 2, vote: 1n, commit: 4 }, { appliedIndex: 0, selfContext: SELF_CONTEXT });
    expect(r.forced.appended).toEqual([]);
    expect(r.hardState.commit).toBe(4);
  });
});
