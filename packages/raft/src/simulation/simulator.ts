/**
 * Deterministic simulation of a raft cluster: N nodes on a simulated network
 * driven by one seeded PRNG. Faults: drops, duplicates, reordering, delays,
 * partitions that heal, crashes that lose whatever was not yet persisted,
 * restarts from storage, clock skew in ticks, membership changes, leader
 * transfers, compaction. Invariants are checked as the run goes; the first
 * violation ends it with a description. The same seed replays the same run.
 */
import { decodeEntryConfChange, decodeMessage, encodeMessage } from '../codec.js';
import { ProposalDroppedError } from '../errors.js';
import { RawNode, SnapshotStatus, raftOf, type Ready } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  StateType,
  emptyConfState,
  messageTypeName,
  type ConfChangeSingle,
  type ConfState,
  type Entry,
  type Message,
} from '../types.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  /** Initial voters (3, 5 or 7 when derived from the seed). */
  voters: number;
  /** Initial learners. */
  learners: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Ticks with faults injected. */
  chaosTicks: number;
  /** Upper bound on ticks for the cluster to recover once faults stop. */
  livenessTicks: number;
  electionTicks: number;
  heartbeatTicks: number;
  dropRate: number;
  dupRate: number;
  maxDelayTicks: number;
  crashRate: number;
  membershipRate: number;
  /** Chance per round that a node's disk write is still in flight. */
  slowDiskRate: number;
  /** Receives one line per notable event when replaying a seed. */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failure?: string;
  ticks: number;
  /** Entries applied on the node that applied the most. */
  committed: number;
  leaders: number;
  messages: number;
}

/** Pick a scenario (cluster size, features, fault rates) from the seed. */
export function optionsForSeed(seed: number): SimOptions {
  const r = new Prng(seed ^ 0x5eed);
  const voters = r.pick([3, 3, 3, 5, 5, 7]);
  return {
    seed,
    voters,
    learners: r.chance(0.3) ? 1 + r.int(2) : 0,
    preVote: r.chance(0.5),
    checkQuorum: r.chance(0.5),
    chaosTicks: 150 + r.int(150),
    livenessTicks: 600,
    electionTicks: 10,
    heartbeatTicks: 1 + r.int(3),
    dropRate: r.pick([0, 0.01, 0.05, 0.15]),
    dupRate: r.pick([0, 0.02, 0.1]),
    maxDelayTicks: r.pick([0, 1, 3, 6]),
    crashRate: r.pick([0, 0.005, 0.02]),
    membershipRate: r.pick([0, 0.02, 0.05]),
    slowDiskRate: r.pick([0, 0.2, 0.5]),
  };
}

class InvariantViolation extends Error {}

interface InFlight {
  deliverAt: number;
  order: number;
  bytes: Uint8Array;
  from: bigint;
  to: bigint;
  type: MessageType;
}

interface SimNode {
  id: bigint;
  storage: MemoryStorage;
  node: RawNode | undefined;
  /** Bootstrap membership for initial members; empty for nodes that join later. */
  bootstrap: { voters: bigint[]; learners: bigint[] };
  /** Volatile application state: last applied index and the config at it. */
  applied: number;
  confState: ConfState;
  /** Removed from the cluster and shut down for good. */
  removed: boolean;
  /** Highest commit index already checked against the global record. */
  checkedCommit: number;
  /** A Ready taken but not yet persisted (its disk write is in flight). */
  pending: Ready | undefined;
  rng: Prng;
}

interface PendingRead {
  node: bigint;
  /** Highest index of a write acknowledged (applied somewhere) before the read was asked. */
  mustSee: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Simulator {
  private readonly rng: Prng;
  private readonly nodes = new Map<bigint, SimNode>();
  private network: InFlight[] = [];
  private tickNo = 0;
  private partition: Set<bigint> | undefined;
  /** Term of every committed index, as first observed on any node. */
  private readonly committedTerms: number[] = [0];
  /** Identity (term/type/data) of every applied index, as first applied anywhere. */
  private readonly appliedKeys: string[] = [''];
  /** Highest index applied anywhere: every write at or below it may have been acknowledged. */
  private ackedIndex = 0;
  private readonly leaderOfTerm = new Map<number, bigint>();
  private readonly reads = new Map<string, PendingRead>();
  private proposalSeq = 0;
  /** Where each liveness marker was applied. */
  private readonly markerIndex = new Map<string, number>();
  private readSeq = 0;
  private nextNewId: bigint;
  private messagesSent = 0;
  private readonly allIds: bigint[] = [];
  /** IDs that appeared in some applied config. */
  private readonly everMember = new Set<bigint>();

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    const voters: bigint[] = [];
    const learners: bigint[] = [];
    for (let i = 1; i <= opts.voters; i++) voters.push(BigInt(i));
    for (let i = 1; i <= opts.learners; i++) learners.push(BigInt(opts.voters + i));
    for (const id of [...voters, ...learners]) this.addNode(id, { voters, learners });
    this.nextNewId = BigInt(opts.voters + opts.learners + 1);
  }

  private trace(line: string): void {
    this.opts.trace?.(`[t=${this.tickNo}] ${line}`);
  }

  private fail(msg: string): never {
    throw new InvariantViolation(msg);
  }

  private addNode(id: bigint, bootstrap: { voters: bigint[]; learners: bigint[] }): void {
    const sn: SimNode = {
      id,
      storage: new MemoryStorage(),
      node: undefined,
      bootstrap,
      applied: 0,
      confState: emptyConfState(),
      removed: false,
      checkedCommit: 0,
      pending: undefined,
      rng: this.rng.fork(),
    };
    this.nodes.set(id, sn);
    this.allIds.push(id);
    this.start(sn);
  }

  private start(sn: SimNode): void {
    const snap = sn.storage.snapshot();
    // The application state is volatile: it restarts from the last snapshot.
    sn.applied = snap.metadata.index;
    sn.confState = snap.metadata.confState;
    sn.checkedCommit = 0;
    sn.pending = undefined;
    const rng = sn.rng.fork();
    sn.node = new RawNode({
      id: sn.id,
      voters: sn.bootstrap.voters,
      learners: sn.bootstrap.learners,
      storage: sn.storage,
      applied: sn.applied,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      maxSizePerMsgBytes: 256,
      maxInflightMsgs: 4,
      random: () => rng.next(),
    });
    this.trace(`start ${sn.id} (applied ${sn.applied})`);
  }

  private crash(sn: SimNode, why: string): void {
    sn.node = undefined;
    sn.pending = undefined;
    this.trace(`crash ${sn.id} (${why})`);
  }

  private running(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.node !== undefined);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const sn of this.running()) {
      const r = raftOf(sn.node!);
      if (r.state === StateType.Leader && r.term > bestTerm) {
        best = sn;
        bestTerm = r.term;
      }
    }
    return best;
  }

  // ------------------------------------------------------------- network

  private connected(a: bigint, b: bigint): boolean {
    if (!this.partition) return true;
    return this.partition.has(a) === this.partition.has(b);
  }

  private send(from: SimNode, m: Message, chaos: boolean): void {
    this.messagesSent++;
    const bytes = encodeMessage(m);
    const drop = chaos && (this.rng.chance(this.opts.dropRate) || !this.connected(m.from, m.to));
    if (drop) {
      if (m.type === MessageType.Snap) from.node?.reportSnapshot(m.to, SnapshotStatus.Failure);
      else if (this.rng.chance(0.3)) from.node?.reportUnreachable(m.to);
      return;
    }
    const copies = chaos && this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = chaos ? this.rng.int(this.opts.maxDelayTicks + 1) : Math.min(1, this.opts.maxDelayTicks);
      this.network.push({ deliverAt: this.tickNo + delay, order: this.rng.nextU32(), bytes, from: m.from, to: m.to, type: m.type });
    }
  }

  /** Deliver every message due now, in random order. Returns how many were delivered. */
  private deliverDue(chaos: boolean): number {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.network) (f.deliverAt <= this.tickNo ? due : later).push(f);
    this.network = later;
    due.sort((a, b) => a.order - b.order);
    for (const f of due) {
      const sn = this.nodes.get(f.to);
      // A partition that formed while the message was in flight also cuts it.
      if (!sn?.node || (chaos && !this.connected(f.from, f.to))) {
        // The transport notices a failed snapshot stream and says so.
        if (f.type === MessageType.Snap) this.nodes.get(f.from)?.node?.reportSnapshot(f.to, SnapshotStatus.Failure);
        continue;
      }
      const m = decodeMessage(f.bytes);
      sn.node.step(m);
      if (f.type === MessageType.Snap) this.nodes.get(f.from)?.node?.reportSnapshot(f.to, SnapshotStatus.Finish);
    }
    return due.length;
  }

  // ------------------------------------------------------------- ready handling

  /**
   * Handle Readies like a server whose disk write runs in parallel with the
   * network: after `messagesBeforePersist` go out, the write may stay in
   * flight for a while and the node keeps stepping incoming messages (it
   * just cannot take another Ready) until the write completes.
   */
  private processReady(sn: SimNode, chaos: boolean): void {
    for (let guard = 0; guard < 50; guard++) {
      const node = sn.node;
      if (!node) return;
      if (!sn.pending) {
        if (!node.hasReady()) return;
        const rd = node.ready();
        for (const m of rd.messagesBeforePersist) this.send(sn, m, chaos);
        sn.pending = rd;
        if (chaos && this.rng.chance(this.opts.slowDiskRate)) return;
      } else if (chaos && this.rng.chance(this.opts.slowDiskRate)) {
        // A crash while the write is in flight loses it, after its early
        // messages went out and possibly after acks for it came back.
        if (this.rng.chance(this.opts.crashRate)) this.crash(sn, 'during a slow disk write');
        return;
      }
      const rd = sn.pending;
      if (chaos && this.rng.chance(this.opts.crashRate * 0.2)) {
        this.crash(sn, 'before persisting a Ready');
        return;
      }
      if (!this.persist(sn, rd, chaos)) {
        this.crash(sn, 'after persisting entries, before the hard state');
        return;
      }
      if (chaos && this.rng.chance(this.opts.crashRate * 0.1)) {
        this.crash(sn, 'after persisting, before sending');
        return;
      }
      for (const m of rd.messages) this.send(sn, m, chaos);
      sn.pending = undefined;
      this.apply(sn, rd);
      if (sn.removed) return;
      node.advance();
    }
  }

  /**
   * Persist in the documented order (snapshot, entries, hard state). With
   * faults on, a crash may cut it short before the hard state: returns false.
   */
  private persist(sn: SimNode, rd: Ready, chaos: boolean): boolean {
    if (rd.snapshot) sn.storage.applySnapshot(rd.snapshot);
    sn.storage.append(rd.entries);
    if (chaos && rd.hardState && this.rng.chance(this.opts.crashRate * 0.1)) return false;
    if (rd.hardState) sn.storage.setHardState(rd.hardState);
    return true;
  }

  private entryKey(e: Entry): string {
    return `${e.term}/${e.type}/${dec.decode(e.data)}`;
  }

  private apply(sn: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      const s = rd.snapshot.metadata;
      if (s.index > sn.applied) {
        if (s.index < this.appliedKeys.length) {
          // Fine: the snapshot covers entries applied elsewhere.
        } else if (s.index > this.ackedIndex) {
          this.fail(`node ${sn.id} received snapshot at ${s.index} beyond anything applied anywhere (${this.ackedIndex})`);
        }
        sn.applied = s.index;
        sn.confState = s.confState;
        this.trace(`${sn.id} applied snapshot ${s.index}/${s.term}`);
      }
    }
    for (const e of rd.committedEntries) {
      if (e.index !== sn.applied + 1) this.fail(`node ${sn.id} applied index ${e.index} after ${sn.applied}`);
      const key = this.entryKey(e);
      const known = this.appliedKeys[e.index];
      if (known === undefined) {
        if (e.index !== this.appliedKeys.length) this.fail(`gap in applied indexes at ${e.index}`);
        this.appliedKeys.push(key);
      } else if (known !== key) {
        this.fail(`state machine safety: node ${sn.id} applied ${key} at ${e.index}, another node applied ${known}`);
      }
      const ct = this.committedTerms[e.index];
      if (ct !== undefined && ct !== e.term) this.fail(`applied entry ${e.index} has term ${e.term}, committed term was ${ct}`);
      if (known === undefined && e.type === EntryType.Normal && e.data[0] === 0x66 /* 'f' */) {
        this.markerIndex.set(dec.decode(e.data), e.index);
      }
      sn.applied = e.index;
      this.ackedIndex = Math.max(this.ackedIndex, e.index);
      const cc = decodeEntryConfChange(e);
      if (cc) {
        const member = (c: ConfState): boolean =>
          [c.voters, c.learners, c.votersOutgoing, c.learnersNext].some((ids) => ids.includes(sn.id));
        const wasMember = member(sn.confState);
        sn.confState = sn.node!.applyConfChange(cc);
        this.trace(`${sn.id} applied conf change at ${e.index}: voters=${sn.confState.voters} out=${sn.confState.votersOutgoing} learners=${sn.confState.learners}`);
        const cs = sn.confState;
        for (const ids of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) for (const id of ids) this.everMember.add(id);
        if (wasMember && !member(cs)) {
          // Like a server: a removed member shuts down.
          sn.removed = true;
          sn.node = undefined;
          this.trace(`${sn.id} removed from the cluster; shutting down`);
          return;
        }
      }
    }
    for (const rs of rd.readStates) {
      const key = dec.decode(rs.requestCtx);
      const pr = this.reads.get(key);
      if (!pr) continue;
      this.reads.delete(key);
      if (rs.index < pr.mustSee) {
        this.fail(`stale read: ${key} on ${pr.node} got read index ${rs.index} but a write at ${pr.mustSee} was acknowledged before it was asked`);
      }
    }
  }

  // ------------------------------------------------------------- invariants

  private checkStep(): void {
    for (const sn of this.running()) {
      const r = raftOf(sn.node!);
      if (r.state === StateType.Leader) {
        const prev = this.leaderOfTerm.get(r.term);
        if (prev === undefined) {
          this.leaderOfTerm.set(r.term, sn.id);
          this.checkLeaderCompleteness(sn);
        } else if (prev !== sn.id) {
          this.fail(`election safety: ${prev} and ${sn.id} are both leaders of term ${r.term}`);
        }
      }
      const log = r.raftLog;
      for (let i = sn.checkedCommit + 1; i <= log.committed; i++) {
        const t = log.tryTerm(i);
        if (t === undefined || i < log.firstIndex()) continue;
        const known = this.committedTerms[i];
        if (known === undefined) {
          if (i === this.committedTerms.length) this.committedTerms.push(t);
        } else if (known !== t) {
          this.fail(`committed entry changed: node ${sn.id} has term ${t} at committed index ${i}, was ${known}`);
        }
      }
      sn.checkedCommit = Math.max(sn.checkedCommit, log.committed);
    }
  }

  private checkLeaderCompleteness(sn: SimNode): void {
    const log = raftOf(sn.node!).raftLog;
    const term = raftOf(sn.node!).term;
    for (let i = log.firstIndex(); i < this.committedTerms.length; i++) {
      const ct = this.committedTerms[i]!;
      if (ct >= term) continue;
      const t = log.tryTerm(i);
      if (i > log.lastIndex() || (t !== undefined && t !== ct)) {
        this.fail(`leader completeness: leader ${sn.id} of term ${term} lacks committed entry ${i} (term ${ct}); has ${t}`);
      }
    }
  }

  /** Log matching: if two logs hold an entry with the same index and term, they are identical up to it. */
  private checkLogMatching(): void {
    const logs = this.running().map((sn) => {
      const log = raftOf(sn.node!).raftLog;
      return { id: sn.id, first: log.firstIndex(), ents: log.allEntries() };
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const A = logs[a]!;
        const B = logs[b]!;
        const lo = Math.max(A.first, B.first);
        const hi = Math.min(A.first + A.ents.length, B.first + B.ents.length) - 1;
        let lastMatch = -1;
        for (let i = hi; i >= lo; i--) {
          if (A.ents[i - A.first]!.term === B.ents[i - B.first]!.term) {
            lastMatch = i;
            break;
          }
        }
        for (let i = lo; i <= lastMatch; i++) {
          const ea = A.ents[i - A.first]!;
          const eb = B.ents[i - B.first]!;
          if (this.entryKey(ea) !== this.entryKey(eb)) {
            this.fail(`log matching: nodes ${A.id} and ${B.id} agree at ${lastMatch} but differ at ${i}: ${this.entryKey(ea)} vs ${this.entryKey(eb)}`);
          }
        }
      }
    }
  }

  // ------------------------------------------------------------- chaos

  private propose(sn: SimNode): void {
    const data = enc.encode(`p${this.proposalSeq++}`);
    try {
      sn.node!.propose(data);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  private read(sn: SimNode): void {
    const key = `r${this.readSeq++}`;
    try {
      sn.node!.readIndex(enc.encode(key));
      this.reads.set(key, { node: sn.id, mustSee: this.ackedIndex });
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  private compact(sn: SimNode): void {
    const snapIndex = sn.storage.snapshot().metadata.index;
    if (sn.applied <= snapIndex + 2) return;
    sn.storage.createSnapshot(sn.applied, sn.confState, enc.encode(`snap@${sn.applied}`));
    const keep = this.rng.int(5);
    const upTo = sn.applied - keep;
    if (upTo > snapIndex) sn.storage.compact(upTo);
    this.trace(`${sn.id} snapshot at ${sn.applied}, compacted to ${upTo}`);
  }

  private changeMembership(leader: SimNode): void {
    const cs = raftOf(leader.node!).prs.confState();
    const node = leader.node!;
    const drop = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
    };
    if (cs.votersOutgoing.length > 0) {
      if (!cs.autoLeave) {
        this.trace(`propose leave joint`);
        drop(() => node.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [], context: new Uint8Array(0) }));
      }
      return;
    }
    const choice = this.rng.int(5);
    const live = (ids: bigint[]): bigint[] => ids.filter((id) => !this.nodes.get(id)?.removed);
    if (choice === 0 && this.nodes.size < 10) {
      const id = this.nextNewId++;
      this.addNode(id, { voters: [], learners: [] });
      this.trace(`propose add learner ${id}`);
      drop(() => node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: id, context: new Uint8Array(0) }));
    } else if (choice === 1 && cs.learners.length > 0) {
      const id = this.rng.pick(cs.learners);
      this.trace(`propose promote learner ${id}`);
      drop(() => node.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) }));
    } else if (choice === 2 && cs.voters.length > 3) {
      const id = this.rng.pick(cs.voters);
      this.trace(`propose remove voter ${id}`);
      drop(() => node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }));
    } else if (choice === 3 && live(cs.learners).length > 0 && cs.voters.length >= 3) {
      // Joint consensus: swap a learner in for a voter (the voter becomes a learner).
      const promote = this.rng.pick(live(cs.learners));
      const demote = this.rng.pick(cs.voters);
      const changes: ConfChangeSingle[] = [
        { type: ConfChangeType.AddNode, nodeId: promote },
        { type: ConfChangeType.AddLearnerNode, nodeId: demote },
      ];
      const transition = this.rng.pick([ConfChangeTransition.Auto, ConfChangeTransition.JointImplicit, ConfChangeTransition.JointExplicit]);
      this.trace(`propose joint: promote ${promote}, demote ${demote} (transition ${transition})`);
      drop(() => node.proposeConfChange({ transition, changes, context: new Uint8Array(0) }));
    } else if (choice === 4 && cs.learners.length > 0) {
      const id = this.rng.pick(cs.learners);
      this.trace(`propose remove learner ${id}`);
      drop(() => node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }));
    }
  }

  private chaosEvents(): void {
    const r = this.rng;
    const running = this.running();
    if (running.length > 0) {
      if (r.chance(0.4)) this.propose(r.pick(running));
      if (r.chance(0.15)) this.read(r.pick(running));
      if (r.chance(0.05)) this.compact(r.pick(running));
      if (r.chance(0.005)) running[r.int(running.length)]!.node!.campaign();
      if (r.chance(this.opts.crashRate)) this.crash(r.pick(running), 'random crash');
    }
    const down = [...this.nodes.values()].filter((n) => !n.node && !n.removed);
    if (down.length > 0 && r.chance(0.08)) this.start(r.pick(down));
    if (!this.partition && r.chance(0.01)) {
      const ids = this.allIds.filter(() => r.chance(0.5));
      this.partition = new Set(ids);
      this.trace(`partition {${ids.join(',')}} from the rest`);
    } else if (this.partition && r.chance(0.04)) {
      this.partition = undefined;
      this.trace('partition healed');
    }
    const leader = this.leader();
    if (leader) {
      if (r.chance(this.opts.membershipRate)) this.changeMembership(leader);
      if (r.chance(0.01)) {
        const voters = raftOf(leader.node!).prs.voterNodes();
        const target = r.pick(voters);
        this.trace(`transfer leadership ${leader.id} -> ${target}`);
        leader.node!.transferLeader(target);
      }
    }
  }

  // ------------------------------------------------------------- main loop

  private tickAll(chaos: boolean): void {
    for (const sn of this.running()) {
      // Clock skew: a node occasionally misses or doubles a tick.
      let n = 1;
      if (chaos) {
        const x = this.rng.next();
        if (x < 0.03) n = 0;
        else if (x < 0.06) n = 2;
      }
      for (let i = 0; i < n; i++) sn.node?.tick();
    }
  }

  private round(chaos: boolean): void {
    for (let i = 0; i < 10; i++) {
      for (const sn of this.running()) this.processReady(sn, chaos);
      this.checkStep();
      if (this.deliverDue(chaos) === 0) break;
    }
    for (const sn of this.running()) this.processReady(sn, chaos);
    this.checkStep();
  }

  private stepTick(chaos: boolean): void {
    this.tickNo++;
    if (chaos) this.chaosEvents();
    this.tickAll(chaos);
    this.round(chaos);
    if (this.tickNo % 16 === 0) this.checkLogMatching();
  }

  /** Run the scenario: chaos, then heal and require progress. */
  run(): SimResult {
    try {
      for (let t = 0; t < this.opts.chaosTicks; t++) this.stepTick(true);
      this.heal();
      this.checkLiveness();
      this.checkLogMatching();
      return this.result(true);
    } catch (e) {
      if (e instanceof InvariantViolation) return this.result(false, e.message);
      return this.result(false, `exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  private result(ok: boolean, failure?: string): SimResult {
    let committed = 0;
    for (const sn of this.nodes.values()) committed = Math.max(committed, sn.applied);
    return { seed: this.opts.seed, ok, failure, ticks: this.tickNo, committed, leaders: this.leaderOfTerm.size, messages: this.messagesSent };
  }

  /** Stop faults: heal the network, restart the members of the latest config, stop the others. */
  private heal(): void {
    this.partition = undefined;
    this.trace('--- faults stop ---');
    let latest: SimNode | undefined;
    for (const sn of this.nodes.values()) if (!latest || sn.applied > latest.applied) latest = sn;
    const cs = latest!.confState;
    const inLatest = new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
    for (const sn of this.nodes.values()) {
      if (sn.removed) continue;
      if (!inLatest.has(sn.id) && this.everMember.has(sn.id)) {
        // Removed by a config it never applied (it was down or cut off): shut it down like the rest.
        sn.removed = true;
        sn.pending = undefined;
        sn.node = undefined;
        this.trace(`${sn.id} is not in the latest config; shutting down`);
      } else if (!sn.node) {
        this.start(sn);
      }
    }
  }

  private checkLiveness(): void {
    const deadline = this.tickNo + this.opts.livenessTicks;
    let marker: string | undefined;
    let proposedAt = 0;
    while (this.tickNo < deadline) {
      this.stepTick(false);
      const leader = this.leader();
      if (!leader) continue;
      const r = raftOf(leader.node!);
      const cs = r.prs.confState();
      // Like a server: snapshot now and then, so members that joined after
      // the last snapshot can be caught up with one that includes them.
      if (this.tickNo % 50 === 0) this.compact(leader);
      if (cs.votersOutgoing.length > 0 && !cs.autoLeave && this.tickNo % 20 === 0) this.changeMembership(leader);
      if (marker === undefined || this.tickNo - proposedAt > 4 * this.opts.electionTicks) {
        marker = `final${this.proposalSeq++}`;
        proposedAt = this.tickNo;
        try {
          leader.node!.propose(enc.encode(marker));
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e;
          marker = undefined;
        }
        continue;
      }
      // Done when every member of the leader's (non-joint) config applied the marker.
      const idx = this.markerIndex.get(marker);
      if (idx === undefined || cs.votersOutgoing.length > 0) continue;
      const members = [...cs.voters, ...cs.learners];
      const done = members.every((id) => {
        const sn = this.nodes.get(id);
        return sn?.node !== undefined && sn.applied >= idx;
      });
      if (done) {
        this.trace(`live: marker ${marker} at ${idx} applied by all of ${members.join(',')}`);
        return;
      }
    }
    const states = this.running()
      .map((sn) => {
        const r = raftOf(sn.node!);
        return `${sn.id}:${['F', 'C', 'L', 'P'][r.state]}@${r.term} applied=${sn.applied} commit=${r.raftLog.committed} last=${r.raftLog.lastIndex()} voters=${r.prs.confState().voters}`;
      })
      .join(' | ');
    this.fail(`liveness: no progress within ${this.opts.livenessTicks} ticks after healing; ${states}`);
  }
}

/** Run one seed with the scenario derived from it. */
export function runSeed(seed: number, trace?: (line: string) => void): SimResult {
  const opts = optionsForSeed(seed);
  if (trace) opts.trace = trace;
  return new Simulator(opts).run();
}

export { messageTypeName };
