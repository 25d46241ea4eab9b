import { MessageType, SnapshotStatus, decodeMessage, encodeMessage, type Message } from '@raftkv/raft';
import type { RaftLog } from '../raft-log.js';
import type { Ticker } from '../ticker.js';

/** A ticker that ticks only when told: tests advance logical time between settled states. */
export class ManualTicker implements Ticker {
  private readonly callbacks = new Set<() => void>();

  every(_intervalMs: number, onTick: () => void): () => void {
    this.callbacks.add(onTick);
    return () => this.callbacks.delete(onTick);
  }

  tick(): void {
    for (const cb of [...this.callbacks]) cb();
  }
}

/**
 * Raft messages between logs in one process, encoded and decoded as a transport would, each
 * delivered in its own later event-loop turn. A member can be cut off (`isolate`): messages
 * to or from it are dropped and reported to the sender as unreachable (a `MsgSnap` as a
 * failed snapshot), as the peer transport does.
 */
export class MemoryNetwork {
  private readonly members = new Map<bigint, RaftLog>();
  private readonly cut = new Set<bigint>();
  private inFlight_ = 0;
  /** `MsgSnap` messages delivered, per receiver. */
  readonly snapshotsDelivered = new Map<bigint, number>();
  /** While set, `MsgSnap` messages wait (not counted in flight) until `releaseSnapshots`: a slow transfer. */
  holdSnapshots = false;
  private held: Array<() => void> = [];

  attach(id: bigint, log: RaftLog): void {
    this.members.set(id, log);
  }

  detach(id: bigint): void {
    this.members.delete(id);
  }

  isolate(id: bigint): void {
    this.cut.add(id);
  }

  heal(id: bigint): void {
    this.cut.delete(id);
  }

  /** `MsgSnap` messages held by `holdSnapshots`. */
  get snapshotsHeld(): number {
    return this.held.length;
  }

  /** Stops holding and delivers the held `MsgSnap` messages. */
  releaseSnapshots(): void {
    this.holdSnapshots = false;
    for (const deliver of this.held.splice(0)) setImmediate(deliver);
  }

  /** Messages sent and not yet delivered or dropped. */
  get inFlight(): number {
    return this.inFlight_;
  }

  /** The `send` option for member `from`. */
  sender(from: bigint): (messages: Message[]) => void {
    return (messages) => {
      for (const m of messages) {
        const bytes = encodeMessage(m);
        const { to, type } = m;
        if (type === MessageType.Snap && this.holdSnapshots) {
          this.held.push(() => this.deliver(from, to, type, bytes));
          continue;
        }
        this.inFlight_++;
        setImmediate(() => {
          this.inFlight_--;
          this.deliver(from, to, type, bytes);
        });
      }
    };
  }

  private deliver(from: bigint, to: bigint, type: MessageType, bytes: Uint8Array): void {
    const src = this.members.get(from);
    const dst = this.members.get(to);
    if (!dst || this.cut.has(to) || this.cut.has(from)) {
      if (type === MessageType.Snap) src?.reportSnapshot(to, SnapshotStatus.Failure);
      else src?.reportUnreachable(to);
      return;
    }
    dst.step(decodeMessage(bytes));
    if (type === MessageType.Snap) {
      this.snapshotsDelivered.set(to, (this.snapshotsDelivered.get(to) ?? 0) + 1);
      src?.reportSnapshot(to, SnapshotStatus.Finish);
    }
  }
}
