import type { EtcdError } from '@raftkv/api';
import { NONE, ProposalDroppedError, StateType, type SoftState } from '@raftkv/raft';
import { describe, expect, it } from 'vitest';
import { PendingProposals, type ProposalRaft } from './pending-proposals.js';
import { RaftLogErrors } from './proposal-errors.js';

/** A raft that appends every batch at the end of its log, or refuses it when `refuse` is set. */
class FakeRaft implements ProposalRaft {
  batches: string[][] = [];
  lastIndex = 10;
  term = 3;
  leader = true;
  softState: SoftState = { lead: 1n, raftState: StateType.Leader };
  refuse: Error | undefined;

  proposeBatch(data: readonly Uint8Array[]): void {
    if (this.refuse) throw this.refuse;
    this.batches.push(data.map((d) => Buffer.from(d).toString()));
    this.lastIndex += data.length;
  }

  leaderLastEntry(): { term: number; lastIndex: number } | undefined {
    return this.leader ? { term: this.term, lastIndex: this.lastIndex } : undefined;
  }

  status(): { softState: SoftState } {
    return { softState: this.softState };
  }
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** Records each proposal's `onDropped` calls by name. */
function droppedLog(): { dropped: Array<[string, EtcdError]>; onDropped(name: string): (err: EtcdError) => void } {
  const dropped: Array<[string, EtcdError]> = [];
  return { dropped, onDropped: (name) => (err) => dropped.push([name, err]) };
}

describe('PendingProposals', () => {
  it('hands the proposals queued since the last flush to raft as one batch, in order', () => {
    const raft = new FakeRaft();
    const proposals = new PendingProposals(raft, false);
    expect(proposals.hasQueued).toBe(false);
    proposals.flush(true); // nothing queued: raft hears nothing
    proposals.queue(bytes('a'), undefined);
    proposals.queue(bytes('b'), undefined);
    expect(proposals.hasQueued).toBe(true);
    proposals.flush(true);
    expect(proposals.hasQueued).toBe(false);
    proposals.queue(bytes('c'), undefined);
    proposals.flush(true);
    expect(raft.batches).toEqual([['a', 'b'], ['c']]);
  });

  it('on the leader, reports LeaderChanged for a proposal whose index commits with another term, and nothing when its own entry commits', () => {
    const raft = new FakeRaft();
    const proposals = new PendingProposals(raft, false);
    const { dropped, onDropped } = droppedLog();
    proposals.queue(bytes('a'), onDropped('a')); // index 11, term 3
    proposals.queue(bytes('b'), onDropped('b')); // index 12
    proposals.queue(bytes('c'), onDropped('c')); // index 13
    proposals.flush(true);
    proposals.committed(11, 3);
    proposals.committed(12, 4); // a new leader's entry took index 12
    proposals.committed(13, 3);
    expect(dropped).toEqual([['b', RaftLogErrors.LeaderChanged]]);
    // Settled once: the same indexes committing again report nothing more.
    proposals.committed(11, 5);
    proposals.committed(12, 5);
    proposals.failAll(RaftLogErrors.Stopped);
    expect(dropped).toEqual([['b', RaftLogErrors.LeaderChanged]]);
  });

  it('does not track proposals made while not leader (their index is unknown here)', () => {
    const raft = new FakeRaft();
    const proposals = new PendingProposals(raft, false);
    const { dropped, onDropped } = droppedLog();
    proposals.queue(bytes('forwarded'), onDropped('forwarded'));
    proposals.flush(false);
    expect(raft.batches).toEqual([['forwarded']]);
    proposals.committed(11, 9);
    proposals.failAll(RaftLogErrors.Stopped);
    expect(dropped).toEqual([]);
  });

  it.each<[string, SoftState, boolean, EtcdError]>([
    ['no leader is known', { lead: NONE, raftState: StateType.Candidate }, false, RaftLogErrors.NoLeader],
    ['a follower with forwarding disabled', { lead: 2n, raftState: StateType.Follower }, true, RaftLogErrors.NotLeader],
    ['a follower that forwards', { lead: 2n, raftState: StateType.Follower }, false, RaftLogErrors.ProposalDropped],
    ['a leader (transfer in progress, log full)', { lead: 1n, raftState: StateType.Leader }, true, RaftLogErrors.ProposalDropped],
  ])('when raft refuses a batch on %s, every proposal in it gets that reason', (_name, softState, disableForwarding, reason) => {
    const raft = new FakeRaft();
    raft.softState = softState;
    raft.refuse = new ProposalDroppedError('test');
    const proposals = new PendingProposals(raft, disableForwarding);
    const { dropped, onDropped } = droppedLog();
    proposals.queue(bytes('a'), onDropped('a'));
    proposals.queue(bytes('b'), undefined);
    proposals.queue(bytes('c'), onDropped('c'));
    proposals.flush(true);
    expect(proposals.dropReason()).toBe(reason);
    expect(dropped).toEqual([['a', reason], ['c', reason]]);
    expect(proposals.hasQueued).toBe(false);
    // Refused proposals are not tracked.
    proposals.failAll(RaftLogErrors.Stopped);
    expect(dropped).toHaveLength(2);
  });

  it('rethrows an error from raft that is not a refusal', () => {
    const raft = new FakeRaft();
    raft.refuse = new Error('broken');
    const proposals = new PendingProposals(raft, false);
    const { dropped, onDropped } = droppedLog();
    proposals.queue(bytes('a'), onDropped('a'));
    expect(() => proposals.flush(true)).toThrow('broken');
    expect(dropped).toEqual([]);
  });

  it('reports Timeout for proposals at or below an installed snapshot and keeps those above it', () => {
    const raft = new FakeRaft();
    const proposals = new PendingProposals(raft, false);
    const { dropped, onDropped } = droppedLog();
    for (const name of ['11', '12', '13']) proposals.queue(bytes(name), onDropped(name));
    proposals.flush(true);
    proposals.snapshotInstalled(12);
    expect(dropped).toEqual([['11', RaftLogErrors.Timeout], ['12', RaftLogErrors.Timeout]]);
    proposals.committed(13, 4);
    expect(dropped.slice(2)).toEqual([['13', RaftLogErrors.LeaderChanged]]);
  });

  it('fails every queued and tracked proposal with the error given, once', () => {
    const raft = new FakeRaft();
    const proposals = new PendingProposals(raft, false);
    const { dropped, onDropped } = droppedLog();
    proposals.queue(bytes('tracked'), onDropped('tracked'));
    proposals.flush(true);
    proposals.queue(bytes('queued'), onDropped('queued'));
    proposals.failAll(RaftLogErrors.Stopped);
    expect(dropped).toEqual([['queued', RaftLogErrors.Stopped], ['tracked', RaftLogErrors.Stopped]]);
    expect(proposals.hasQueued).toBe(false);
    proposals.flush(true);
    proposals.committed(11, 9);
    proposals.failAll(RaftLogErrors.Stopped);
    expect(raft.batches).toEqual([['tracked']]);
    expect(dropped).toHaveLength(2);
  });
});
