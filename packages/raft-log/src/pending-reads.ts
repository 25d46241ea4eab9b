import type { EtcdError } from '@raftkv/api';
import type { ReadState } from '@raftkv/raft';
import { RaftLogErrors } from './proposal-errors.js';

interface PendingRead {
  resolve(rs: ReadState): void;
  reject(err: EtcdError): void;
  deadlineTick: number;
  /** Set once raft confirmed the read point; then it waits for the applied index only. */
  state?: ReadState;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Linearizable reads (ReadIndex) in flight, by their request context: each waits for raft to
 * confirm its read point with a quorum, then for this member to apply up to that point. A
 * read not confirmed when the leader changes, or not answered by its deadline, is rejected.
 */
export class PendingReads {
  private readonly reads = new Map<string, PendingRead>();
  /** Confirmed reads waiting for the applied index, in confirmation order. */
  private confirmed: Array<{ key: string; state: ReadState }> = [];

  constructor(private readonly max: number) {}

  /** Why a read with `context` cannot wait now (a duplicate context, or too many reads), or undefined. */
  refusal(context: Uint8Array): Error | undefined {
    const key = hex(context);
    if (this.reads.has(key)) return new Error(`read context ${key} is already pending`);
    if (this.reads.size >= this.max) return RaftLogErrors.TooManyRequests;
    return undefined;
  }

  /** A read waiting for raft to confirm its point; `state`: confirmed already (a sole voter's). */
  add(context: Uint8Array, deadlineTick: number, state?: ReadState): Promise<ReadState> {
    const key = hex(context);
    return new Promise<ReadState>((resolve, reject) => {
      this.reads.set(key, { resolve, reject, deadlineTick, ...(state ? { state } : {}) });
      if (state) this.confirmed.push({ key, state });
    });
  }

  /** Raft confirmed these read points (a Ready's readStates). */
  confirm(states: readonly ReadState[]): void {
    for (const rs of states) {
      const key = hex(rs.requestCtx);
      const r = this.reads.get(key);
      if (!r || r.state) continue;
      r.state = rs;
      this.confirmed.push({ key, state: rs });
    }
  }

  /** Answers the confirmed reads whose point is at or below `applied`. */
  release(applied: number): void {
    if (this.confirmed.length === 0) return;
    const waiting: Array<{ key: string; state: ReadState }> = [];
    for (const c of this.confirmed) {
      const r = this.reads.get(c.key);
      if (!r) continue;
      if (c.state.index <= applied) {
        this.reads.delete(c.key);
        r.resolve(c.state);
      } else {
        waiting.push(c);
      }
    }
    this.confirmed = waiting;
  }

  /** Rejects the unconfirmed reads whose deadline tick has come. */
  expire(tick: number): void {
    for (const [key, r] of this.reads) {
      if (r.state || r.deadlineTick > tick) continue;
      this.reads.delete(key);
      r.reject(RaftLogErrors.Timeout);
    }
  }

  /** The leader changed: a read point not yet confirmed depended on the old one (etcd 3.5 answers LeaderChanged). */
  leaderChanged(): void {
    for (const [key, r] of this.reads) {
      if (r.state) continue;
      this.reads.delete(key);
      r.reject(RaftLogErrors.LeaderChanged);
    }
  }

  /** Rejects every read with `err`. */
  failAll(err: EtcdError): void {
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    this.confirmed = [];
  }
}
