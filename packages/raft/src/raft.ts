/**
 * The raft state machine: election, replication, reads, snapshots,
 * membership and leadership transfer. Synchronous and I/O-free; RawNode wraps
 * it with the Ready/advance contract.
 */
import { decodeConfChange, decodeConfChangeV2, encodeConfChange } from './codec.js';
import { resolveConfig, type RaftConfig, type ResolvedConfig } from './config.js';
import { ConfChanger, restoreConfState } from './confchange.js';
import {
  CompactedError,
  ConfChangeError,
  ConfigError,
  DecodeError,
  ProposalDroppedError,
  RaftInvariantError,
  SnapshotTemporarilyUnavailableError,
  invariant,
} from './errors.js';
import { RaftLog } from './log.js';
import { silentLogger, type Logger } from './logger.js';
import { ProgressState } from './progress.js';
import { VoteResult } from './quorum.js';
import { ReadOnly, ReadOnlyOption, type ReadIndexStatus } from './read-only.js';
import { ProgressTracker, type ProgressMap, type TrackerConfig } from './tracker.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  StateType,
  confChangeToV2,
  enterJoint,
  isEmptySnapshot,
  leaveJoint,
  makeMessage,
  messageTypeName,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

const CampaignType = { PreElection: 0, Election: 1, Transfer: 2 } as const;
type CampaignType = (typeof CampaignType)[keyof typeof CampaignType];

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function voteRespType(t: MessageType): MessageType {
  return t === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
}

export class Raft {
  readonly id: bigint;
  term = 0;
  vote: bigint = NONE;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  prs: ProgressTracker;
  state: StateType = StateType.Follower;
  isLearner = false;
  /** Messages to send; RawNode drains them into Ready. */
  msgs: Message[] = [];
  lead: bigint = NONE;
  leadTransferee: bigint = NONE;
  /** Index of the last conf change entry this leader may not have applied yet. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** ReadIndex requests held until this leader commits an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly cfg: ResolvedConfig;
  private readonly logger: Logger;
  /** Bootstrap conf changes are applied to the tracker at once; they never block a campaign. */
  private bootstrapConfIndex = 0;

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.logger = this.cfg.logger ?? silentLogger;
    const storage = this.cfg.storage;
    this.raftLog = new RaftLog(storage, this.cfg.maxCommittedSizePerReadyBytes);
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs);
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    const { hardState, confState } = storage.initialState();

    const storageEmpty = storage.lastIndex() === 0 && storage.firstIndex() === 1 && hardState.term === 0;
    const bootstrap = storageEmpty && ((this.cfg.voters?.length ?? 0) > 0 || (this.cfg.learners?.length ?? 0) > 0);
    if (bootstrap && (this.cfg.voters?.length ?? 0) === 0) throw new ConfigError('bootstrap membership needs at least one voter');

    const [cfg, prs] = restoreConfState(this.prs, this.raftLog.lastIndex(), confState);
    this.switchToConfig(cfg, prs);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (this.cfg.applied > 0) this.raftLog.appliedTo(this.cfg.applied);
    this.becomeFollower(this.term, NONE);
    if (bootstrap) this.bootstrap(this.cfg.voters ?? [], this.cfg.learners ?? []);
  }

  /**
   * A brand-new member: the membership becomes committed ConfChange entries at
   * term 1, so members that join later learn it by replaying the log.
   */
  private bootstrap(voters: readonly bigint[], learners: readonly bigint[]): void {
    this.becomeFollower(1, NONE);
    const changes = [
      ...voters.map((id) => ({ type: ConfChangeType.AddNode, nodeId: id })),
      ...learners.map((id) => ({ type: ConfChangeType.AddLearnerNode, nodeId: id })),
    ];
    const ents: Entry[] = changes.map((c, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: c.type, nodeId: c.nodeId, context: new Uint8Array(0) }),
    }));
    this.raftLog.append(ents);
    this.raftLog.committed = ents.length;
    this.bootstrapConfIndex = ents.length;
    for (const c of changes) this.applyConfChange(confChangeToV2({ ...c, context: new Uint8Array(0) }));
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  private loadState(hs: HardState): void {
    invariant(
      hs.commit <= this.raftLog.lastIndex(),
      () => `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    );
    // A crash between persisting a snapshot and the hard state of the same
    // Ready leaves a commit index below the snapshot. A snapshot only ever
    // holds committed entries, so its index is a valid commit index.
    this.raftLog.committed = Math.max(hs.commit, this.raftLog.committed);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  // ---------------------------------------------------------------- sending

  private send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    if (
      m.type === MessageType.Vote ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.PreVoteResp
    ) {
      // Vote messages carry the term of the election, not necessarily ours.
      invariant(m.term !== 0, () => `term should be set when sending ${messageTypeName(m.type)}`);
    } else {
      invariant(m.term === 0, () => `term should not be set when sending ${messageTypeName(m.type)} (was ${m.term})`);
      // Proposals and read requests are forwarded as local messages (term 0).
      if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Send an append (or a snapshot if the needed entries are compacted) to
   * `to`. With `sendIfEmpty` false nothing is sent when there are no new
   * entries. Returns whether a message was sent.
   */
  private maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const term = this.raftLog.tryTerm(prevIndex);
    let ents: Entry[] | undefined;
    // Checked first so the common "needs a snapshot" case does not throw.
    if (pr.next >= this.raftLog.firstIndex()) {
      try {
        ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsgBytes);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
      }
    }
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;

    if (term === undefined || ents === undefined) {
      // The entries the follower needs are compacted: send a snapshot.
      if (!pr.recentActive) return false;
      let snapshot: Snapshot;
      try {
        snapshot = this.raftLog.snapshot();
      } catch (e) {
        if (e instanceof SnapshotTemporarilyUnavailableError) return false;
        throw e;
      }
      invariant(!isEmptySnapshot(snapshot), 'need non-empty snapshot');
      pr.becomeSnapshot(snapshot.metadata.index);
      this.send(makeMessage({ type: MessageType.Snap, to, snapshot }));
      return true;
    }

    const m = makeMessage({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: term,
      entries: ents,
      commit: this.raftLog.committed,
    });
    if (ents.length > 0) {
      if (pr.state === ProgressState.Replicate) {
        const last = ents[ents.length - 1]!.index;
        pr.optimisticUpdate(last);
        pr.inflights.add(last);
      } else if (pr.state === ProgressState.Probe) {
        pr.probeSent = true;
      } else {
        throw new RaftInvariantError(`${this.id} is sending append in unhandled state ${pr.state}`);
      }
    }
    this.send(m);
    return true;
  }

  private sendHeartbeat(to: bigint, ctx: Uint8Array | undefined): void {
    const pr = this.prs.progress.get(to)!;
    // Never tell a follower to commit past what it is known to have.
    const commit = Math.min(pr.match, this.raftLog.committed);
    this.send(makeMessage({ type: MessageType.Heartbeat, to, commit, context: ctx }));
  }

  bcastAppend(): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  /** Commit what a quorum has; true if the commit index moved. */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term);
  }

  // ---------------------------------------------------------------- state changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    this.prs.visit((id, pr) => {
      pr.match = id === this.id ? this.raftLog.persistedLastIndex() : 0;
      pr.next = last + 1;
      pr.state = ProgressState.Probe;
      pr.pendingSnapshot = 0;
      pr.probeSent = false;
      pr.recentActive = false;
      pr.inflights.reset();
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.cfg.random();
    const extra = Math.min(this.cfg.electionTicks - 1, Math.max(0, Math.floor(r * this.cfg.electionTicks)));
    this.randomizedElectionTimeout = this.cfg.electionTicks + extra;
  }

  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`${this.id} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    invariant(this.state !== StateType.Leader, 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`${this.id} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    invariant(this.state !== StateType.Leader, 'invalid transition [leader -> pre-candidate]');
    // Neither the term nor the vote changes: a pre-vote round is harmless if lost.
    this.prs.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    invariant(this.state !== StateType.Follower, 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    this.prs.progress.get(this.id)?.becomeReplicate();
    // Conf changes in the uncommitted tail may not be applied yet: refuse new ones until they are.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An entry of our own term, so that earlier entries (and reads) can be committed.
    const ok = this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    invariant(ok, 'empty entry was dropped');
    this.logger.info(`${this.id} became leader at term ${this.term}`);
  }

  private promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot();
  }

  private campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable; campaign() should have been called`);
      return;
    }
    let voteMsg: MessageType;
    let term: number;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      // Pre-vote requests carry the term we would use, without adopting it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // Single voter: won at once.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    for (const id of this.prs.voterNodes()) {
      if (id === this.id) continue;
      this.send(
        makeMessage({
          type: voteMsg,
          to: id,
          term,
          index: this.raftLog.lastIndex(),
          logTerm: this.raftLog.lastTerm(),
          context: t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : undefined,
        }),
      );
    }
  }

  private poll(id: bigint, granted: boolean): VoteResult {
    this.prs.recordVote(id, granted);
    return this.prs.tallyVotes().result;
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(makeMessage({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---------------------------------------------------------------- step

  /**
   * Process one message. Throws ProposalDroppedError for a proposal that
   * cannot be accepted (the caller's propose fails; nothing changed).
   */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        if (!force && inLease) {
          // We heard from a leader within the election timeout: the sender is
          // likely partitioned or confused; do not let it disrupt the cluster.
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term in a granted pre-vote response is the one we will campaign
        // at; it is adopted only when the pre-vote wins.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote || !this.promotable()) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // Tell a leader with a stale term ours, or it never learns it: with
        // pre-vote / check-quorum we will not disrupt it by campaigning, and
        // a learner (or a member that does not know the config yet) never
        // campaigns at all. Without this, such a node (e.g. one that raised
        // its term answering a vote request) would never catch up.
        this.send(makeMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(makeMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The response carries the request's term: for a pre-vote that is a
          // future term, and the candidate needs to recognise its answer.
          this.send(makeMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(makeMessage({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        break;
    }
    switch (this.state) {
      case StateType.Leader:
        this.stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.stepCandidate(m);
        return;
      default:
        this.stepFollower(m);
    }
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    // A conf change that is committed but not applied may change who votes:
    // wait until it is applied before campaigning.
    const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER);
    if (ents.some((e) => e.type !== EntryType.Normal && e.index > this.bootstrapConfIndex)) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term}: pending configuration changes to apply`);
      return;
    }
    if (this.cfg.preVote && t !== CampaignType.Transfer) this.campaign(CampaignType.PreElection);
    else this.campaign(t);
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum: {
        const self = this.prs.progress.get(this.id);
        if (self) self.recentActive = true;
        if (!this.prs.quorumActive()) {
          this.logger.warn(`${this.id} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, NONE);
        }
        this.prs.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return;
      }
      case MessageType.Prop:
        this.leaderPropose(m);
        return;
      case MessageType.ReadIndex:
        if (this.pendingReadIndexMessages.length + this.readOnly.pendingCount() >= this.cfg.maxPendingReadIndexRequests) {
          throw new ProposalDroppedError('too many pending read index requests');
        }
        if (!this.committedEntryInCurrentTerm()) {
          // Our commit index may lag the previous leader's until an entry of
          // our term commits; hold the read until then.
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
      default:
        break;
    }

    const pr = this.prs.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp: {
        pr.recentActive = true;
        if (m.reject) {
          let nextProbeIdx = m.rejectHint;
          if (m.logTerm > 0) {
            // Skip every entry of ours with a term above the follower's at the
            // hint: they cannot match.
            nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm);
          }
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
        } else {
          const oldPaused = pr.isPaused();
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === ProgressState.Probe) {
              pr.becomeReplicate();
            } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
              pr.becomeProbe();
              pr.becomeReplicate();
            } else if (pr.state === ProgressState.Replicate) {
              pr.inflights.freeLE(m.index);
            }
            if (this.maybeCommit()) {
              this.releasePendingReadIndexMessages();
              this.bcastAppend();
            } else if (oldPaused) {
              this.sendAppend(m.from);
            }
            // Fill the inflight window while there is something to send.
            while (this.maybeSendAppend(m.from, false)) {
              /* keep sending */
            }
            if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
              this.logger.info(`${this.id} sent TimeoutNow to ${m.from} after it caught up`);
              this.sendTimeoutNow(m.from);
            }
          }
        }
        return;
      }
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        // Free one slot so a full window with lost acks still makes progress.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        if (this.readOnly.option !== ReadOnlyOption.Safe || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || this.prs.voteResult(acks) !== VoteResult.Won) return;
        for (const rs of this.readOnly.advance(m.context)) this.answerRead(rs);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response or an append response before probing.
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        // Appends were probably lost: fall back to probing.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader: {
        if (pr.isLearner) {
          this.logger.warn(`${this.id} ignored transferring leadership to learner ${m.from}`);
          return;
        }
        const transferee = m.from;
        if (this.leadTransferee !== NONE) {
          if (this.leadTransferee === transferee) return;
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) return;
        // The transfer must finish within one election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return;
      }
      default:
        return;
    }
  }

  private answerRead(rs: ReadIndexStatus): void {
    const resp = this.responseToReadIndexReq(rs.req, rs.index);
    if (resp) this.send(resp);
  }

  private leaderPropose(m: Message): void {
    invariant(m.entries.length > 0, `${this.id} stepped empty MsgProp`);
    if (!this.prs.progress.has(this.id)) throw new ProposalDroppedError('leader is not a member of the config');
    if (this.leadTransferee !== NONE) throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
    const entries = m.entries.map((e) => ({ ...e }));
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === EntryType.Normal) continue;
      let refusal: string | undefined;
      try {
        const cc = e.type === EntryType.ConfChange ? confChangeToV2(decodeConfChange(e.data)) : decodeConfChangeV2(e.data);
        refusal = this.confChangeRefusal(cc);
      } catch (err) {
        // Undecodable bytes (e.g. forwarded by a faulty peer) must not reach the log.
        if (!(err instanceof DecodeError)) throw err;
        refusal = err.message;
      }
      if (refusal !== undefined) {
        this.logger.warn(`${this.id} ignoring conf change at index ${this.raftLog.lastIndex() + i + 1}: ${refusal}`);
        // Keep the slot so the proposer sees an empty entry where its change would be.
        entries[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntries(entries)) throw new ProposalDroppedError('too many uncommitted entry bytes');
    this.bcastAppend();
  }

  /** Why a conf change cannot be proposed now, or undefined if it can. */
  private confChangeRefusal(cc: ConfChangeV2): string | undefined {
    if (this.pendingConfIndex > this.raftLog.applied) return 'possible unapplied conf change';
    const joint = this.prs.config.outgoing.size > 0;
    const wantsLeave = leaveJoint(cc);
    if (joint && !wantsLeave) return 'must transition out of joint config first';
    if (!joint && wantsLeave) return 'not in joint state; refusing empty conf change';
    // All earlier conf changes are applied, so this is the config the change
    // will be applied to: reject what would fail (or remove every voter) there.
    try {
      this.computeConfChange(cc);
    } catch (e) {
      if (e instanceof ConfChangeError) return e.message;
      throw e;
    }
    return undefined;
  }

  /**
   * The commit index, when this node is a leader and the only voter of its configuration and an
   * entry of its term has committed: its own quorum, it may serve a read at that index with no
   * round (what a ReadIndex request gets at once too, but through a Ready). Else undefined.
   */
  soleVoterReadIndex(): number | undefined {
    if (this.state !== StateType.Leader || !this.prs.isSingleton() || !this.prs.isVoter(this.id)) return undefined;
    return this.committedEntryInCurrentTerm() ? this.raftLog.committed : undefined;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.zeroTermOnErr(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.prs.isSingleton() || this.readOnly.option === ReadOnlyOption.LeaseBased) {
      // Alone, or trusting the lease: the commit index is the read index.
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp) this.send(resp);
      return;
    }
    const ctx = m.entries[0]!.data;
    this.readOnly.addRequest(this.raftLog.committed, m);
    // The leader acknowledges itself.
    this.readOnly.recvAck(this.id, ctx);
    this.bcastHeartbeatWithCtx(ctx);
  }

  private responseToReadIndexReq(req: Message, readIndex: number): Message | undefined {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
      return undefined;
    }
    return makeMessage({ type: MessageType.ReadIndexResp, to: req.from, index: readIndex, entries: req.entries });
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        throw new ProposalDroppedError('no leader');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.ReadIndex:
      case MessageType.TransferLeader:
        throw new ProposalDroppedError('no leader');
      default:
        break;
    }
    if (m.type === myVoteResp) {
      const res = this.poll(m.from, !m.reject);
      if (res === VoteResult.Won) {
        if (this.state === StateType.PreCandidate) {
          this.campaign(CampaignType.Election);
        } else {
          this.becomeLeader();
          this.bcastAppend();
        }
      } else if (res === VoteResult.Lost) {
        // A lost pre-vote keeps our term; a lost vote keeps the new one.
        this.becomeFollower(this.term, NONE);
      }
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) throw new ProposalDroppedError('no leader');
        if (this.cfg.disableProposalForwarding) throw new ProposalDroppedError('proposal forwarding disabled');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) throw new ProposalDroppedError('no leader to transfer leadership');
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.TimeoutNow:
        // Campaign at once, even if a leader is known: the leader asked us to.
        this.hup(CampaignType.Transfer);
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) throw new ProposalDroppedError('no leader to serve read index');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        if (m.entries.length !== 1) return;
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Reject, with a hint of the last index where our log can match: the
    // largest index <= m.index whose term is <= m.logTerm.
    let hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    hintIndex = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    const hintTerm = this.raftLog.zeroTermOnErr(hintIndex);
    this.send(
      makeMessage({
        type: MessageType.AppResp,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hintIndex,
        logTerm: hintTerm,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(makeMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.restore(s)) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
    }
  }

  /** Install a snapshot from the leader. False if it is stale or only advances the commit index. */
  restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      // Only followers receive snapshots; anything else means a bug somewhere.
      this.logger.warn(`${this.id} attempted to restore snapshot as non-follower; stepping down`);
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    if (this.raftLog.applying > this.raftLog.applied) {
      // Committed entries handed out in a Ready are still being applied (and
      // may carry conf changes the snapshot already includes): take the
      // snapshot once they are done; the leader will send it again.
      this.logger.info(`${this.id} deferring snapshot ${meta.index}: entries up to ${this.raftLog.applying} are being applied`);
      return false;
    }
    const cs = meta.confState;
    const inConfig = [cs.voters, cs.learners, cs.votersOutgoing].some((ids) => ids.includes(this.id));
    if (!inConfig) {
      this.logger.warn(`${this.id} attempted to restore snapshot but it is not in the ConfState`);
      return false;
    }
    if (this.raftLog.matchTerm(meta.index, meta.term)) {
      // We already have the entries: just fast-forward the commit index.
      this.raftLog.commitTo(meta.index);
      return false;
    }
    this.raftLog.restore(s);
    this.prs = new ProgressTracker(this.prs.maxInflight);
    const [cfg, prs] = restoreConfState(this.prs, this.raftLog.lastIndex(), cs);
    this.switchToConfig(cfg, prs);
    const pr = this.prs.progress.get(this.id);
    pr?.maybeUpdate(pr.next - 1);
    this.logger.info(`${this.id} restored snapshot [index: ${meta.index}, term: ${meta.term}]`);
    return true;
  }

  // ---------------------------------------------------------------- entries

  /** Append entries at the end of our log, as leader. False if over the uncommitted size limit. */
  private appendEntries(es: Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    for (let i = 0; i < es.length; i++) {
      es[i]!.term = this.term;
      es[i]!.index = li + 1 + i;
    }
    if (!this.increaseUncommittedSize(es)) {
      this.logger.warn(`${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`);
      return false;
    }
    this.raftLog.append(es);
    // The leader counts itself towards the commit quorum only once these are
    // durable: see onPersisted().
    return true;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += e.data.length;
    // Always allow at least one batch when nothing is outstanding, and empty entries always.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.cfg.maxUncommittedEntriesSizeBytes) return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.uncommittedSize === 0) return;
    let s = 0;
    for (const e of ents) s += e.data.length;
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /**
   * Called after the caller made entries up to the log's persisted index
   * durable: the leader can count itself in the commit quorum.
   */
  onPersisted(): void {
    if (this.state !== StateType.Leader) return;
    const pr = this.prs.progress.get(this.id);
    if (!pr) return;
    if (pr.maybeUpdate(this.raftLog.persistedLastIndex()) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  /** Called after the application applied committed entries up to `newApplied`. */
  onApplied(oldApplied: number, newApplied: number): void {
    if (
      this.prs.config.autoLeave &&
      oldApplied <= this.pendingConfIndex &&
      newApplied >= this.pendingConfIndex &&
      this.state === StateType.Leader
    ) {
      // The joint config is applied and marked auto-leave: propose leaving it.
      const ok = this.appendEntries([{ term: 0, index: 0, type: EntryType.ConfChangeV2, data: new Uint8Array(0) }]);
      invariant(ok, 'refused to append the auto-leave entry');
      this.pendingConfIndex = this.raftLog.lastIndex();
      this.bcastAppend();
      this.logger.info(`${this.id} initiating automatic transition out of joint configuration`);
    }
  }

  // ---------------------------------------------------------------- membership

  private computeConfChange(cc: ConfChangeV2): [TrackerConfig, ProgressMap] {
    const changer = new ConfChanger(this.prs, this.raftLog.lastIndex());
    if (leaveJoint(cc)) return changer.leaveJoint();
    const j = enterJoint(cc);
    if (j.enter) return changer.enterJoint(j.autoLeave, cc.changes);
    return changer.simple(cc.changes);
  }

  /** Apply a committed conf change; returns the new ConfState. @throws ConfChangeError */
  applyConfChange(cc: ConfChangeV2): ConfState {
    const [cfg, prs] = this.computeConfChange(cc);
    return this.switchToConfig(cfg, prs);
  }

  private switchToConfig(cfg: TrackerConfig, prs: ProgressMap): ConfState {
    this.prs.config = cfg;
    this.prs.progress = prs;
    const cs = this.prs.confState();
    const pr = this.prs.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;

    if ((!pr || this.isLearner) && this.state === StateType.Leader) {
      // Removed or demoted leader: hand over to the most caught-up voter and step down.
      this.logger.info(`${this.id} removed from the voters while leader; stepping down`);
      const last = this.raftLog.lastIndex();
      const target = this.prs.voterNodes().find((id) => id !== this.id && this.prs.progress.get(id)?.match === last);
      if (target !== undefined) this.sendTimeoutNow(target);
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;

    // The quorum changed: the commit index may move, and new members need appends.
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else {
      this.prs.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== NONE && !this.prs.config.incoming.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  // ---------------------------------------------------------------- misc

  private sendTimeoutNow(to: bigint): void {
    this.send(makeMessage({ type: MessageType.TimeoutNow, to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  /** Local reports from the application: snapshot sent / peer unreachable. */
  reportSnapshot(id: bigint, failed: boolean): void {
    this.stepLocal(makeMessage({ type: MessageType.SnapStatus, from: id, reject: failed }));
  }

  reportUnreachable(id: bigint): void {
    this.stepLocal(makeMessage({ type: MessageType.Unreachable, from: id }));
  }

  private stepLocal(m: Message): void {
    if (this.state === StateType.Leader) this.stepLeader(m);
  }
}
