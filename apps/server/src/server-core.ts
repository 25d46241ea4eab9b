import { status } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors, type etcdserverpb } from '@raftkv/api';
import type * as mvcc from '@raftkv/mvcc';
import type { MvccStore } from '@raftkv/mvcc';
import { LeaseNotFoundError, NotPrimaryError, type Lessor } from '@raftkv/lease';
import { ConfChangeType, NONE, type ConfChange } from '@raftkv/raft';
import type { AlarmStore } from './alarm/alarm-store.js';
import type { QuotaGuard } from './alarm/quota.js';
import type { IdGenerator } from './cluster/id-generator.js';
import type { Applier, ApplyResult, AuthApplyResult } from './apply/applier.js';
import { PendingProposals } from './pending-proposals.js';
import { encodeInternalRequest, type AuthRequest, type LogRequest, type RequestAuth } from './apply/request-codec.js';
import type { AuthStore } from './auth/auth-store.js';
import { Authenticator } from './auth/authenticator.js';
import { openTokenProvider, type TokenProvider } from './auth/tokens.js';
import { computeMemberId, formatUrl } from './cluster/member-id.js';
import type { MemberRpcClient, MembersReply, TimeToLiveReply } from './cluster/member-rpc.js';
import { encodeConfChangeContext, type Member, type Membership } from './cluster/membership.js';
import { renewAtOnce, renewOnPrimary } from './lease/lease-renewal.js';
import type { ServerConfig } from './config/index.js';
import { hasPeerTls } from './security/transport-security.js';
import type { PeerTransport } from '@raftkv/peer-transport';
import type { RaftLog } from '@raftkv/raft-log';

/** etcd allows this many learners in a cluster (3.4's maxLearners). */
const MAX_LEARNERS = 1;
/** A learner may be promoted once its log matches this share of the leader's (etcd's readyPercent). */
const LEARNER_READY_PERCENT = 0.9;
/** How often a request that must wait for a leader (or a promoted lessor) looks again. */
const RETRY_MS = 50;

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
}

/** Told of each proposal this member makes for a client (etcd's proposals_pending and _failed_total). */
export interface ProposalObserver {
  proposalStarted(): void;
  /** `failed`: it was dropped or timed out (not: applied with an error result). */
  proposalEnded(failed: boolean): void;
  /** A ReadIndex round of linearizable reads failed with `err` (etcd's read index metrics). */
  readIndexFailed?(err: unknown): void;
  /** As leader, this member promoted a learner, or refused to with `err` (etcd's learner_promote metrics). */
  learnerPromoted?(err?: unknown): void;
}

export interface ServerCoreParts {
  proposals?: ProposalObserver;
  config: ServerConfig;
  store: MvccStore;
  lessor: Lessor;
  log: RaftLog;
  applier: Applier;
  ids: IdGenerator;
  membership: Membership;
  transport: PeerTransport;
  memberRpc: MemberRpcClient;
  clusterId: bigint;
  self: MemberInfo;
  /** Checked before puts, txns and lease grants are proposed (--quota-backend-bytes); none: no quota. */
  quota?: QuotaGuard;
  /** Issues and reads auth tokens (--auth-token); default: simple tokens. */
  tokens?: TokenProvider;
}

interface ConfWaiter { resolve(): void; reject(err: unknown): void }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** What linearizableRead returns when the read may go ahead at once. */
const READ_NOW: Promise<void> = Promise.resolve();

function hex8(id: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(id);
  return b;
}

/**
 * What the gRPC services share: the store to read, the raft log to propose to, the cluster's
 * membership, and who we are. Writes go propose → raft (WAL fsync on a quorum) → apply →
 * answer: nothing is acknowledged before it is durable. Linearizable reads wait for a
 * ReadIndex confirmed by a quorum; serializable reads are local.
 */
export class ServerCore {
  readonly config: ServerConfig;
  readonly store: MvccStore;
  readonly lessor: Lessor;
  readonly log: RaftLog;
  readonly membership: Membership;
  readonly clusterId: bigint;
  readonly self: MemberInfo;
  /** etcd's request timeout: 5 s plus two election timeouts. */
  readonly requestTimeoutMs: number;
  /** Who each client call comes from (tokens, certificate names). */
  readonly authenticator: Authenticator;
  private readonly applier: Applier;
  private readonly ids: IdGenerator;
  private readonly transport: PeerTransport;
  private readonly proposals: ProposalObserver | undefined;
  private readonly memberRpc: MemberRpcClient;
  private readonly quota: QuotaGuard | undefined;
  private readonly confWaiters = new Map<bigint, ConfWaiter>();
  private readWaiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  private readInFlight = false;
  private closed = false;
  /** Proposals waiting for their apply, with their deadlines. */
  private readonly pending: PendingProposals;

  constructor(parts: ServerCoreParts) {
    this.config = parts.config;
    this.store = parts.store;
    this.lessor = parts.lessor;
    this.log = parts.log;
    this.applier = parts.applier;
    this.ids = parts.ids;
    this.membership = parts.membership;
    this.transport = parts.transport;
    this.memberRpc = parts.memberRpc;
    this.proposals = parts.proposals;
    this.clusterId = parts.clusterId;
    this.self = parts.self;
    this.quota = parts.quota;
    this.requestTimeoutMs = 5000 + 2 * parts.config.electionTimeoutMs;
    this.pending = new PendingProposals({
      ended: (failed) => this.proposals?.proposalEnded(failed),
      cancel: (id) => this.applier.cancel(id),
      timedOut: () => this.leaderId === NONE ? EtcdErrors.TimeoutDueToLeaderFail : EtcdErrors.Timeout,
    });
    const tokens = parts.tokens ?? openTokenProvider({
      spec: 'simple', simpleTtlSeconds: parts.config.authTokenTtlSeconds, waitApplied: (i) => this.waitApplied(i),
    });
    this.authenticator = new Authenticator(this.applier.auth, tokens, parts.config.clientTls.clientCertAuth);
    // Tokens follow the auth store as entries apply on this member (etcd's tokenProvider calls).
    this.applier.onAuthenticate = (username, prefix, index) => tokens.assign(username, prefix, index);
    this.applier.auth.onTokensInvalid = (change) => {
      if (change.kind === 'enabled') tokens.enable();
      else if (change.kind === 'disabled') tokens.disable();
      else if (change.kind === 'user') tokens.invalidateUser(change.username);
    };
    if (this.applier.auth.isEnabled) tokens.enable();
  }

  /** Highest log index whose effects are visible in the store. */
  get appliedIndex(): number {
    return this.log.appliedIndex;
  }

  /** The leader's ID as this member knows it; 0 when there is none. */
  get leaderId(): bigint {
    return this.log.lead;
  }

  get isLearner(): boolean {
    return this.membership.get(this.self.id)?.isLearner ?? false;
  }

  /** etcd serves a learner's clients only Status and serializable ranges: everything else is refused. */
  refuseOnLearner(): void {
    if (this.isLearner) throw EtcdErrors.NotSupportedForLearner;
  }

  header(revision: number): etcdserverpb.ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.self.id, revision: BigInt(revision), raftTerm: BigInt(this.log.term) };
  }

  nextRequestId(): bigint {
    return this.ids.next();
  }

  // ---------------------------------------------------------------- reads

  /**
   * Resolves once local state includes every write acknowledged anywhere before the call:
   * one ReadIndex round serves all reads that arrived while the previous round was out.
   */
  linearizableRead(): Promise<void> {
    if (this.isLearner) return Promise.reject(EtcdErrors.NotSupportedForLearner);
    // A sole voter that has applied its commit index reads now: the round below would resolve at
    // once with that same point, after a request ID, a pending-read key and three promises.
    if (this.log.readPointNow() !== undefined) return READ_NOW;
    return new Promise((resolve, reject) => {
      this.readWaiters.push({ resolve, reject });
      this.startReadRound();
    });
  }

  private startReadRound(): void {
    if (this.readInFlight || this.readWaiters.length === 0) return;
    const batch = this.readWaiters;
    this.readWaiters = [];
    this.readInFlight = true;
    this.log.readIndex(hex8(this.ids.next())).then(
      () => { for (const w of batch) w.resolve(); },
      (err: unknown) => {
        this.proposals?.readIndexFailed?.(err);
        for (const w of batch) w.reject(err);
      },
    ).finally(() => {
      this.readInFlight = false;
      this.startReadRound();
    });
  }

  // ---------------------------------------------------------------- writes

  /** Resolves with the put's result once applied (the hot path: no async frames, one promise). */
  put(put: etcdserverpb.PutRequest, requester?: RequestAuth): Promise<Extract<ApplyResult, { kind: 'put' }>> {
    if (this.quota && !this.quota.available({ kind: 'put', put })) return this.quota.refuse();
    const id = this.nextRequestId();
    return this.propose(by(requester, { kind: 'put', id, put })) as Promise<Extract<ApplyResult, { kind: 'put' }>>;
  }

  async deleteRange(deleteRange: etcdserverpb.DeleteRangeRequest, requester?: RequestAuth): Promise<mvcc.DeleteRangeResponse> {
    const r = await this.propose(by(requester, { kind: 'deleteRange', id: this.nextRequestId(), deleteRange }));
    return (r as Extract<ApplyResult, { kind: 'deleteRange' }>).response;
  }

  /** Resolves with the txn's result once applied (as put: no async frames, nothing holds `txn` once proposed). */
  txn(txn: etcdserverpb.TxnRequest, requester?: RequestAuth): Promise<Extract<ApplyResult, { kind: 'txn' }>> {
    if (this.quota && !this.quota.available({ kind: 'txn', txn })) return this.quota.refuse();
    return this.propose(by(requester, { kind: 'txn', id: this.nextRequestId(), txn })) as Promise<Extract<ApplyResult, { kind: 'txn' }>>;
  }

  /** Resolves when compacted; with `physical`, once the backend has dropped the old revisions. */
  async compact(compaction: etcdserverpb.CompactionRequest, requester?: RequestAuth): Promise<void> {
    const r = await this.propose(by(requester, { kind: 'compaction', id: this.nextRequestId(), compaction }));
    if (compaction.physical) {
      await (r as Extract<ApplyResult, { kind: 'compaction' }>).physical;
      await this.applier.flushed();
    }
  }

  /**
   * Grants a lease; an ID of 0 lets the server pick a positive int63, as etcd does. Resolves with the
   * granted lease's ID and TTL once applied (as put: no async frames).
   */
  leaseGrant(req: etcdserverpb.LeaseGrantRequest, requester?: RequestAuth): Promise<{ id: bigint; ttlSeconds: number; revision: number }> {
    if (this.quota && !this.quota.available({ kind: 'leaseGrant' })) return this.quota.refuse();
    let id = req.ID;
    while (id === 0n) id = this.ids.next() & 0x7fff_ffff_ffff_ffffn;
    const leaseGrant = { ID: id, TTL: req.TTL };
    const reqId = this.nextRequestId();
    return this.propose(by(requester, { kind: 'leaseGrant', id: reqId, leaseGrant })) as Promise<Extract<ApplyResult, { kind: 'leaseGrant' }>>;
  }

  /** Resolves with the store's revision as the revoke applied (after its keys' deletes). */
  async leaseRevoke(id: bigint, requester?: RequestAuth): Promise<number> {
    const r = await this.propose(by(requester, { kind: 'leaseRevoke', id: this.nextRequestId(), leaseRevoke: { ID: id } }));
    return (r as Extract<ApplyResult, { kind: 'leaseRevoke' }>).revision;
  }

  async leaseCheckpoint(checkpoints: etcdserverpb.LeaseCheckpoint[]): Promise<void> {
    await this.propose({ kind: 'leaseCheckpoint', id: this.nextRequestId(), leaseCheckpoint: { checkpoints } });
  }

  /** The cluster's alarms as applied here. */
  get alarms(): AlarmStore {
    return this.applier.alarms;
  }

  /** etcd's Alarm ACTIVATE/DEACTIVATE: through the log, so every member changes mode at the same index. */
  async alarm(alarm: etcdserverpb.AlarmRequest, requester?: RequestAuth): Promise<etcdserverpb.AlarmMember[]> {
    const r = await this.propose(by(requester, { kind: 'alarm', id: this.nextRequestId(), alarm }));
    return (r as Extract<ApplyResult, { kind: 'alarm' }>).alarms;
  }

  /** Users, roles and permissions as applied here. */
  get auth(): AuthStore {
    return this.applier.auth;
  }

  /** An auth store request through the log (etcd sends every Auth RPC through raft, reads too). */
  async authRequest(auth: AuthRequest, requester?: RequestAuth): Promise<AuthApplyResult> {
    return await this.propose(by(requester, { kind: 'auth', id: this.nextRequestId(), auth })) as AuthApplyResult;
  }

  /** Resolves true once this member has applied `index`, false if that takes longer than the request timeout. */
  async waitApplied(index: number): Promise<boolean> {
    const deadline = Date.now() + this.requestTimeoutMs;
    while (this.appliedIndex < index) {
      if (this.closed || Date.now() >= deadline) return false;
      await sleep(RETRY_MS / 5);
    }
    return true;
  }

  /**
   * Publishes this member's name and client URLs through the log (etcd's publish). The caller
   * retries: an attempt lost with a leader is given up after `timeoutMs`.
   */
  async publish(timeoutMs: number): Promise<void> {
    await this.propose({
      kind: 'memberAttributes', id: this.nextRequestId(),
      member: { ID: this.self.id, name: this.self.name, peerURLs: [], clientURLs: this.self.clientUrls, isLearner: false },
    }, timeoutMs);
  }

  private propose(req: LogRequest, timeoutMs = this.requestTimeoutMs): Promise<ApplyResult> {
    const data = encodeInternalRequest(req);
    if (data.byteLength > this.config.maxRequestBytes) return Promise.reject(EtcdErrors.RequestTooLarge);
    this.proposals?.proposalStarted();
    // One promise per write, settled by whichever comes first: the apply, a drop by the log, or
    // the deadline sweep (a forwarded proposal can vanish with its leader: answered as etcd does
    // after its request timeout).
    return new Promise<ApplyResult>((resolve, reject) => {
      const p = this.pending.add(req.id, timeoutMs, resolve, reject);
      this.applier.expect(req.id, p);
      try {
        this.log.propose(data, p.dropped);
      } catch (err) {
        p.drop(err);
      }
    });
  }

  // ---------------------------------------------------------------- leases

  /**
   * The leader's lessor renews, a live lease at once: the TTL as a number, no promise (keepalive's
   * hot path); a follower forwards to the leader. Rejects with `LeaseNotFound` for an unknown lease,
   * and for an expired one once its revoke is applied (etcd waits for it). Never throws.
   */
  leaseRenew(id: bigint): number | Promise<number> {
    return (this.leaderId === this.self.id && !this.closed ? renewAtOnce(this.lessor, id) : undefined) ?? this.onLeaderLessor(
      (deadlineMs) => renewOnPrimary(this.lessor, id, { deadlineMs, stopped: () => this.closed }),
      (url, ms) => this.memberRpc.leaseRenew(url, id, ms),
    );
  }

  /** Remaining and granted TTL from the leader's lessor. Throws `LeaseNotFound`. */
  async leaseTimeToLive(id: bigint, keys: boolean): Promise<TimeToLiveReply> {
    return this.onLeaderLessor(
      () => {
        const t = this.lessor.timeToLive(id, { keys });
        return { ttl: t.remainingTtlSeconds, grantedTtl: t.grantedTtlSeconds, keys: t.keys.map((k) => Buffer.from(k).toString('base64')) };
      },
      (url, ms) => this.memberRpc.leaseTimeToLive(url, id, keys, ms),
    );
  }

  /**
   * Runs `local` on the leader once its lessor is primary (a new leader promotes it after
   * applying its term's first entry), or `remote` against the leader from a follower; retries
   * through elections until the request timeout.
   */
  private async onLeaderLessor<T>(local: (deadline: number) => T | Promise<T>, remote: (url: string, timeoutMs: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      if (this.closed) throw EtcdErrors.Stopped;
      const lead = this.leaderId;
      try {
        if (lead === this.self.id) return await local(deadline);
        const leader = lead === NONE ? undefined : this.membership.get(lead);
        // Each forward is bounded by an election timeout (at least 1 s): a leader cut off from this
        // member must not hold a renewal until the request deadline (~6 s, past a short lease's
        // TTL) while a new leader is elected; the next attempt goes to whoever leads then.
        const attemptMs = Math.min(Math.max(1, deadline - Date.now()), Math.max(1000, this.config.electionTimeoutMs));
        if (leader && leader.peerUrls.length > 0) return await remote(leader.peerUrls[0]!, attemptMs);
      } catch (err) {
        if (err instanceof LeaseNotFoundError) throw EtcdErrors.LeaseNotFound;
        const code = (err as { code?: number }).code;
        const retriable = err instanceof NotPrimaryError || EtcdErrors.NotLeader.is(err) || code === 14 || code === 4;
        if (!retriable) throw err;
      }
      if (Date.now() >= deadline) throw lead === NONE ? EtcdErrors.NoLeader : EtcdErrors.Timeout;
      await sleep(RETRY_MS);
    }
  }

  /** The leader side of forwarded lease calls (an expired lease's renewal waits for its revoke, as `leaseRenew`). */
  async leaderLeaseRenew(id: bigint): Promise<number> {
    if (!this.log.isLeader) throw EtcdErrors.NotLeader;
    try {
      return await renewOnPrimary(this.lessor, id, { deadlineMs: Date.now() + this.requestTimeoutMs, stopped: () => this.closed });
    } catch (err) {
      if (err instanceof LeaseNotFoundError) throw EtcdErrors.LeaseNotFound;
      if (err instanceof NotPrimaryError) throw EtcdErrors.NotLeader;
      throw err;
    }
  }

  leaderLeaseTimeToLive(id: bigint, keys: boolean): TimeToLiveReply {
    if (!this.log.isLeader) throw EtcdErrors.NotLeader;
    try {
      const t = this.lessor.timeToLive(id, { keys });
      return { ttl: t.remainingTtlSeconds, grantedTtl: t.grantedTtlSeconds, keys: t.keys.map((k) => Buffer.from(k).toString('base64')) };
    } catch (err) {
      if (err instanceof LeaseNotFoundError) throw EtcdErrors.LeaseNotFound;
      if (err instanceof NotPrimaryError) throw EtcdErrors.NotLeader;
      throw err;
    }
  }

  // ---------------------------------------------------------------- membership

  membersReply(): MembersReply {
    return {
      clusterId: this.clusterId.toString(16),
      members: this.membership.list().map((m) => ({
        id: m.id.toString(16), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner,
      })),
    };
  }

  /** Adds a member (etcd's MemberAdd); resolves once the change is applied here. */
  async memberAdd(peerUrls: readonly string[], isLearner: boolean): Promise<Member> {
    const urls = parsePeerUrls(peerUrls, hasPeerTls(this.config));
    // etcd's order: mayAddMember's checks, then ValidateConfigurationChange's (removed ID, ID in
    // use, peer URL in use, learner count). The ID hashes the URLs and the time in seconds, so
    // re-adding a just-removed member can meet its own removed ID: etcd says "member not found".
    if (this.config.strictReconfigCheck) {
      if (!isLearner && !this.readyToAddVoter()) throw EtcdErrors.MemberNotEnoughStarted;
      if (!this.allVotersConnected()) throw EtcdErrors.Unhealthy;
    }
    const id = computeMemberId(urls.map((u) => new URL(u)), '', Math.floor(Date.now() / 1000));
    if (this.membership.isRemoved(id)) throw EtcdErrors.MemberNotFound;
    if (this.membership.get(id)) throw EtcdErrors.MemberExist;
    if (this.membership.findByPeerUrl(urls)) throw EtcdErrors.PeerURLExist;
    if (isLearner && this.membership.list().filter((m) => m.isLearner).length >= MAX_LEARNERS) throw EtcdErrors.TooManyLearners;
    const member: Member = { id, name: '', peerUrls: urls, clientUrls: [], isLearner };
    await this.proposeConfChange(isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, member);
    return member;
  }

  async memberRemove(id: bigint): Promise<void> {
    const m = this.membership.get(id);
    // etcd's order: mayRemoveMember (any ID that is not a learner's), then the ID itself.
    if (this.config.strictReconfigCheck && !m?.isLearner) {
      if (!this.readyToRemoveVoter(id)) throw EtcdErrors.MemberNotEnoughStarted;
      if (!this.mayRemoveVoter(id)) throw EtcdErrors.Unhealthy;
    }
    if (!m) throw EtcdErrors.MemberNotFound;
    await this.proposeConfChange(ConfChangeType.RemoveNode, m);
  }

  async memberUpdate(id: bigint, peerUrls: readonly string[]): Promise<void> {
    const m = this.membership.get(id);
    if (!m) throw EtcdErrors.MemberNotFound;
    const urls = parsePeerUrls(peerUrls, hasPeerTls(this.config));
    if (this.membership.findByPeerUrl(urls, id)) throw EtcdErrors.PeerURLExist;
    // As etcd 3.4, the update carries no learner flag (false): see Membership.setRaftAttributes.
    await this.proposeConfChange(ConfChangeType.UpdateNode, { ...m, peerUrls: urls, isLearner: false });
  }

  /** Promotes a learner; only the leader can judge it caught up, so a follower forwards. */
  async memberPromote(id: bigint): Promise<void> {
    const lead = this.leaderId;
    if (lead === NONE) throw EtcdErrors.NoLeader;
    if (lead !== this.self.id) {
      const leader = this.membership.get(lead);
      if (!leader) throw EtcdErrors.NoLeader;
      await this.memberRpc.memberPromote(leader.peerUrls[0]!, id, this.requestTimeoutMs);
      return;
    }
    await this.leaderMemberPromote(id);
  }

  async leaderMemberPromote(id: bigint): Promise<void> {
    if (!this.log.isLeader) throw EtcdErrors.NotLeader;
    try {
      await this.promoteAsLeader(id);
    } catch (err) {
      // etcd counts every refusal but "not leader" (the caller then forwards the request).
      if (err !== EtcdErrors.NotLeader) this.proposals?.learnerPromoted?.(err);
      throw err;
    }
    this.proposals?.learnerPromoted?.();
  }

  private async promoteAsLeader(id: bigint): Promise<void> {
    const m = this.membership.get(id);
    if (!m) throw EtcdErrors.MemberNotFound;
    if (!m.isLearner) throw EtcdErrors.MemberNotLearner;
    const progress = this.log.status().progress;
    const leaderMatch = progress?.get(this.self.id)?.match ?? 0;
    const learnerMatch = progress?.get(id)?.match ?? 0;
    if (learnerMatch < leaderMatch * LEARNER_READY_PERCENT) throw EtcdErrors.LearnerNotReady;
    await this.proposeConfChange(ConfChangeType.AddNode, { ...m, isLearner: false });
  }

  /** Called by the apply path when a conf change carrying `requestId` was applied here. */
  confChangeApplied(requestId: bigint): void {
    const w = this.confWaiters.get(requestId);
    if (!w) return;
    this.confWaiters.delete(requestId);
    w.resolve();
  }

  private proposeConfChange(type: ConfChangeType, m: Member): Promise<void> {
    const requestId = this.nextRequestId();
    const cc: ConfChange = {
      type, nodeId: m.id,
      context: encodeConfChangeContext({ requestId, member: { id: m.id, peerUrls: [...m.peerUrls], isLearner: m.isLearner } }),
    };
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.confWaiters.delete(requestId);
        reject(EtcdErrors.Timeout);
      }, this.requestTimeoutMs);
      this.confWaiters.set(requestId, {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
      try {
        this.log.proposeConfChange(cc);
      } catch (err) {
        this.confWaiters.delete(requestId);
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  /** etcd's IsReadyToAddVotingMember: a quorum of the grown cluster has started. */
  private readyToAddVoter(): boolean {
    const voters = this.membership.votingMembers();
    const started = voters.filter((m) => m.name !== '').length;
    const grown = voters.length + 1;
    if (started === 1 && grown === 2) return true;
    return started >= Math.floor(grown / 2) + 1;
  }

  /** etcd's IsReadyToRemoveVotingMember: a quorum of the other voters has started. */
  private readyToRemoveVoter(id: bigint): boolean {
    const others = this.membership.votingMembers().filter((m) => m.id !== id);
    const started = others.filter((m) => m.name !== '').length;
    return started >= Math.floor(others.length / 2) + 1;
  }

  /** Whether this member has a live stream to every other voter (etcd's isConnectedFullySince). */
  private allVotersConnected(): boolean {
    const peers = this.transport.stats().peers;
    return this.membership.votingMembers().every((m) => m.id === this.self.id || peers.get(m.id)?.active === true);
  }

  /** etcd's mayRemoveMember: a quorum of the remaining voters stays connected. */
  private mayRemoveVoter(id: bigint): boolean {
    const peers = this.transport.stats().peers;
    // A member that is down is not part of the active quorum: removing it is safe.
    if (id !== this.self.id && peers.get(id)?.active !== true) return true;
    const voters = this.membership.votingMembers();
    const active = voters.filter((m) => m.id === this.self.id || peers.get(m.id)?.active === true).length;
    return active - 1 >= Math.floor((voters.length - 1) / 2) + 1;
  }

  // ---------------------------------------------------------------- leadership

  /** Hands leadership to `target` (etcd's MoveLeader, served by the leader only). */
  async moveLeader(target: bigint): Promise<void> {
    if (!this.log.isLeader) throw EtcdErrors.NotLeader;
    const m = this.membership.get(target);
    if (!m || m.isLearner) throw EtcdErrors.BadLeaderTransferee;
    if (target === this.self.id) return;
    this.log.transferLeader(target);
    const deadline = Date.now() + this.requestTimeoutMs;
    while (this.leaderId !== target) {
      if (Date.now() >= deadline) throw EtcdErrors.TimeoutLeaderTransfer;
      await sleep(RETRY_MS / 5);
    }
  }

  /** Fails waiting membership changes; later calls answer `Stopped`. */
  close(): void {
    this.closed = true;
    this.authenticator.tokens.close();
    for (const w of this.confWaiters.values()) w.reject(EtcdErrors.Stopped);
    this.confWaiters.clear();
  }
}

/** The request, carrying who sent it when auth is on (set in place: no spread's temporary object on the hot path). */
function by(requester: RequestAuth | undefined, req: LogRequest): LogRequest {
  if (requester) req.requester = requester;
  return req;
}

/** Validates and normalises peer URLs as etcd's types.NewURLs (http/https, host:port, no path). */
function parsePeerUrls(peerUrls: readonly string[], peerTls: boolean): string[] {
  if (peerUrls.length === 0) throw EtcdErrors.MemberBadURLs;
  return peerUrls.map((s) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw EtcdErrors.MemberBadURLs;
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.port === '' || (u.pathname !== '/' && u.pathname !== '')) {
      throw EtcdErrors.MemberBadURLs;
    }
    // etcd would add it and fail every handshake with it: a member without peer TLS could never
    // reach it, so refuse it before it is proposed (and possibly costs the cluster its quorum).
    if (u.protocol === 'https:' && !peerTls) {
      throw new EtcdError(status.FAILED_PRECONDITION, 'raftkv: https peer URLs need peer TLS on this member (--peer-cert-file/--peer-key-file or --peer-auto-tls)');
    }
    return formatUrl(u);
  });
}

