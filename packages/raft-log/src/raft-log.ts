import type { EtcdError } from '@raftkv/api';
import {
  EntryType,
  NONE,
  ProposalDroppedError,
  RawNode,
  StateType,
  decodeEntryConfChange,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type MemoryStorage,
  type Message,
  type ReadState,
  type Snapshot,
  type SnapshotMetadata,
  type SnapshotStatus,
  type SoftState,
} from '@raftkv/raft';
import type { SnapshotStore, Wal } from '@raftkv/wal';
import type { CommittedEntry, ReplicatedLog } from './replicated-log.js';
import { PendingProposals } from './pending-proposals.js';
import { PendingReads, readKey } from './pending-reads.js';
import { RaftLogErrors } from './proposal-errors.js';
import { openStorage, readyRecords } from './raft-storage.js';
import { SnapshotKeeper, cloneConfState } from './snapshot-keeper.js';
import { intervalTicker } from './ticker.js';
import { DEFAULT_MAX_PENDING_READS, validate, type RaftLogOptions } from './raft-log-options.js';
import type { RaftLogStats, RaftLogStatus } from './raft-log-status.js';

/** Longest ReadIndex context accepted (etcd uses an 8-byte request ID). */
const MAX_READ_CONTEXT_BYTES = 1024;

/**
 * The raft-replicated, WAL-backed log of a member, after etcd's raftNode (etcdserver/raft.go)
 * and its storage (storage.go): raft's `MemoryStorage` is the in-memory log, rebuilt at start
 * from the newest snapshot file and the WAL after it; a Ready loop persists, sends, applies.
 *
 * Ordering, for every Ready (one at a time):
 * 1. `messagesBeforePersist` are sent;
 * 2. a received snapshot is saved as a file, THEN its WAL marker, the entries and the hard state
 *    go to the WAL in ONE append (one fdatasync) when raft says `mustSync`; a hard state whose
 *    only change is the commit index rides the next synced append instead (as etcd writes it
 *    unsynced): losing it in a crash only delays re-learning the commit index;
 * 3. the same goes into `MemoryStorage`; then `messages` are sent (votes and acks are durable);
 * 4. the snapshot is installed (`onSnapshot`), committed entries are applied in order: normal
 *    ones with data through `apply`, conf changes through raft then `onConfChange`, empty ones
 *    only advance the applied index; ReadIndex answers are released once applied reaches them.
 *    Committed entries are already durable (raft hands out none beyond the persisted index), so
 *    when they are all normal entries and neither a snapshot nor a new term comes with them,
 *    they are applied while step 2's append is in flight rather than after it;
 * 5. `advance()`. Proposals arriving meanwhile ride the next Ready: group commit.
 *
 * Snapshots (when one is taken, the log kept below it, one received from the leader) are the
 * {@link SnapshotKeeper}'s; it is driven from here: after each Ready and each applied batch.
 * Proposals whose fate is not known yet are {@link PendingProposals}', reads waiting for their
 * point {@link PendingReads}'.
 *
 * Restart: no bootstrap; the ConfState comes from the snapshot and `applied` = snapshot index,
 * so the committed entries after it (conf changes included) are applied again. KV entries are
 * idempotent through mvcc's consistent index: the server skips those it already holds.
 *
 * A member whose only voter is itself campaigns at once (bootstrap leads at term 2, as etcd).
 *
 * @example
 * ```ts
 * const log = await RaftLog.open({ id, walDir, snapDir, metadata, voters: [id], heartbeatIntervalMs: 100,
 *   electionTimeoutMs: 1000, snapshotCount: 100_000, send: (msgs) => transport.send(msgs),
 *   apply: (entries) => applier.apply(entries), fatal: (err) => die(err) });
 * log.propose(data);            // throws EtcdErrors.NoLeader / NotLeader / Stopped at once
 * const rs = await log.readIndex(requestIdBytes); // applied >= rs.index: read locally
 * ```
 */
export class RaftLog implements ReplicatedLog {
  private readonly node: RawNode;
  private readonly stopTicker: () => void;
  private readonly snapshotKeeper: SnapshotKeeper;
  private readonly requestTimeoutTicks: number;

  private term_: number;
  private commit_: number;
  private lead_: bigint = NONE;
  private raftState_: StateType = StateType.Follower;
  private applied_: number;
  /** The state machine's promise for entries handed to `apply` and not yet applied (see `apply`). */
  private applyPending: Promise<void> | undefined;
  private confState_: ConfState;
  /** A commit-only hard state not yet written: goes with the next synced append (or close). */
  private unsyncedHardState: HardState | undefined;
  private ticks = 0;

  /** The Ready loop running now; `loopDue`: one starts at the next check phase (setImmediate). */
  private loop: Promise<void> | undefined;
  private loopDue = false;
  private closing: Promise<void> | undefined;
  /** No more proposals or reads. */
  private closed = false;
  /** No more work of any kind: failed, or abandoned by a test's simulated crash. */
  private stopped = false;

  private readonly reads: PendingReads;
  private readonly proposals: PendingProposals;

  private readonly counters = { readies: 0, syncedReadies: 0, persistedEntries: 0 };

  private constructor(
    private readonly opts: RaftLogOptions,
    private readonly storage: MemoryStorage,
    private readonly wal: Wal,
    snapshots: SnapshotStore,
    /** The WAL's metadata (member and cluster ID as the server encoded them). */
    readonly metadata: Uint8Array,
    snapshot: Snapshot | undefined,
  ) {
    const electionTicks = Math.max(2, Math.round(opts.electionTimeoutMs / opts.heartbeatIntervalMs));
    this.requestTimeoutTicks =
      opts.requestTimeoutTicks ?? Math.ceil((5000 + 2 * opts.electionTimeoutMs) / opts.heartbeatIntervalMs);
    this.reads = new PendingReads(opts.maxPendingReads ?? DEFAULT_MAX_PENDING_READS);
    const snapIndex = snapshot?.metadata.index ?? 0;
    this.node = new RawNode({
      id: opts.id,
      ...(opts.voters && opts.voters.length > 0 ? { voters: opts.voters } : {}),
      electionTicks,
      heartbeatTicks: 1,
      storage,
      applied: snapIndex,
      random: opts.random ?? Math.random,
      checkQuorum: true,
      preVote: opts.preVote ?? false,
      disableProposalForwarding: opts.disableProposalForwarding ?? false,
      ...(opts.raftLogger ? { logger: opts.raftLogger } : {}),
    });
    this.proposals = new PendingProposals(this.node, opts.disableProposalForwarding ?? false);
    const st = this.node.status();
    this.term_ = st.hardState.term;
    this.commit_ = st.hardState.commit;
    this.applied_ = snapIndex;
    this.confState_ = cloneConfState(st.confState);
    this.snapshotKeeper = new SnapshotKeeper(opts, {
      stopped: () => this.stopped,
      // Not while the state machine is behind: the ConfState here may already be past the applied index.
      maySnapshot: () => !this.closed && !this.applyPending,
      appliedIndex: () => this.applied_,
      confState: () => this.confState_,
      sendingSnapshot: () => this.sendingSnapshot(),
      fail: (err) => this.fail(err),
    }, storage, wal, snapshots, snapIndex);
    this.stopTicker = (opts.ticker ?? intervalTicker).every(opts.heartbeatIntervalMs, () => this.tick());
    this.maybeCampaign();
    this.schedule();
  }

  /**
   * Opens the member's log: creates the WAL (with `metadata`) and bootstraps from `voters` when
   * there is none, else recovers from the newest snapshot file and the WAL. The returned log is
   * running: committed entries not yet applied reach `apply` shortly after.
   * @throws RangeError on invalid options; WalCorruptionError / DecodeError on damaged storage
   */
  static async open(opts: RaftLogOptions): Promise<RaftLog> {
    validate(opts);
    const rec = await openStorage(opts.walDir, opts.snapDir, opts.metadata, opts.walOptions,
      opts.forceNewCluster ? { self: opts.id, options: opts.forceNewCluster } : undefined);
    try {
      return new RaftLog(opts, rec.memory, rec.wal, rec.snapshots, rec.metadata, rec.snapshot);
    } catch (err) {
      await rec.wal.close();
      throw err;
    }
  }

  /** The term of the latest persisted hard state, for response headers. */
  get term(): number {
    return this.term_;
  }

  /** The highest index known committed (as of the latest Ready). */
  get commitIndex(): number {
    return this.commit_;
  }

  /** The highest index applied (handed to `apply`, or installed by a snapshot). */
  get appliedIndex(): number {
    return this.applied_;
  }

  /** The leader's ID as of the latest Ready; 0 when none is known. */
  get lead(): bigint {
    return this.lead_;
  }

  /** True while this member is the leader (as of the latest Ready). */
  get isLeader(): boolean {
    return this.raftState_ === StateType.Leader;
  }

  /**
   * Proposes `data` for the log; its entry reaches `apply` once committed. Fails at once
   * (throws, nothing proposed) with etcd's errors: `NoLeader` when no leader is known,
   * `NotLeader` on a follower with forwarding disabled, `Stopped` after `close()`. Proposals of
   * one event-loop turn reach raft together before the next Ready; if raft refuses them
   * (transfer in progress, uncommitted log full, leader lost meanwhile), `onDropped` gets
   * `ProposalDropped` (or `NoLeader`).
   *
   * Later loss: on the leader the entry's index is known, and `onDropped(LeaderChanged)` is
   * called if another entry commits at that index (a new leader overwrote it), or
   * `onDropped(Stopped)` if the log closes first. A proposal forwarded by a follower may be
   * lost without notice: the caller bounds its wait with a request timeout, as etcd does.
   */
  propose(data: Uint8Array, onDropped?: (err: EtcdError) => void): void {
    if (this.closed) throw RaftLogErrors.Stopped;
    if (this.lead_ === NONE) throw RaftLogErrors.NoLeader;
    if (this.opts.disableProposalForwarding && this.raftState_ !== StateType.Leader) throw RaftLogErrors.NotLeader;
    // Proposals of one event-loop turn go to raft together, right before the next Ready: one
    // append message per follower carries them all, instead of one per proposal.
    this.proposals.queue(data, onDropped);
    this.schedule();
  }

  /**
   * Proposes a membership change (etcd's MemberAdd/Remove/Promote go through here). It takes
   * effect on each member when its entry is applied: `onConfChange` reports the new ConfState.
   * The leader turns a change it must refuse (another one pending, or invalid) into an empty
   * entry. Fails at once with the same errors as {@link propose}.
   */
  proposeConfChange(change: ConfChange | ConfChangeV2): void {
    if (this.closed) throw RaftLogErrors.Stopped;
    try {
      this.node.proposeConfChange(change);
    } catch (err) {
      if (err instanceof ProposalDroppedError) throw this.proposals.dropReason();
      throw err;
    }
    this.schedule();
  }

  /**
   * Asks the leader to hand leadership to `target` (etcd's MoveLeader): proposals are refused
   * while it is in progress; it is abandoned after an election timeout. Watch `onLeaderChange`.
   */
  transferLeader(target: bigint): void {
    if (this.closed) throw RaftLogErrors.Stopped;
    this.node.transferLeader(target);
    this.schedule();
  }

  /**
   * Requests a linearizable read point (etcd's ReadIndex). Resolves with the `ReadState`
   * once raft confirmed it with a quorum AND this member has applied up to its index: local
   * state read now is linearizable. `context` must be unique among pending reads (a request
   * ID) and at most 1 KiB. Rejects with `NoLeader`, `LeaderChanged` (leader lost before
   * confirmation), `Timeout` (after `requestTimeoutTicks`), `TooManyRequests`, `Stopped`.
   */
  readIndex(context: Uint8Array): Promise<ReadState> {
    if (this.closed) return Promise.reject(RaftLogErrors.Stopped);
    if (context.byteLength > MAX_READ_CONTEXT_BYTES) {
      return Promise.reject(new RangeError(`read context is ${context.byteLength} bytes, limit ${MAX_READ_CONTEXT_BYTES}`));
    }
    const key = readKey(context);
    const refusal = this.reads.refusal(key);
    if (refusal) return Promise.reject(refusal);
    // A sole voter is its own quorum: its commit index is the read point now, without waiting
    // for a Ready (raft would answer the same, one Ready cycle later: behind a WAL sync under writes).
    const index = this.node.soleVoterReadIndex();
    if (index !== undefined) {
      const state: ReadState = { index, requestCtx: context };
      if (index <= this.applied_) return Promise.resolve(state);
      return this.reads.add(key, this.ticks + this.requestTimeoutTicks, state);
    }
    try {
      this.node.readIndex(context);
    } catch (err) {
      if (err instanceof ProposalDroppedError) return Promise.reject(RaftLogErrors.NoLeader);
      return Promise.reject(err);
    }
    const p = this.reads.add(key, this.ticks + this.requestTimeoutTicks);
    this.schedule();
    return p;
  }

  /**
   * A linearizable read point available now, with no promise and no pending-read entry: a sole
   * voter's commit index once this member has applied it (what {@link readIndex} resolves with
   * at once in that case). Undefined otherwise (peers, not applied yet, closed): use readIndex.
   */
  readPointNow(): number | undefined {
    if (this.closed) return undefined;
    const index = this.node.soleVoterReadIndex();
    return index !== undefined && index <= this.applied_ ? index : undefined;
  }

  /** Hands a message from a peer (decoded by the transport) to raft. Ignored once closed. */
  step(message: Message): void {
    if (this.closed || this.stopped) return;
    try {
      this.node.step(message);
    } catch (err) {
      this.fail(err);
      return;
    }
    // Most answers a leader gets at one put in flight change nothing (the second follower's ack,
    // the acks of the commit's empty appends): no loop turn for them. A running loop looks again when it ends.
    if (this.loop === undefined && !this.loopDue && !this.node.hasReady()) return;
    this.schedule();
  }

  /** The transport could not reach `id`: the leader falls back to probing it. */
  reportUnreachable(id: bigint): void {
    if (this.stopped) return;
    this.node.reportUnreachable(id);
    this.schedule();
  }

  /** Outcome of sending a `MsgSnap` to `id`; replication to it resumes after this. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    if (this.stopped) return;
    this.node.reportSnapshot(id, status);
    this.schedule();
  }

  /**
   * Fast-forwards `n` ticks at once (etcd's advanceTicks): at boot, so the first election need
   * not wait a whole election timeout once the peers are connected. Raft stays deterministic:
   * these are the same ticks, only sooner.
   */
  advanceTicks(n: number): void {
    for (let i = 0; i < n; i++) this.tick();
  }

  /** One tick of logical time; the ticker calls it every `heartbeatIntervalMs`. */
  tick(): void {
    if (this.closed || this.stopped) return;
    this.ticks++;
    this.node.tick();
    this.reads.expire(this.ticks);
    this.schedule();
  }

  /**
   * Metadata of a snapshot of the state machine as applied now: the applied index, its term and
   * the ConfState there. A leader sending a snapshot copies its state machine as applied (at or
   * beyond this index) and sends it under this metadata, as etcd's createMergedSnapshotMessage
   * does: the latest snapshot file may predate the recipient's own AddNode (a leader restarted
   * from it, a forced new cluster), and a member refuses a snapshot whose ConfState lacks it.
   * Take it BEFORE copying the state machine.
   */
  appliedSnapshotMetadata(): SnapshotMetadata {
    return this.snapshotKeeper.metadataAt(this.applied_, this.confState_);
  }

  status(): RaftLogStatus {
    const st = this.node.status();
    return {
      id: st.id,
      term: st.hardState.term,
      vote: st.hardState.vote,
      lead: st.softState.lead,
      isLeader: st.softState.raftState === StateType.Leader,
      commitIndex: st.hardState.commit,
      appliedIndex: this.applied_,
      snapshotIndex: this.snapshotKeeper.index,
      lastIndex: st.lastIndex,
      confState: cloneConfState(this.confState_),
      progress: st.progress,
    };
  }

  stats(): RaftLogStats {
    return { ...this.counters, ...this.snapshotKeeper.stats(), wal: { ...this.wal.stats } };
  }

  /**
   * Stops taking proposals, reads and messages; waits for the Ready in flight (and any
   * snapshot being saved), writes a pending commit index, fails waiting reads and tracked
   * proposals with `Stopped`, and closes the WAL. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.stopTicker();
      await this.idle();
      if (!this.stopped && this.unsyncedHardState) {
        const hs = this.unsyncedHardState;
        this.unsyncedHardState = undefined;
        await this.wal.append([{ type: 'hardState', term: hs.term, vote: hs.vote, commit: hs.commit }]).catch((err: unknown) => this.fail(err));
      }
      this.stopped = true;
      this.failWaiters(RaftLogErrors.Stopped);
      await this.wal.close();
    })();
    return this.closing;
  }

  /** Resolves when no Ready is being handled and no snapshot is being saved. */
  private async idle(): Promise<void> {
    while (this.loopDue || this.loop || this.snapshotKeeper.saving) {
      // A loop that is due has not started yet: it starts in this turn's check phase.
      if (this.loopDue && !this.loop && !this.snapshotKeeper.saving) await new Promise<void>((resolve) => setImmediate(resolve));
      else await Promise.all([this.loop, this.snapshotKeeper.saving]);
    }
  }

  /** A test's crash: stop where we are, write nothing more, let queued WAL writes land, close files. */
  private async abandon(): Promise<void> {
    this.stopped = true;
    this.closed = true;
    this.stopTicker();
    await this.idle();
    await this.wal.close();
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.closed = true;
    this.stopTicker();
    this.failWaiters(RaftLogErrors.Stopped);
    this.opts.fatal(err);
  }

  private failWaiters(err: EtcdError): void {
    this.reads.failAll(err);
    this.proposals.failAll(err);
  }

  private schedule(): void {
    if (this.loopDue || this.loop || this.stopped) return;
    // A callback, not a promise chain: this runs once per batch (once per put at one in flight).
    this.loopDue = true;
    setImmediate(this.startLoop);
  }

  private readonly startLoop = (): void => {
    // `loopDue` stays set until `loop` is: runLoop's synchronous part may schedule() again.
    const running = this.runLoop();
    this.loop = running.then(this.loopEnded);
    this.loopDue = false;
  };

  private readonly loopEnded = (): void => {
    this.loop = undefined;
    // Input that arrived after the last hasReady() check and before this point.
    if (!this.stopped && (this.node.hasReady() || this.proposals.hasQueued)) this.schedule();
  };

  private async runLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        this.proposals.flush(this.raftState_ === StateType.Leader);
        if (!this.node.hasReady()) return;
        await this.handleReady();
        if (this.stopped) return;
        this.maybeCampaign();
        this.snapshotKeeper.maybeSnapshot();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async handleReady(): Promise<void> {
    const rd = this.node.ready();
    this.counters.readies++;
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.messagesBeforePersist.length > 0) this.opts.send(rd.messagesBeforePersist);

    if (rd.snapshot) {
      // The file first: a WAL marker must never name a snapshot that is not on disk.
      await this.snapshotKeeper.saveReceivedFile(rd.snapshot);
      if (this.stopped) return;
    }
    let persisting: Promise<void> | undefined;
    if (rd.mustSync || rd.snapshot) {
      const records = readyRecords(rd.snapshot, rd.entries, rd.hardState ?? this.unsyncedHardState);
      this.unsyncedHardState = undefined;
      if (rd.snapshot) this.snapshotKeeper.markerAppending(rd.snapshot.metadata.index);
      this.counters.syncedReadies++;
      this.counters.persistedEntries += rd.entries.length;
      persisting = this.wal.append(records);
      // Handled below by the await; this keeps a failure seen while applying from leaving it unhandled.
      persisting.catch(() => undefined);
    } else if (rd.hardState) {
      this.unsyncedHardState = rd.hardState;
    }
    // Raft hands out committed entries only up to the index already durable here (and, on a
    // leader, on a quorum), so they need not wait for this Ready's own append: apply them
    // while the WAL writes and syncs it (etcd's leader applies in parallel with its fsync too).
    // Without this, a batch of proposals would be applied only after the NEXT batch's sync.
    // A snapshot or a conf change keeps the strict order (they change what the append means).
    const appliedEarly = persisting !== undefined && rd.snapshot === undefined &&
      (rd.hardState === undefined || rd.hardState.term === this.term_) && allNormal(rd.committedEntries);
    if (appliedEarly) {
      // The WAL issues its write a microtask after append() (so one turn's appends share it): let
      // it, so the write and its sync run on the thread pool while we apply, not after.
      if (rd.committedEntries.length > 0) await undefined;
      if (this.stopped) return;
      this.applyEntries(rd.committedEntries);
      if (this.stopped) return;
      this.reads.confirm(rd.readStates);
      this.reads.release(this.applied_);
    }
    if (persisting) {
      await persisting;
      if (this.stopped) return;
    }

    if (rd.snapshot) {
      await this.snapshotKeeper.received(rd.snapshot);
      if (this.stopped) return;
    }
    this.storage.append(rd.entries);
    if (rd.hardState) {
      this.storage.setHardState(rd.hardState);
      this.term_ = rd.hardState.term;
      this.commit_ = rd.hardState.commit;
    }
    if (rd.messages.length > 0) this.opts.send(rd.messages);

    if (!appliedEarly) {
      if (rd.snapshot) {
        await this.installSnapshot(rd.snapshot);
        if (this.stopped) return;
      }
      this.applyEntries(rd.committedEntries);
      if (this.stopped) return;
      this.reads.confirm(rd.readStates);
      this.reads.release(this.applied_);
    }
    this.node.advance();
  }

  private onSoftState(ss: SoftState): void {
    const leadChanged = ss.lead !== this.lead_;
    const roleChanged = ss.raftState !== this.raftState_;
    this.lead_ = ss.lead;
    this.raftState_ = ss.raftState;
    if (leadChanged) this.reads.leaderChanged();
    if (leadChanged || roleChanged) this.opts.onLeaderChange?.(ss.lead, ss.raftState === StateType.Leader);
  }

  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    this.confState_ = cloneConfState(snapshot.metadata.confState);
    this.applied_ = Math.max(this.applied_, index);
    this.snapshotKeeper.installed();
    this.proposals.snapshotInstalled(index);
    await this.opts.onSnapshot?.(snapshot);
  }

  private applyEntries(entries: Entry[]): void {
    let batch: CommittedEntry[] = [];
    let handed = this.applied_;
    const flush = (): void => {
      if (batch.length === 0) return;
      const b = batch;
      batch = [];
      const pending = this.opts.apply(b);
      if (pending) this.applyPending = pending;
    };
    for (const e of entries) {
      this.proposals.committed(e.index, e.term);
      if (e.type === EntryType.Normal) {
        if (e.data.length > 0) batch.push({ index: e.index, term: e.term, data: e.data });
      } else {
        flush();
        if (this.stopped) return;
        const cc = decodeEntryConfChange(e);
        if (!cc) throw new Error(`raft-log: entry ${e.index} of type ${e.type} is not a conf change`);
        const cs = this.node.applyConfChange(cc);
        this.confState_ = cloneConfState(cs);
        this.opts.onConfChange?.(cc, cs, e.index);
      }
      handed = e.index;
      this.snapshotKeeper.applied(e.data.length);
    }
    flush();
    this.appliedThrough(handed);
  }

  /**
   * Entries up to `index` were handed to the state machine: applied now, or once its pending
   * promise resolves (which covers everything handed before it). Reads and snapshots go by
   * the applied index, so it must never run ahead of the state machine (etcd's applied index
   * is set by its apply loop, after the apply).
   */
  private appliedThrough(index: number): void {
    const pending = this.applyPending;
    if (pending === undefined) {
      this.applied_ = Math.max(this.applied_, index);
      return;
    }
    pending.then(() => {
      if (this.applyPending === pending) this.applyPending = undefined;
      this.applied_ = Math.max(this.applied_, index);
      if (this.stopped) return;
      this.reads.release(this.applied_);
      this.snapshotKeeper.maybeSnapshot();
    }, (err: unknown) => this.fail(err));
  }

  /** A member that is the only voter needs no election timeout: it leads at once, as etcd's single member does. */
  private maybeCampaign(): void {
    if (this.closed || this.stopped || this.raftState_ === StateType.Leader) return;
    const cs = this.confState_;
    if (cs.voters.length === 1 && cs.voters[0] === this.opts.id && cs.votersOutgoing.length === 0) {
      const st = this.node.status();
      if (st.softState.raftState === StateType.Leader) return;
      this.node.campaign();
      this.schedule();
    }
  }

  /** On the leader: a `MsgSnap` to some follower not yet reported (`reportSnapshot`). */
  private sendingSnapshot(): boolean {
    const progress = this.node.status().progress;
    if (!progress) return false;
    for (const p of progress.values()) if (p.state === 'snapshot') return true;
    return false;
  }
}

function allNormal(entries: readonly Entry[]): boolean {
  for (const e of entries) if (e.type !== EntryType.Normal) return false;
  return true;
}

/**
 * For tests only (not exported from the package): simulate a crash. The log stops where it
 * is — nothing more is persisted, sent or applied — WAL writes already queued land (as they
 * would have reached the disk), and the files are closed so the directory can be reopened.
 */
export function crashForTesting(log: RaftLog): Promise<void> {
  return log['abandon']();
}

/** For tests only: resolves when the log has no Ready or snapshot in progress. */
export function idleForTesting(log: RaftLog): Promise<void> {
  return log['idle']();
}

/** For tests only: whether a Ready or a snapshot is in progress (or scheduled). */
export function busyForTesting(log: RaftLog): boolean {
  return log['loopDue'] || log['loop'] !== undefined || log['snapshotKeeper'].saving !== undefined;
}
