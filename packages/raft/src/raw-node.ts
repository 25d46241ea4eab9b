import { encodeConfChange, encodeConfChangeV2 } from './codec.js';
import type { RaftConfig } from './config.js';
import { ProposalDroppedError, RaftError, invariant } from './errors.js';
import { ProgressState } from './progress.js';
import { Raft } from './raft.js';
import {
  EntryType,
  MessageType,
  NONE,
  StateType,
  confChangeToV2,
  hardStateEqual,
  isLocalMessage,
  isResponseMessage,
  makeMessage,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

/**
 * Everything raft wants done, as of one moment. Handle it in this order:
 *
 * 1. Send `messagesBeforePersist` (may go out in parallel with step 2).
 * 2. Persist `snapshot` (if any), then `entries`, then `hardState` (if any):
 *    durably, and atomically or in that order. `mustSync` says whether an
 *    fsync is needed (term, vote or entries changed).
 * 3. Send `messages` — only AFTER step 2 is durable: they promise votes and
 *    acknowledge entries.
 * 4. Apply `snapshot` and then `committedEntries` to the state machine (for
 *    conf-change entries call `applyConfChange`). Serve `readStates` once the
 *    applied index reaches each one's index.
 * 5. Call `advance()`.
 */
export interface Ready {
  /** Leader/role change since the previous Ready, if any. Not persisted. */
  softState: SoftState | undefined;
  /** New hard state to persist, if it changed. */
  hardState: HardState | undefined;
  /** Answers to `readIndex` requests. */
  readStates: ReadState[];
  /** Entries to append to durable storage (they may overwrite a tail). */
  entries: Entry[];
  /** Snapshot to persist and apply, if one arrived from the leader. */
  snapshot: Snapshot | undefined;
  /** Entries committed by a quorum and durable locally, to apply in order. */
  committedEntries: Entry[];
  /** Messages to send after `entries`, `hardState` and `snapshot` are durable. */
  messages: Message[];
  /**
   * Leader appends and heartbeats of an already-durable term that may be sent
   * before (in parallel with) persisting this Ready; the leader counts its own
   * copy of new entries only after `advance()`.
   */
  messagesBeforePersist: Message[];
  /** Whether persisting this Ready requires an fsync. */
  mustSync: boolean;
}

/** Outcome of sending a snapshot, for `reportSnapshot`. */
export const SnapshotStatus = { Finish: 'finish', Failure: 'failure' } as const;
export type SnapshotStatus = (typeof SnapshotStatus)[keyof typeof SnapshotStatus];

/** Replication state of one member as seen by the leader. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  isLearner: boolean;
  recentActive: boolean;
}

/** A snapshot of a node's state for monitoring and tests. */
export interface Status {
  id: bigint;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  /** Index of the last entry in the log (durable or not). */
  lastIndex: number;
  confState: ConfState;
  leadTransferee: bigint;
  /** Per-member progress; only on the leader. */
  progress: Map<bigint, ProgressStatus> | undefined;
}

const internals = new WeakMap<RawNode, Raft>();

/** For the simulator and white-box tests in this package only (not exported from the package). */
export function raftOf(node: RawNode): Raft {
  return internals.get(node)!;
}

const PERSIST_INDEPENDENT = new Set<MessageType>([MessageType.App, MessageType.Heartbeat, MessageType.Snap]);

/**
 * A raft node without threads or timers: feed it ticks, messages and
 * requests; take `ready()`, carry it out, `advance()`.
 *
 * Example loop:
 * ```ts
 * const node = new RawNode({ id: 1n, voters: [1n, 2n, 3n], electionTicks: 10,
 *   heartbeatTicks: 1, storage, random: seededRandom });
 * // every tick interval: node.tick();
 * // on a message from a peer: node.step(decodeMessage(bytes));
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   send(rd.messagesBeforePersist);
 *   if (rd.snapshot) storage.applySnapshot(rd.snapshot);
 *   storage.append(rd.entries);
 *   if (rd.hardState) storage.setHardState(rd.hardState);
 *   send(rd.messages);
 *   for (const e of rd.committedEntries) apply(e);
 *   node.advance();
 * }
 * ```
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private pending: Ready | undefined;

  /**
   * Create a node from its config and storage (fresh or restarted).
   * @throws ConfigError on an invalid config
   */
  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    internals.set(this, this.raft);
    this.prevSoftState = this.raft.softState();
    // The bootstrap membership (if any) is not durable yet: report it in the first Ready.
    this.prevHardState = config.storage.initialState().hardState;
  }

  /** Advance logical time by one tick (election and heartbeat timers count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (a no-op on the leader and on non-voters). */
  campaign(): void {
    this.raft.step(makeMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  /**
   * Propose `data` to be appended to the log. On a follower the proposal is
   * forwarded to the leader and may still be lost; the caller learns of
   * success when the entry is applied (match it by content) and retries on
   * timeout.
   * @throws ProposalDroppedError when no leader is known, a transfer is in
   *   progress, or the uncommitted log is over its limit
   */
  propose(data: Uint8Array): void {
    this.raft.step(
      makeMessage({
        type: MessageType.Prop,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
      }),
    );
  }

  /**
   * Propose several entries at once: one append message per follower
   * carries them all (group commit). All-or-nothing: either every entry is
   * appended, in order, or the call throws and none is.
   * @throws ProposalDroppedError as for `propose`
   */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    this.raft.step(
      makeMessage({
        type: MessageType.Prop,
        from: this.raft.id,
        entries: data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d })),
      }),
    );
  }

  /**
   * Propose a membership change. A v1 `ConfChange` changes one member in one
   * step; a `ConfChangeV2` may change several through joint consensus. The
   * change takes effect on each node when the committed entry is passed to
   * `applyConfChange`. The leader refuses (replaces with an empty normal
   * entry) a change while another one is unapplied or one that is invalid
   * for the current config.
   * @throws ProposalDroppedError as for `propose`
   */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const entry: Entry =
      'changes' in cc
        ? { term: 0, index: 0, type: EntryType.ConfChangeV2, data: encodeConfChangeV2(cc) }
        : { term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) };
    this.raft.step(makeMessage({ type: MessageType.Prop, from: this.raft.id, entries: [entry] }));
  }

  /**
   * Apply a committed conf change (decoded from a committed entry) and return
   * the resulting ConfState, which the caller stores with its next snapshot.
   * @throws ConfChangeError if the change is invalid for the current config
   */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    return this.raft.applyConfChange(confChangeToV2(cc));
  }

  /**
   * Hand a message received from a peer to raft. Messages from unknown peers
   * that are responses, and local-only message types, are ignored.
   * Proposals forwarded by peers that cannot be accepted are dropped silently.
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) return;
    if (isResponseMessage(m.type) && !this.raft.prs.progress.has(m.from)) return;
    try {
      this.raft.step(m);
    } catch (e) {
      if (e instanceof ProposalDroppedError) return;
      throw e;
    }
  }

  /**
   * Request a linearizable read point. When it is confirmed, a `ReadState`
   * with the same `context` appears in a Ready; the read may be served once
   * the applied index reaches `ReadState.index`. Concurrent requests share
   * heartbeat rounds. `context` should be unique per request (for example a
   * request ID). Followers forward to the leader; the request may be lost,
   * so retry on timeout.
   * @throws ProposalDroppedError when no leader is known
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(
      makeMessage({
        type: MessageType.ReadIndex,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data: context }],
      }),
    );
  }

  /**
   * The read index this node can serve at once, with no heartbeat round and no Ready: its
   * commit index when it leads as the only voter of its configuration and an entry of its term
   * has committed (a single voter is its own quorum). Undefined otherwise: use `readIndex`.
   * A read at the returned index waits until the applied index reaches it, as for a `ReadState`.
   */
  soleVoterReadIndex(): number | undefined {
    return this.raft.soleVoterReadIndex();
  }

  /**
   * Ask the leader to hand leadership to `target`: it stops accepting
   * proposals, brings `target`'s log up to date and tells it to campaign at
   * once. Abandoned after an election timeout.
   */
  transferLeader(target: bigint): void {
    try {
      this.raft.step(makeMessage({ type: MessageType.TransferLeader, from: target }));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  /** Tell the leader a message to `id` could not be delivered: replication falls back to probing. */
  reportUnreachable(id: bigint): void {
    this.raft.reportUnreachable(id);
  }

  /** Tell the leader whether the snapshot sent to `id` was delivered; replication resumes after it. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    this.raft.reportSnapshot(id, status === SnapshotStatus.Failure);
  }

  /** Whether there is anything to persist, send or apply. */
  hasReady(): boolean {
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true;
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState) && !(hs.term === 0 && hs.vote === NONE && hs.commit === 0)) return true;
    if (r.raftLog.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.raftLog.unstable.entries.length > 0 || r.raftLog.hasNextEnts()) return true;
    return r.readStates.length > 0;
  }

  /**
   * Take the work to do now. Must be followed by `advance()` before the next
   * `ready()`.
   * @throws RaftError if the previous Ready was not advanced
   */
  ready(): Ready {
    if (this.pending) throw new RaftError('ready() called again before advance()');
    const r = this.raft;
    const ss = r.softState();
    const hs = r.hardState();
    const softState = ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState ? ss : undefined;
    const hardState = hardStateEqual(hs, this.prevHardState) ? undefined : hs;
    const entries = r.raftLog.unstableEntries();
    const snapshot = r.raftLog.unstable.snapshot;
    const committedEntries = r.raftLog.nextEnts();
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted) r.raftLog.applying = lastCommitted.index;
    const termOrVoteChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;

    const messages: Message[] = [];
    const messagesBeforePersist: Message[] = [];
    // A leader's appends and heartbeats depend only on its term being durable
    // (its own new entries are not counted until advance()), so when the term
    // is unchanged they may go out while this Ready is being persisted.
    const early = r.state === StateType.Leader && !termOrVoteChanged && snapshot === undefined;
    for (const m of r.msgs) {
      if (early && m.term === r.term && PERSIST_INDEPENDENT.has(m.type)) messagesBeforePersist.push(m);
      else messages.push(m);
    }
    r.msgs = [];
    const readStates = r.readStates;
    r.readStates = [];
    if (softState) this.prevSoftState = softState;
    r.reduceUncommittedSize(committedEntries);

    const rd: Ready = {
      softState,
      hardState,
      readStates,
      entries,
      snapshot,
      committedEntries,
      messages,
      messagesBeforePersist,
      mustSync: termOrVoteChanged || entries.length > 0,
    };
    this.pending = rd;
    return rd;
  }

  /**
   * The last Ready has been carried out: its state is durable, its messages
   * sent, its committed entries applied.
   * @throws RaftError if there is no Ready to advance
   */
  advance(): void {
    const rd = this.pending;
    if (!rd) throw new RaftError('advance() called without a ready()');
    this.pending = undefined;
    const r = this.raft;
    if (rd.hardState) this.prevHardState = rd.hardState;
    const oldApplied = r.raftLog.applied;
    let newApplied = 0;
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) newApplied = lastCommitted.index;
    else if (rd.snapshot) newApplied = rd.snapshot.metadata.index;
    if (rd.entries.length > 0) {
      const e = rd.entries[rd.entries.length - 1]!;
      r.raftLog.stableTo(e.index, e.term);
    }
    if (rd.snapshot) r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
    if (newApplied > 0) {
      invariant(newApplied >= oldApplied, 'applied index went backwards');
      r.raftLog.appliedTo(newApplied);
      r.onApplied(oldApplied, newApplied);
    }
    if (rd.entries.length > 0 || rd.snapshot) r.onPersisted();
  }

  /**
   * Where a batch just proposed by a leader landed: its term and the last index of its log,
   * as `status()` reports them, without the copies of the progress and configuration that
   * `status()` makes. Undefined when this node is not the leader.
   */
  leaderLastEntry(): { term: number; lastIndex: number } | undefined {
    const r = this.raft;
    if (r.state !== StateType.Leader) return undefined;
    return { term: r.term, lastIndex: r.raftLog.lastIndex() };
  }

  /** Current state, for monitoring and tests. */
  status(): Status {
    const r = this.raft;
    let progress: Map<bigint, ProgressStatus> | undefined;
    if (r.state === StateType.Leader) {
      progress = new Map();
      r.prs.visit((id, pr) => {
        const state = pr.state === ProgressState.Probe ? 'probe' : pr.state === ProgressState.Replicate ? 'replicate' : 'snapshot';
        progress!.set(id, { match: pr.match, next: pr.next, state, isLearner: pr.isLearner, recentActive: pr.recentActive });
      });
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      confState: r.prs.confState(),
      leadTransferee: r.leadTransferee,
      progress,
    };
  }
}
