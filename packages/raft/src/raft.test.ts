import { describe, expect, it } from 'vitest';
import { decodeEntryConfChange } from './codec.js';
import { ConfigError, ProposalDroppedError } from './errors.js';
import { MemoryStorage } from './storage.js';
import { RawNode, raftOf } from './raw-node.js';
import { ProgressState } from './progress.js';
import { ReadOnlyOption } from './read-only.js';
import { TestCluster } from './test-support/cluster.js';
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  StateType,
  makeMessage,
  type Message,
} from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ids = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i + 1));

describe('single voter', () => {
  it('elects itself on campaign() and commits a proposal on its own after advance()', () => {
    const storage = new MemoryStorage();
    const node = new RawNode({ id: 1n, voters: [1n], electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 });
    node.campaign();
    expect(node.status().softState.raftState).toBe(StateType.Leader);
    node.propose(enc('x'));
    const applied: string[] = [];
    for (let i = 0; i < 10 && node.hasReady(); i++) {
      const rd = node.ready();
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      for (const e of rd.committedEntries) if (e.type === EntryType.Normal && e.data.length) applied.push(new TextDecoder().decode(e.data));
      node.advance();
    }
    expect(applied).toEqual(['x']);
    expect(node.hasReady()).toBe(false);
  });

  it('leaderLastEntry: the leader\'s term and last index as status() has them; nothing on a follower', () => {
    const storage = new MemoryStorage();
    const node = new RawNode({ id: 1n, voters: [1n], electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 });
    expect(node.leaderLastEntry()).toBeUndefined();
    node.campaign();
    node.proposeBatch([enc('a'), enc('b')]);
    const st = node.status();
    expect(node.leaderLastEntry()).toEqual({ term: st.hardState.term, lastIndex: st.lastIndex });
    expect(st.lastIndex).toBeGreaterThanOrEqual(3);
  });

  it('does not hand out an entry as committed before it has been persisted', () => {
    const storage = new MemoryStorage();
    const node = new RawNode({ id: 1n, voters: [1n], electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 });
    node.campaign();
    node.propose(enc('x'));
    const rd = node.ready();
    const persisting = new Set(rd.entries.map((e) => e.index));
    for (const e of rd.committedEntries) expect(persisting.has(e.index)).toBe(false);
    expect(rd.committedEntries.some((e) => e.data.length > 0)).toBe(false);
  });

  it('a restarted node keeps its term, vote and log', () => {
    const c = new TestCluster([1n]);
    c.elect(1n);
    c.propose(1n, 'a');
    const tn = c.get(1n);
    const before = tn.node.status();
    const again = new RawNode({ id: 1n, electionTicks: 10, heartbeatTicks: 1, storage: tn.storage, random: () => 0 });
    const after = again.status();
    expect(after.hardState).toEqual(before.hardState);
    expect(after.lastIndex).toBe(before.lastIndex);
    // Membership comes back as the committed conf changes are applied again.
    expect(after.confState.voters).toEqual([]);
    const rd = again.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual(Array.from({ length: before.lastIndex }, (_, i) => i + 1));
    for (const e of rd.committedEntries) {
      const cc = decodeEntryConfChange(e);
      if (cc) again.applyConfChange(cc);
    }
    again.advance();
    expect(again.status().confState.voters).toEqual([1n]);
  });
});

describe('restart', () => {
  it('a crash between persisting a snapshot and the hard state restarts with the snapshot index as commit', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 2, confState: { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } });
    storage.setHardState({ term: 1, vote: 0n, commit: 0 });
    const node = new RawNode({ id: 1n, electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 });
    expect(node.status().hardState.commit).toBe(5);
    expect(node.status().confState.voters).toEqual([1n, 2n, 3n]);
  });

  it('a hard state committing past the end of the log is refused (lost or truncated storage)', () => {
    const storage = new MemoryStorage();
    storage.setHardState({ term: 1, vote: 0n, commit: 3 });
    expect(() => new RawNode({ id: 1n, electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 })).toThrow(/out of range/);
  });
});

describe('config validation', () => {
  it.each([
    ['id 0', { id: 0n }],
    ['election not above heartbeat', { electionTicks: 2, heartbeatTicks: 2 }],
    ['non-positive inflight', { maxInflightMsgs: 0 }],
    ['lease reads without check-quorum', { readOnlyOption: ReadOnlyOption.LeaseBased }],
  ])('rejects %s', (_name, bad) => {
    expect(
      () => new RawNode({ id: 1n, electionTicks: 10, heartbeatTicks: 1, storage: new MemoryStorage(), random: () => 0, ...bad }),
    ).toThrow(ConfigError);
  });

  it('accepts lease reads with check-quorum', () => {
    expect(
      () =>
        new RawNode({
          id: 1n,
          electionTicks: 10,
          heartbeatTicks: 1,
          storage: new MemoryStorage(),
          random: () => 0,
          checkQuorum: true,
          readOnlyOption: ReadOnlyOption.LeaseBased,
        }),
    ).not.toThrow();
  });
});

describe('election', () => {
  it('randomized election timeouts fall in [electionTicks, 2*electionTicks)', () => {
    const seen = new Set<number>();
    for (const r of [0, 0.05, 0.5, 0.95, 0.999999]) {
      const node = new RawNode({ id: 1n, voters: [1n, 2n, 3n], electionTicks: 10, heartbeatTicks: 1, storage: new MemoryStorage(), random: () => r });
      const t = raftOf(node).randomizedElectionTimeout;
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
      seen.add(t);
    }
    expect(seen.has(10)).toBe(true);
    expect(seen.has(19)).toBe(true);
  });

  it('a follower campaigns after its election timeout and wins with a quorum', () => {
    const c = new TestCluster(ids(3));
    c.tickAll(25);
    const leaders = [...c.nodes.values()].filter((n) => n.node.status().softState.raftState === StateType.Leader);
    expect(leaders).toHaveLength(1);
  });

  it('the vote is in the Ready hard state and the vote response is sent only after persisting', () => {
    const c = new TestCluster(ids(3));
    c.handleReady(c.get(1n));
    c.handleReady(c.get(2n));
    c.queue = [];
    c.get(1n).node.campaign();
    const rd1 = c.get(1n).node.ready();
    const voteReq = rd1.messages.find((m) => m.type === MessageType.Vote)!;
    expect(rd1.hardState?.vote).toBe(1n);
    c.get(1n).node.advance();
    c.get(2n).node.step(voteReq);
    const rd2 = c.get(2n).node.ready();
    expect(rd2.hardState).toMatchObject({ term: 2, vote: 1n });
    expect(rd2.mustSync).toBe(true);
    expect(rd2.messagesBeforePersist).toEqual([]);
    expect(rd2.messages.map((m) => [m.type, m.reject])).toEqual([[MessageType.VoteResp, false]]);
  });

  it('grants at most one vote per term', () => {
    const c = new TestCluster(ids(3));
    c.stabilize();
    const r3 = c.raft(3n);
    r3.step(makeMessage({ type: MessageType.Vote, from: 1n, to: 3n, term: 5, index: 3, logTerm: 1 }));
    r3.step(makeMessage({ type: MessageType.Vote, from: 2n, to: 3n, term: 5, index: 3, logTerm: 1 }));
    const resps = r3.msgs.filter((m) => m.type === MessageType.VoteResp);
    expect(resps.map((m) => [m.to, m.reject])).toEqual([
      [1n, false],
      [2n, true],
    ]);
  });

  it.each([
    ['older last term', { index: 10, logTerm: 0 }, true],
    ['same term, shorter log', { index: 2, logTerm: 1 }, true],
    ['same term, same length', { index: 3, logTerm: 1 }, false],
    ['newer last term', { index: 1, logTerm: 2 }, false],
  ])('rejects a candidate whose log is less up to date (%s)', (_n, pos, reject) => {
    const c = new TestCluster(ids(3));
    c.stabilize();
    const r3 = c.raft(3n);
    expect(r3.raftLog.lastIndex()).toBe(3);
    r3.step(makeMessage({ type: MessageType.Vote, from: 1n, to: 3n, term: 5, ...pos }));
    expect(r3.msgs.find((m) => m.type === MessageType.VoteResp)?.reject).toBe(reject);
  });

  it('with pre-vote, a partitioned node does not raise its term and does not disrupt the leader when it returns', () => {
    const c = new TestCluster(ids(3), { preVote: true });
    c.elect(1n);
    const term = c.raft(1n).term;
    c.isolate(3n);
    c.tickAll(100);
    expect(c.raft(3n).term).toBe(term);
    c.heal();
    c.tickAll(5);
    expect(c.raft(1n).state).toBe(StateType.Leader);
    expect(c.raft(1n).term).toBe(term);
  });

  it('without pre-vote, a returning partitioned node forces a new term', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    const term = c.raft(1n).term;
    c.isolate(3n);
    c.tickAll(30);
    expect(c.raft(3n).term).toBeGreaterThan(term);
    c.heal();
    c.tickAll(30);
    expect(c.raft(1n).term).toBeGreaterThan(term);
  });

  it('with check-quorum, a leader that cannot hear from a quorum steps down', () => {
    const c = new TestCluster(ids(3), { checkQuorum: true });
    c.elect(1n);
    c.filter = (m) => m.from === 1n ? false : m.to !== 1n;
    for (let i = 0; i < 25; i++) {
      c.get(1n).node.tick();
      c.stabilize();
    }
    expect(c.raft(1n).state).toBe(StateType.Follower);
  });

  it('with check-quorum, followers ignore vote requests while they hear from a leader (leader lease)', () => {
    const c = new TestCluster(ids(3), { checkQuorum: true });
    c.elect(1n);
    const term = c.raft(1n).term;
    c.get(3n).node.campaign();
    c.stabilize();
    expect(c.raft(1n).state).toBe(StateType.Leader);
    expect(c.raft(2n).term).toBe(term);
  });

  it('a learner never campaigns', () => {
    const c = new TestCluster([], {}, 1);
    for (const id of [1n, 2n, 3n]) c.add(id, { voters: [1n, 2n], learners: [3n] });
    c.tickAll(100);
    expect(c.raft(3n).lead).not.toBe(0n);
    expect(c.raft(3n).state).toBe(StateType.Follower);
    c.get(3n).node.campaign();
    expect(c.raft(3n).state).toBe(StateType.Follower);
  });
});

describe('replication', () => {
  it('replicates proposals to every member and applies them in order everywhere', () => {
    const c = new TestCluster(ids(5));
    c.elect(1n);
    for (let i = 0; i < 20; i++) c.propose(BigInt((i % 5) + 1), `v${i}`);
    const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
    for (const id of ids(5)) expect(c.appliedData(id)).toEqual(expected);
  });

  it('a new leader does not commit entries of earlier terms by counting replicas, only with an entry of its own term', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    // Entry of term 2 reaches only node 1.
    c.filter = () => false;
    c.get(1n).node.propose(enc('old'));
    c.stabilize();
    c.heal();
    const r1 = c.raft(1n);
    const oldIndex = r1.raftLog.lastIndex();
    // Node 1 becomes leader again at a higher term; deliver nothing yet.
    r1.becomeFollower(r1.term, 0n);
    r1.becomeCandidate();
    r1.becomeLeader();
    r1.msgs = [];
    const pr2 = r1.prs.progress.get(2n)!;
    // A follower acks the old entry: still not committable (its term is not ours).
    const lastIndex = r1.raftLog.lastIndex();
    c.handleReady(c.get(1n));
    r1.step(makeMessage({ type: MessageType.AppResp, from: 2n, to: 1n, term: r1.term, index: oldIndex }));
    expect(pr2.match).toBe(oldIndex);
    expect(r1.raftLog.committed).toBeLessThan(oldIndex);
    // Once the new-term entry is replicated, both commit.
    r1.step(makeMessage({ type: MessageType.AppResp, from: 2n, to: 1n, term: r1.term, index: lastIndex }));
    expect(r1.raftLog.committed).toBe(lastIndex);
  });

  it('backs off quickly over a follower log with many conflicting entries (reject hint)', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.propose(1n, 'base');
    // Node 1 appends 50 entries that nobody else gets.
    c.filter = () => false;
    for (let i = 0; i < 50; i++) c.get(1n).node.propose(enc(`lost${i}`));
    c.stabilize();
    c.heal();
    // Node 2 leads a new term and writes different entries.
    c.isolate(1n);
    c.elect(2n);
    for (let i = 0; i < 3; i++) c.propose(2n, `new${i}`);
    c.heal();
    let appends = 0;
    c.filter = (m) => {
      if (m.to === 1n && m.type === MessageType.App) appends++;
      return true;
    };
    c.tickAll(3);
    expect(c.appliedData(1n)).toEqual(['base', 'new0', 'new1', 'new2']);
    // Without hints this would take ~50 probes.
    expect(appends).toBeLessThan(10);
  });

  it('keeps at most maxInflightMsgs appends in flight to a follower that does not answer', () => {
    const c = new TestCluster(ids(3), { maxInflightMsgs: 3, maxSizePerMsgBytes: 1 });
    c.elect(1n);
    c.propose(1n, 'warm');
    let sent = 0;
    c.filter = (m) => {
      if (m.to === 2n && m.type === MessageType.App && m.entries.length > 0) sent++;
      return m.to !== 2n && m.from !== 2n;
    };
    for (let i = 0; i < 10; i++) c.propose(1n, `x${i}`);
    expect(sent).toBe(3);
    expect(c.raft(1n).prs.progress.get(2n)!.inflights.full()).toBe(true);
  });

  it('limits the entry bytes per append message but always sends at least one entry', () => {
    const c = new TestCluster(ids(2), { maxSizePerMsgBytes: 100 });
    c.elect(1n);
    c.isolate(2n);
    for (let i = 0; i < 10; i++) c.get(1n).node.propose(new Uint8Array(60));
    c.get(1n).node.propose(new Uint8Array(500));
    c.stabilize();
    c.heal();
    const sizes: number[] = [];
    c.filter = (m) => {
      if (m.type === MessageType.App && m.entries.length > 0) sizes.push(m.entries.reduce((s, e) => s + e.data.length + 16, 0));
      return true;
    };
    c.tickAll(2);
    expect(sizes.length).toBeGreaterThan(3);
    for (const s of sizes) expect(s <= 100 || s === 516).toBe(true);
    expect(c.get(2n).applied.length).toBe(c.get(1n).applied.length);
  });

  it('drops proposals when there is no leader', () => {
    const c = new TestCluster(ids(3));
    expect(() => c.get(1n).node.propose(enc('x'))).toThrow(ProposalDroppedError);
  });

  it('drops proposals beyond the uncommitted size limit', () => {
    const c = new TestCluster(ids(3), { maxUncommittedEntriesSizeBytes: 1000 });
    c.elect(1n);
    c.isolate(1n);
    c.get(1n).node.propose(new Uint8Array(600));
    expect(() => c.get(1n).node.propose(new Uint8Array(600))).toThrow(ProposalDroppedError);
  });

  it('followers forward proposals to the leader', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.propose(3n, 'from-follower');
    expect(c.appliedData(1n)).toEqual(['from-follower']);
  });

  it('leader appends and heartbeats may go before persisting; everything else waits', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.get(1n).node.propose(enc('x'));
    const rd = c.get(1n).node.ready();
    expect(rd.messagesBeforePersist.length).toBeGreaterThan(0);
    for (const m of rd.messagesBeforePersist) expect([MessageType.App, MessageType.Heartbeat, MessageType.Snap]).toContain(m.type);
    c.get(1n).node.advance();
    // A follower's acknowledgement must wait for its own persistence.
    const f = c.get(2n).node;
    for (const m of rd.messagesBeforePersist.filter((x) => x.to === 2n)) f.step(m);
    const frd = f.ready();
    expect(frd.messagesBeforePersist).toEqual([]);
    expect(frd.messages.some((m) => m.type === MessageType.AppResp)).toBe(true);
  });
});

describe('term and log rules', () => {
  it('the leader counts its own new entries towards the commit quorum only after advance()', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    const leader = c.get(1n).node;
    const r1 = c.raft(1n);
    leader.propose(enc('x'));
    const rd = leader.ready();
    const index = rd.entries[rd.entries.length - 1]!.index;
    // One follower acks while the leader's own write is still in flight:
    // only one durable copy exists, not a quorum of three.
    r1.step(makeMessage({ type: MessageType.AppResp, from: 2n, to: 1n, term: r1.term, index }));
    expect(r1.raftLog.committed).toBeLessThan(index);
    c.get(1n).storage.append(rd.entries);
    leader.advance();
    expect(r1.raftLog.committed).toBe(index);
  });

  it('a follower truncates a conflicting uncommitted tail to match the leader', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.filter = () => false;
    c.get(1n).node.propose(enc('orphan'));
    c.stabilize();
    c.heal();
    c.isolate(1n);
    c.elect(2n);
    c.propose(2n, 'winner');
    c.heal();
    c.tickAll(2);
    expect(c.appliedData(1n)).toEqual(['winner']);
    const terms = (id: bigint) => c.raft(id).raftLog.allEntries().map((e) => e.term);
    expect(terms(1n)).toEqual(terms(2n));
  });

  it('messages from an older term are ignored, but with check-quorum a stale leader is told the new term', () => {
    const c = new TestCluster(ids(3), { checkQuorum: true });
    c.elect(1n);
    const r2 = c.raft(2n);
    const term = r2.term;
    r2.step(makeMessage({ type: MessageType.App, from: 3n, to: 2n, term: term - 1, index: 0, logTerm: 0 }));
    expect(r2.term).toBe(term);
    const reply = r2.msgs.find((m) => m.to === 3n)!;
    expect(reply.type).toBe(MessageType.AppResp);
    expect(reply.term).toBe(term);
  });

  it('a learner with a higher term answers a stale leader so that it learns the term (no pre-vote, no check-quorum)', () => {
    const c = new TestCluster([], {}, 1);
    for (const id of [1n, 2n, 3n]) c.add(id, { voters: [1n, 2n], learners: [3n] });
    c.elect(1n);
    const r3 = c.raft(3n);
    expect(r3.term).toBe(c.raft(1n).term);
    r3.becomeFollower(r3.term + 5, 0n);
    c.tickAll(3);
    // The leader stepped down on the learner's answer; a new election at a
    // higher term brings the learner back in.
    c.tickAll(40);
    const leader = [1n, 2n].find((id) => c.raft(id).state === StateType.Leader)!;
    expect(c.raft(leader).term).toBeGreaterThan(r3.term - 1);
    c.propose(leader, 'caught-up');
    expect(c.appliedData(3n)).toEqual(['caught-up']);
  });

  it('heartbeats never tell a follower to commit past what it is known to hold', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.isolate(3n);
    c.propose(1n, 'a');
    c.propose(1n, 'b');
    c.heal();
    const r1 = c.raft(1n);
    r1.msgs = [];
    r1.step(makeMessage({ type: MessageType.Beat, from: 1n }));
    const hb = r1.msgs.find((m) => m.type === MessageType.Heartbeat && m.to === 3n)!;
    expect(hb.commit).toBe(r1.prs.progress.get(3n)!.match);
    expect(hb.commit).toBeLessThan(r1.raftLog.committed);
  });

  it('a candidate that hears an append from a leader of its term becomes its follower', () => {
    const c = new TestCluster(ids(3));
    c.stabilize();
    const r3 = c.raft(3n);
    r3.becomeCandidate();
    r3.step(makeMessage({ type: MessageType.App, from: 1n, to: 3n, term: r3.term, index: 3, logTerm: 1, commit: 3 }));
    expect(r3.state).toBe(StateType.Follower);
    expect(r3.lead).toBe(1n);
  });

  it('pre-vote: a node with a stale log loses and nobody raises their term', () => {
    const c = new TestCluster(ids(3), { preVote: true });
    c.elect(1n);
    c.isolate(3n);
    c.propose(1n, 'x');
    c.heal();
    c.filter = (m) => m.type !== MessageType.App && m.type !== MessageType.Heartbeat;
    const term = c.raft(1n).term;
    c.get(3n).node.campaign();
    c.stabilize();
    expect(c.raft(3n).state).toBe(StateType.Follower);
    for (const id of ids(3)) expect(c.raft(id).term).toBe(term);
  });
});

describe('ReadIndex', () => {
  it('the leader confirms leadership with a heartbeat round before answering', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    const hb: Message[] = [];
    c.filter = (m) => {
      if (m.type === MessageType.Heartbeat) hb.push(m);
      return m.type !== MessageType.HeartbeatResp;
    };
    c.get(1n).node.readIndex(enc('r1'));
    c.stabilize();
    expect(c.get(1n).readStates).toEqual([]);
    expect(hb.length).toBe(2);
    c.heal();
    c.get(1n).node.readIndex(enc('r2'));
    c.stabilize();
    expect(c.get(1n).readStates.map((r) => new TextDecoder().decode(r.requestCtx))).toEqual(['r1', 'r2']);
    expect(c.get(1n).readStates[1]!.index).toBe(c.raft(1n).raftLog.committed);
  });

  it('concurrent requests are answered by one quorum of acks', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    const n = c.get(1n).node;
    n.readIndex(enc('a'));
    n.readIndex(enc('b'));
    n.readIndex(enc('c'));
    // Only acks for the last round get through: all three are answered.
    c.filter = (m) => m.type !== MessageType.HeartbeatResp || new TextDecoder().decode(m.context) === 'c';
    c.stabilize();
    expect(c.get(1n).readStates.map((r) => new TextDecoder().decode(r.requestCtx))).toEqual(['a', 'b', 'c']);
  });

  it('a follower forwards the request and gets the leader commit index', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.propose(1n, 'w');
    c.get(3n).node.readIndex(enc('f'));
    c.stabilize();
    expect(c.get(3n).readStates).toHaveLength(1);
    expect(c.get(3n).readStates[0]!.index).toBe(c.raft(1n).raftLog.committed);
  });

  it('a new leader answers only after committing an entry of its own term', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    const r1 = c.raft(1n);
    // Hold back appends so the leader's first entry does not commit.
    c.filter = (m) => m.type !== MessageType.AppResp;
    c.get(1n).node.propose(enc('x'));
    c.stabilize();
    r1.becomeFollower(r1.term, 0n);
    r1.becomeCandidate();
    r1.becomeLeader();
    c.stabilize();
    c.get(1n).node.readIndex(enc('early'));
    c.stabilize();
    expect(c.get(1n).readStates).toEqual([]);
    c.heal();
    c.tickAll(2);
    expect(c.get(1n).readStates.map((r) => new TextDecoder().decode(r.requestCtx))).toEqual(['early']);
    expect(c.raft(1n).raftLog.zeroTermOnErr(c.get(1n).readStates[0]!.index)).toBe(c.raft(1n).term);
  });

  it('a leader holds at most maxPendingReadIndexRequests unanswered requests', () => {
    const c = new TestCluster(ids(3), { maxPendingReadIndexRequests: 2 });
    c.elect(1n);
    c.filter = () => false;
    c.get(1n).node.readIndex(enc('a'));
    c.get(1n).node.readIndex(enc('b'));
    expect(() => c.get(1n).node.readIndex(enc('c'))).toThrow(ProposalDroppedError);
    c.heal();
    c.tickAll(1);
    expect(c.get(1n).readStates.map((r) => new TextDecoder().decode(r.requestCtx))).toEqual(['a', 'b']);
    expect(() => c.get(1n).node.readIndex(enc('d'))).not.toThrow();
  });

  it('a sole voter leader serves reads at its commit index with no round, only once an entry of its term committed', () => {
    const c = new TestCluster(ids(1));
    const n = c.get(1n).node;
    expect(n.soleVoterReadIndex()).toBeUndefined();
    c.raft(1n).becomeCandidate();
    c.raft(1n).becomeLeader();
    // Leader, but its empty entry of the new term is not yet persisted, so not committed.
    expect(n.soleVoterReadIndex()).toBeUndefined();
    c.stabilize();
    c.propose(1n, 'w');
    expect(n.soleVoterReadIndex()).toBe(c.raft(1n).raftLog.committed);
    expect(c.appliedData(1n)).toEqual(['w']);
  });

  it('a leader with peers gets no read point without a round', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.propose(1n, 'w');
    expect(c.get(1n).node.soleVoterReadIndex()).toBeUndefined();
  });

  it('lease-based reads answer at once on a leader with check-quorum', () => {
    const c = new TestCluster(ids(3), { checkQuorum: true, readOnlyOption: ReadOnlyOption.LeaseBased });
    c.elect(1n);
    c.filter = () => false;
    c.get(1n).node.readIndex(enc('l'));
    c.stabilize();
    expect(c.get(1n).readStates).toHaveLength(1);
  });
});

describe('snapshots and compaction', () => {
  it('sends a snapshot when the follower needs compacted entries, then resumes appends', () => {
    const c = new TestCluster(ids(3));
    c.isolate(3n);
    c.elect(1n);
    for (let i = 0; i < 10; i++) c.propose(1n, `v${i}`);
    const leader = c.get(1n);
    const applied = leader.applied[leader.applied.length - 1]!.index;
    leader.storage.createSnapshot(applied, leader.node.status().confState, enc('state'));
    leader.storage.compact(applied);
    c.heal();
    const snaps: bigint[] = [];
    c.filter = (m) => {
      if (m.type === MessageType.Snap) snaps.push(m.to);
      return true;
    };
    c.tickAll(1);
    expect(snaps).toEqual([3n]);
    expect(c.get(3n).storage.snapshot().metadata.index).toBe(applied);
    expect(c.raft(3n).prs.confState().voters).toEqual([1n, 2n, 3n]);
    leader.node.reportSnapshot(3n, 'finish');
    c.propose(1n, 'after');
    expect(c.appliedData(3n)).toEqual(['after']);
    expect(c.raft(1n).prs.progress.get(3n)!.state).toBe(ProgressState.Replicate);
  });

  it('a snapshot that arrives while committed entries are being applied is deferred until advance()', () => {
    const storage = new MemoryStorage();
    const node = new RawNode({ id: 3n, voters: [1n, 2n, 3n], electionTicks: 10, heartbeatTicks: 1, storage, random: () => 0 });
    const rd1 = node.ready();
    storage.append(rd1.entries);
    if (rd1.hardState) storage.setHardState(rd1.hardState);
    node.advance();
    const rd2 = node.ready();
    expect(rd2.committedEntries.length).toBe(3);
    const snap = makeMessage({
      type: MessageType.Snap,
      from: 1n,
      to: 3n,
      term: 2,
      snapshot: {
        data: enc('s'),
        metadata: { index: 10, term: 2, confState: { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
      },
    });
    node.step(snap);
    expect(raftOf(node).raftLog.hasPendingSnapshot()).toBe(false);
    node.advance();
    node.step(snap);
    const rd3 = node.ready();
    expect(rd3.snapshot?.metadata.index).toBe(10);
    // First the answer to the deferred copy (our commit index), then the ack of the snapshot.
    expect(rd3.messages.filter((m) => m.type === MessageType.AppResp).map((m) => m.index)).toEqual([3, 10]);
  });

  it('a lost snapshot reported as failed sends the follower back to probing, and a new snapshot follows', () => {
    const c = new TestCluster(ids(3));
    c.isolate(3n);
    c.elect(1n);
    c.propose(1n, 'a');
    const leader = c.get(1n);
    const idx = leader.applied[leader.applied.length - 1]!.index;
    leader.storage.createSnapshot(idx, leader.node.status().confState, enc('s'));
    leader.storage.compact(idx);
    c.filter = (m) => m.type !== MessageType.Snap;
    c.tickAll(1);
    const pr = c.raft(1n).prs.progress.get(3n)!;
    expect(pr.state).toBe(ProgressState.Snapshot);
    c.tickAll(5);
    // Nothing more is sent to a follower in snapshot state until the report.
    expect(pr.state).toBe(ProgressState.Snapshot);
    leader.node.reportSnapshot(3n, 'failure');
    expect(pr.state).toBe(ProgressState.Probe);
    c.heal();
    c.tickAll(3);
    expect(c.get(3n).storage.snapshot().metadata.index).toBe(idx);
  });

  it('reportUnreachable moves a replicating follower back to probe', () => {
    const c = new TestCluster(ids(2));
    c.elect(1n);
    c.propose(1n, 'a');
    const pr = c.raft(1n).prs.progress.get(2n)!;
    expect(pr.state).toBe(ProgressState.Replicate);
    c.get(1n).node.reportUnreachable(2n);
    expect(pr.state).toBe(ProgressState.Probe);
  });
});

describe('membership', () => {
  it('adds a learner that replicates but does not vote, then promotes it', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.add(4n, {});
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    c.propose(1n, 'x');
    expect(c.appliedData(4n)).toEqual(['x']);
    expect(c.raft(1n).prs.confState().learners).toEqual([4n]);
    expect(c.raft(1n).prs.isVoter(4n)).toBe(false);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.raft(1n).prs.confState().voters).toEqual([1n, 2n, 3n, 4n]);
    expect(c.raft(4n).prs.confState().voters).toEqual([1n, 2n, 3n, 4n]);
  });

  it('joint consensus with auto-leave enters and leaves the joint config', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.add(4n, {});
    c.add(5n, {});
    c.get(1n).node.proposeConfChange({
      transition: ConfChangeTransition.Auto,
      changes: [
        { type: ConfChangeType.AddNode, nodeId: 4n },
        { type: ConfChangeType.AddNode, nodeId: 5n },
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
      ],
      context: new Uint8Array(0),
    });
    c.stabilize();
    for (const id of [1n, 2n, 4n, 5n]) {
      const cs = c.raft(id).prs.confState();
      expect(cs.voters).toEqual([1n, 2n, 4n, 5n]);
      expect(cs.votersOutgoing).toEqual([]);
    }
    c.propose(1n, 'after');
    expect(c.appliedData(5n)).toEqual(['after']);
  });

  it('explicit joint configs stay joint until an empty change leaves them', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.add(4n, {});
    c.get(1n).node.proposeConfChange({
      transition: ConfChangeTransition.JointExplicit,
      changes: [
        { type: ConfChangeType.AddNode, nodeId: 4n },
        { type: ConfChangeType.RemoveNode, nodeId: 2n },
      ],
      context: new Uint8Array(0),
    });
    c.stabilize();
    expect(c.raft(1n).prs.confState().votersOutgoing).toEqual([1n, 2n, 3n]);
    // Any other change is refused while joint.
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 9n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.raft(1n).prs.confState().votersOutgoing).toEqual([1n, 2n, 3n]);
    c.get(1n).node.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: new Uint8Array(0) });
    c.stabilize();
    expect(c.raft(1n).prs.confState()).toMatchObject({ voters: [1n, 3n, 4n], votersOutgoing: [] });
  });

  it('refuses a second conf change while one is unapplied, and one that removes every voter', () => {
    const c = new TestCluster(ids(1));
    c.elect(1n);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.raft(1n).prs.confState().voters).toEqual([1n]);
    const last = c.get(1n).applied[c.get(1n).applied.length - 1]!;
    expect(last.type).toBe(EntryType.Normal);
  });

  it('a conf change entry with undecodable data is refused, not appended', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.get(2n).node.step(
      makeMessage({
        type: MessageType.Prop,
        from: 2n,
        to: 1n,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data: new Uint8Array([1, 99, 99]) }],
      }),
    );
    c.stabilize();
    const last = c.get(1n).applied[c.get(1n).applied.length - 1]!;
    expect(last.type).toBe(EntryType.Normal);
    expect(last.data.length).toBe(0);
    expect(c.raft(1n).prs.confState().voters).toEqual([1n, 2n, 3n]);
  });

  it('a leader removed from the config steps down and another voter takes over', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.get(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1n, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.raft(1n).state).toBe(StateType.Follower);
    c.nodes.delete(1n);
    c.tickAll(30);
    const leader = [2n, 3n].find((id) => c.raft(id).state === StateType.Leader);
    expect(leader).toBeDefined();
    c.propose(leader!, 'post');
    expect(c.appliedData(2n)).toContain('post');
  });
});

describe('leadership transfer', () => {
  it('catches the target up, then sends TimeoutNow; the target wins at once', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.isolate(3n);
    c.propose(1n, 'a');
    c.heal();
    const timeoutNow: bigint[] = [];
    c.filter = (m) => {
      if (m.type === MessageType.TimeoutNow) timeoutNow.push(m.to);
      return true;
    };
    c.get(1n).node.transferLeader(3n);
    c.stabilize();
    expect(timeoutNow).toEqual([3n]);
    expect(c.raft(3n).state).toBe(StateType.Leader);
    expect(c.raft(1n).state).toBe(StateType.Follower);
  });

  it('proposals are dropped while a transfer is in progress, and the transfer is abandoned after an election timeout', () => {
    const c = new TestCluster(ids(3));
    c.elect(1n);
    c.isolate(3n);
    c.get(1n).node.transferLeader(3n);
    c.stabilize();
    expect(() => c.get(1n).node.propose(enc('x'))).toThrow(ProposalDroppedError);
    for (let i = 0; i < 12; i++) {
      c.get(1n).node.tick();
      c.stabilize();
    }
    expect(c.raft(1n).leadTransferee).toBe(0n);
    expect(c.tryPropose(1n, 'y')).toBe(true);
  });

  it('transfer works with pre-vote and check-quorum enabled', () => {
    const c = new TestCluster(ids(3), { preVote: true, checkQuorum: true });
    c.elect(1n);
    c.get(1n).node.transferLeader(2n);
    c.stabilize();
    expect(c.raft(2n).state).toBe(StateType.Leader);
  });
});
