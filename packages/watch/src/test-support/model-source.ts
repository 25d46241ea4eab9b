import type { Event, KeyValue } from '@raftkv/mvcc';
import type { WatchSource } from '../watch-source.js';

/** Keys and values are latin1 strings: one byte per character, so tests control bytes exactly. */
const latin1 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

/**
 * An in-memory revisioned key space with etcd's event shapes, implementing WatchSource:
 * the smallest thing that behaves like MvccStore for watching. Used where a test wants
 * exact control (and as the reference in property tests).
 */
export class ModelSource implements WatchSource {
  currentRevision = 1;
  compactedRevision = 0;
  /** History by revision: history[r] holds the events of revision r. */
  history: Event[][] = [];
  private live = new Map<string, KeyValue>();
  private readonly listeners = new Set<(events: Event[], revision: number) => void>();
  private readonly restoreListeners = new Set<() => void>();
  /** Calls of eventsBetween, for tests that check bounded reads. */
  readonly reads: Array<{ from: number; to: number; limit: number; returned: number }> = [];

  onEvents(listener: (events: Event[], revision: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onRestore(listener: () => void): () => void {
    this.restoreListeners.add(listener);
    return () => this.restoreListeners.delete(listener);
  }

  /** Takes a copy of `other`'s whole state in place, as MvccStore.restore does with a snapshot. */
  restoreFrom(other: ModelSource): void {
    this.currentRevision = other.currentRevision;
    this.compactedRevision = other.compactedRevision;
    this.history = other.history.slice();
    this.live = new Map(other.live);
    for (const l of [...this.restoreListeners]) l();
  }

  put(key: string, value: string): number {
    return this.txn([{ put: [key, value] }]);
  }

  del(key: string): number {
    return this.txn([{ del: key }]);
  }

  /** One revision with several changes (distinct keys, as etcd requires). No change: no revision. */
  txn(ops: Array<{ put: [string, string] } | { del: string }>): number {
    const rev = this.currentRevision + 1;
    const events: Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const [k, v] = op.put;
        const prev = this.live.get(k);
        const kv: KeyValue = {
          key: latin1(k),
          createRevision: prev ? prev.createRevision : rev,
          modRevision: rev,
          version: prev ? prev.version + 1 : 1,
          value: latin1(v),
          lease: 0n,
        };
        this.live.set(k, kv);
        events.push(prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv });
      } else {
        const prev = this.live.get(op.del);
        if (!prev) continue;
        this.live.delete(op.del);
        const kv: KeyValue = { key: latin1(op.del), createRevision: 0, modRevision: rev, version: 0, value: new Uint8Array(0), lease: 0n };
        events.push({ type: 'delete', kv, prevKv: prev });
      }
    }
    if (events.length === 0) return this.currentRevision;
    this.currentRevision = rev;
    this.history[rev] = events;
    for (const l of [...this.listeners]) l(events, rev);
    return rev;
  }

  compact(rev: number): void {
    if (rev <= this.compactedRevision || rev > this.currentRevision) throw new Error(`bad compaction ${rev}`);
    this.compactedRevision = rev;
  }

  eventsBetween(fromRevision: number, toRevision: number, limit: number, withPrevKv = false): Event[] {
    if (fromRevision < this.compactedRevision) throw new Error(`read below compaction: ${fromRevision} < ${this.compactedRevision}`);
    if (fromRevision > this.currentRevision + 1) throw new Error('future revision');
    const out: Event[] = [];
    for (let r = Math.max(fromRevision, 2); r <= Math.min(toRevision, this.currentRevision); r++) {
      let evs = this.history[r] ?? [];
      // As etcd: at the compacted revision itself the tombstones are gone.
      if (r === this.compactedRevision) evs = evs.filter((e) => e.type === 'put');
      if (out.length > 0 && out.length + evs.length > limit) break;
      for (const e of evs) {
        const keepPrev = withPrevKv && e.prevKv && e.kv.modRevision - 1 >= this.compactedRevision;
        out.push(keepPrev ? e : { type: e.type, kv: e.kv });
      }
      if (out.length >= limit) break;
    }
    this.reads.push({ from: fromRevision, to: toRevision, limit, returned: out.length });
    return out;
  }
}
