import type { Bucket } from '@raftkv/mvcc';

/** One member of the cluster, as etcd's membership.Member. */
export interface Member {
  readonly id: bigint;
  /** Empty until the member has started and published its attributes ("unstarted"). */
  readonly name: string;
  readonly peerUrls: readonly string[];
  /** Empty until the member has published its attributes. */
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

interface StoredMember {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

const REMOVED = new Uint8Array([1]);

function idKey(id: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(id);
  return b;
}

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The cluster's members and the IDs removed from it (etcd's RaftCluster). Changed only by
 * applying committed log entries (conf changes, published attributes), so every member holds
 * the same list at the same index. Persisted in the backend's `members` and `members_removed`
 * buckets: they travel with a backend snapshot, and a restart reloads them; conf changes after
 * the last snapshot are applied again, which these idempotent updates allow.
 */
export class Membership {
  private readonly members = new Map<bigint, Member>();
  private readonly removed = new Set<bigint>();

  constructor(private readonly bucket: Bucket, private readonly removedBucket: Bucket) {
    this.reload();
  }

  /** Re-reads both buckets (at start, and after a snapshot replaced the backend). */
  reload(): void {
    this.members.clear();
    this.removed.clear();
    for (const { value } of this.bucket.loadAll()) {
      const s = JSON.parse(Buffer.from(value).toString('utf8')) as StoredMember;
      const m: Member = { id: BigInt(`0x${s.id}`), name: s.name, peerUrls: s.peerUrls, clientUrls: s.clientUrls, isLearner: s.isLearner };
      this.members.set(m.id, m);
    }
    for (const { key } of this.removedBucket.loadAll()) this.removed.add(Buffer.from(key).readBigUInt64BE(0));
  }

  get size(): number {
    return this.members.size;
  }

  /** Members sorted by ID, as etcd lists them. */
  list(): Member[] {
    return [...this.members.values()].sort((a, b) => compareIds(a.id, b.id));
  }

  get(id: bigint): Member | undefined {
    return this.members.get(id);
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  votingMembers(): Member[] {
    return this.list().filter((m) => !m.isLearner);
  }

  /** The member (other than `except`) that advertises one of `peerUrls`, if any. */
  findByPeerUrl(peerUrls: readonly string[], except?: bigint): Member | undefined {
    const wanted = new Set(peerUrls);
    return this.list().find((m) => m.id !== except && m.peerUrls.some((u) => wanted.has(u)));
  }

  /** Adds or replaces a member; an ID once removed never comes back. */
  add(m: Member): void {
    if (this.removed.has(m.id)) return;
    this.set(m);
  }

  remove(id: bigint): void {
    this.members.delete(id);
    this.bucket.delete(idKey(id));
    this.removed.add(id);
    this.removedBucket.put(idKey(id), REMOVED);
  }

  /**
   * A member's raft attributes (peer URLs and learner flag) as a MemberUpdate sets them. etcd 3.4
   * writes the learner flag of the update request, which is always false: an updated learner is
   * then listed as a voter (raft still treats it as a learner). Kept, for identical output.
   */
  setRaftAttributes(id: bigint, peerUrls: readonly string[], isLearner: boolean): void {
    const m = this.members.get(id);
    if (m) this.set({ ...m, peerUrls: [...peerUrls], isLearner });
  }

  promote(id: bigint): void {
    const m = this.members.get(id);
    if (m) this.set({ ...m, isLearner: false });
  }

  /** A started member's name and client URLs (etcd's publish). */
  setAttributes(id: bigint, name: string, clientUrls: readonly string[]): void {
    const m = this.members.get(id);
    if (m) this.set({ ...m, name, clientUrls: [...clientUrls] });
  }

  private set(m: Member): void {
    this.members.set(m.id, m);
    const stored: StoredMember = {
      id: m.id.toString(16), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner,
    };
    this.bucket.put(idKey(m.id), Buffer.from(JSON.stringify(stored), 'utf8'));
  }
}

/**
 * What a membership conf change carries in its context: the member it is about, and the
 * request ID of the proposer, which waits for the change to be applied. Bootstrap conf
 * changes (written by raft from `--initial-cluster`) carry none.
 */
export interface ConfChangeContext {
  requestId: bigint;
  member: { id: bigint; peerUrls: string[]; isLearner: boolean };
}

export function encodeConfChangeContext(c: ConfChangeContext): Uint8Array {
  return Buffer.from(JSON.stringify({
    requestId: c.requestId.toString(16),
    member: { id: c.member.id.toString(16), peerUrls: c.member.peerUrls, isLearner: c.member.isLearner },
  }), 'utf8');
}

export function decodeConfChangeContext(bytes: Uint8Array): ConfChangeContext | undefined {
  if (bytes.byteLength === 0) return undefined;
  const raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
    requestId: string; member: { id: string; peerUrls: string[]; isLearner: boolean };
  };
  return {
    requestId: BigInt(`0x${raw.requestId}`),
    member: { id: BigInt(`0x${raw.member.id}`), peerUrls: raw.member.peerUrls, isLearner: raw.member.isLearner },
  };
}
