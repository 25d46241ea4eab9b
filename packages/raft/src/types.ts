/**
 * Plain data types that travel between members (messages) and sit in the WAL
 * (entries, hard state, snapshots). Node IDs are `bigint`; terms and indexes
 * are `number` (asserted `<= Number.MAX_SAFE_INTEGER` when decoded).
 */

/** Node ID meaning "nobody" (no leader, no vote). */
export const NONE = 0n;

/** Kind of a log entry. */
export const EntryType = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. `data` is opaque to raft except for conf-change entries. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** Message kinds; numbering follows etcd's raftpb so traces read the same. */
export const MessageType = {
  Hup: 0,
  Beat: 1,
  Prop: 2,
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Unreachable: 10,
  SnapStatus: 11,
  CheckQuorum: 12,
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames = Object.fromEntries(
  Object.entries(MessageType).map(([k, v]) => [v, k]),
) as Record<number, string>;

/** Human-readable name of a message type, for logs and traces. */
export function messageTypeName(t: MessageType): string {
  return messageTypeNames[t] ?? `Unknown(${t})`;
}

/** Membership: voters (and the outgoing voters while joint), learners. */
export interface ConfState {
  voters: bigint[];
  learners: bigint[];
  /** Voters of the outgoing config while in a joint config, else empty. */
  votersOutgoing: bigint[];
  /** Voters of the outgoing config that become learners when the joint config is left. */
  learnersNext: bigint[];
  /** Leave the joint config automatically once it is applied. */
  autoLeave: boolean;
}

export interface SnapshotMetadata {
  confState: ConfState;
  index: number;
  term: number;
}

/** A state-machine snapshot: application bytes plus the log position and config it covers. */
export interface Snapshot {
  data: Uint8Array;
  metadata: SnapshotMetadata;
}

/** State that must be durable before messages that depend on it are sent. */
export interface HardState {
  term: number;
  vote: bigint;
  commit: number;
}

/** A raft message. Fields not used by a type are zero / empty. */
export interface Message {
  type: MessageType;
  to: bigint;
  from: bigint;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot: Snapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array;
}

/** Kind of a single membership change. */
export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/**
 * How a ConfChangeV2 is carried out. `Auto` uses a one-step change when at
 * most one voter changes, else joint consensus left automatically.
 */
export const ConfChangeTransition = { Auto: 0, JointImplicit: 1, JointExplicit: 2 } as const;
export type ConfChangeTransition = (typeof ConfChangeTransition)[keyof typeof ConfChangeTransition];

/** A one-node membership change (carried in an `EntryType.ConfChange` entry). */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: bigint;
  context: Uint8Array;
}

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: bigint;
}

/**
 * A multi-node membership change (carried in an `EntryType.ConfChangeV2`
 * entry). An empty `changes` list means "leave the joint config".
 */
export interface ConfChangeV2 {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  context: Uint8Array;
}

/** Role of a node. */
export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

/** Volatile state, reported in a Ready when it changes; never persisted. */
export interface SoftState {
  lead: bigint;
  raftState: StateType;
}

/**
 * The answer to a `readIndex(context)` request: once the local applied index
 * reaches `index`, a read started at request time is linearizable.
 */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);

/** Build a message with every unset field zero / empty. */
export function makeMessage(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    type: m.type,
    to: m.to ?? NONE,
    from: m.from ?? NONE,
    term: m.term ?? 0,
    logTerm: m.logTerm ?? 0,
    index: m.index ?? 0,
    entries: m.entries ?? [],
    commit: m.commit ?? 0,
    snapshot: m.snapshot,
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0,
    context: m.context ?? EMPTY_BYTES,
  };
}

/** A ConfState with no members. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** The snapshot "nothing yet": index 0, term 0, no members. */
export function emptySnapshot(): Snapshot {
  return { data: EMPTY_BYTES, metadata: { confState: emptyConfState(), index: 0, term: 0 } };
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

export function isEmptyHardState(h: HardState): boolean {
  return h.term === 0 && h.vote === NONE && h.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** True if the message type is a response (its sender's progress is updated). */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Unreachable ||
    t === MessageType.PreVoteResp
  );
}

/** True for messages that are generated locally and never cross the network. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.Unreachable ||
    t === MessageType.SnapStatus ||
    t === MessageType.CheckQuorum
  );
}

/** Turn a v1 ConfChange into the equivalent ConfChangeV2. */
export function confChangeToV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('changes' in cc) return cc;
  return {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/**
 * For a ConfChangeV2: whether it enters a joint config, and if so whether
 * that config is left automatically.
 */
export function enterJoint(cc: ConfChangeV2): { enter: boolean; autoLeave: boolean } {
  if (cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1) {
    return { enter: true, autoLeave: cc.transition !== ConfChangeTransition.JointExplicit };
  }
  return { enter: false, autoLeave: false };
}

/** A ConfChangeV2 with no changes and Auto transition means "leave the joint config". */
export function leaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.Auto && cc.changes.length === 0;
}

export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
