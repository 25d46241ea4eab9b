import type { Message } from './types.js';

/** How a leader answers ReadIndex requests. */
export const ReadOnlyOption = {
  /** Confirm leadership with a heartbeat round to a quorum (always safe). */
  Safe: 'safe',
  /**
   * Trust the leader lease kept by check-quorum: no round trip, but stale if
   * clocks (tick rates) drift between members. Requires `checkQuorum`.
   */
  LeaseBased: 'lease',
} as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Map<bigint, boolean>;
}

/** Byte contexts as map keys. */
export function contextKey(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');
}

/**
 * Pending ReadIndex requests of a leader, in arrival order. A heartbeat round
 * carries the context of the newest request; when a quorum acks it, that
 * request and every earlier one are answered, so concurrent reads share
 * rounds.
 */
export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  addRequest(index: number, m: Message): void {
    const key = contextKey(m.entries[0]!.data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Map() });
    this.queue.push(key);
  }

  /** Record that `id` acked the heartbeat carrying `ctx`; returns the acks so far. */
  recvAck(id: bigint, ctx: Uint8Array): Map<bigint, boolean> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Release the request with context `ctx` and every request queued before it. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const i = this.queue.indexOf(key);
    if (i < 0) return [];
    const released = this.queue.splice(0, i + 1);
    return released.map((k) => {
      const rs = this.pending.get(k)!;
      this.pending.delete(k);
      return rs;
    });
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.req.entries[0]!.data;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
