import type { Wal, WalRecord } from '@raftkv/wal';
import type { CommittedEntry, ReplicatedLog } from './replicated-log.js';

export interface SingleMemberLogOptions {
  wal: Wal;
  memberId: bigint;
  /** Term recovered from the WAL's hard state (at least 1). */
  term: number;
  /** Highest index already committed (recovered from the WAL). New entries follow it. */
  lastIndex: number;
  /** Called with every batch of newly committed entries, in index order. */
  apply: (entries: CommittedEntry[]) => void;
  /** Called if persisting fails: the server cannot go on without its WAL. */
  fatal: (err: unknown) => void;
}

/**
 * The log of a one-member cluster: an entry is committed as soon as it is durable in the local
 * WAL. Proposals arriving in the same event-loop turn become one WAL append (one hard-state
 * record), and the WAL's group commit folds appends that arrive during a sync into the next sync.
 */
export class SingleMemberLog implements ReplicatedLog {
  readonly term: number;
  private lastIndex: number;
  private committed: number;
  private pending: Uint8Array[] = [];
  private flushScheduled = false;
  private inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: SingleMemberLogOptions) {
    this.term = opts.term;
    this.lastIndex = opts.lastIndex;
    this.committed = opts.lastIndex;
  }

  get commitIndex(): number {
    return this.committed;
  }

  propose(data: Uint8Array): void {
    if (this.closed) throw new Error('log is closed');
    this.pending.push(data);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const entries: CommittedEntry[] = batch.map((data) => ({ index: ++this.lastIndex, term: this.term, data }));
    const records: WalRecord[] = entries.map((e) => ({ type: 'entry', term: e.term, index: e.index, data: e.data }));
    records.push({ type: 'hardState', term: this.term, vote: this.opts.memberId, commit: this.lastIndex });
    // The WAL resolves appends in call order, so batches reach apply in index order.
    const done = this.opts.wal.append(records).then(
      () => {
        this.committed = entries[entries.length - 1]!.index;
        this.opts.apply(entries);
      },
      (err: unknown) => this.opts.fatal(err),
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pending.length > 0) this.flush();
    await Promise.all([...this.inFlight]);
  }
}
