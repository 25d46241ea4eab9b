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

/** A read's context as {@link PendingReads} keys it (its hex): computed once per read, then passed to `refusal` and `add`. */
export type ReadKey = string;

export function readKey(context: Uint8Array): ReadKey {
  return Buffer.from(context.buffer, context.byteOffset, context.byteLength).toString('hex');
}

/**
 * Linearizable reads (ReadIndex) in flight, by their request context: each waits for raft to
 * confirm its read point with a quorum, then for this member to apply up to that point. A
 * read not confirmed when the leader changes, or not answered by its deadline, is rejected.
 */
export class PendingReads {
  private readonly reads = new Map<ReadKey, PendingRead>();
  /** Confirmed reads waiting for the applied index, in confirmation order. */
  private confirmed: Array<{ key: ReadKey; state: ReadState }> = [];

  constructor(private readonly max: number) {}

  /** Why a read with context `key` cannot wait now (a duplicate context, or too many reads), or undefined. */
  refusal(key: ReadKey): Error | undefined {
    if (this.reads.has(key)) return new Error(`read context ${key} is already pending`);
    if (this.reads.size >= this.max) return RaftLogErrors.TooManyRequests;
    return undefined;
  }

  /** A read waiting for raft to confirm its point; `state`: confirmed already (a sole voter's). */
  add(key: ReadKey, deadlineTick: number, state?: ReadState): Promise<ReadState> {
    return new Promise<ReadState>((resolve, reject) => {
      this.reads.set(key, { resolve, reject, deadlineTick, ...(state ? { state } : {}) });
      if (state) this.confirmed.push({ key, state });
    });
  }

  /** Raft confirmed these read points (a Ready's readStates). */
  confirm(states: readonly ReadState[]): void {
    for (const rs of states) {
      const key = readKey(rs.requestCtx);
      const r = this.reads.get(key);
      if (!r || r.state) continue;
      r.state = rs;
      this.confirmed.push({ key, state: rs });
    }
  }

  /** Answers the confirmed reads whose point is at or below `applied`. */
  release(applied: number): void {
    if (this.confirmed.length === 0) return;
    const waiting: Array<{ key: ReadKey; state: ReadState }> = [];
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
