import { META_FINISHED_COMPACT, META_SCHEDULED_COMPACT } from './backend.js';
import { RevisionSet } from './key-index.js';
import type { KeySpace } from './key-space.js';
import type { Pacer } from './paced.js';
import { decodeRevision, encodeRevision, type Revision } from './revision.js';
import type { SteppedWrite } from './stepped-write.js';

/** Keys of a compaction's index pass per pacing entry: compacting a key costs far less than writing one. */
const COMPACT_KEYS_PER_ENTRY = 8;

/** A compaction's index pass in steps; `keep` is set once it has ended. */
interface CompactionPass {
  revision: number;
  steps: Generator<void, RevisionSet>;
  keep: RevisionSet | undefined;
}

/** Runs one step of `pass`; true once it has ended. */
function advancePass(pass: CompactionPass): boolean {
  if (pass.keep) return true;
  const r = pass.steps.next();
  if (r.done) pass.keep = r.value;
  return pass.keep !== undefined;
}

/** What a compaction needs of its store. */
export interface CompactorHost {
  readonly space: KeySpace;
  /** Reads in steps now running: a backend deletion waits for those begun before it was scheduled. */
  readonly pacedReads: ReadonlySet<Promise<void>>;
  readonly closed: boolean;
  readonly closing: boolean;
  /** Commits everything applied so far to LMDB (with the consistent index). */
  commit(): Promise<void>;
  /** See MvccStoreOptions.onCompactionStep. */
  readonly onCompactionStep: ((kind: 'index' | 'db', done: Promise<number>) => void) | undefined;
  /** See MvccStoreOptions.onCompaction. */
  readonly onCompaction: ((done: Promise<void>) => void) | undefined;
}

/**
 * A store's compactions (etcd's kvstore.compact): the index is compacted at once or in steps,
 * then the backend deletes the dropped revisions in batches, one compaction after another.
 * The revision checks and admission are the store's; this runs what they let through.
 */
export class Compactor {
  private chain: Promise<void> = Promise.resolve();
  /** The index pass of a compaction running in steps ({@link inSteps}). */
  private pass: CompactionPass | undefined;
  /** Makes a running backend compaction stop at its next batch (set during a restore; the next open resumes it). */
  halted = false;

  constructor(
    private readonly host: CompactorHost,
    private readonly batchLimit: number,
  ) {
    if (!Number.isSafeInteger(batchLimit) || batchLimit < 1) throw new RangeError('compactionBatchLimit must be a positive integer');
  }

  /** Resolves when every compaction scheduled so far is done (never rejects). */
  get idle(): Promise<void> {
    return this.chain;
  }

  /** Compacts the index at `revision` now and schedules the backend's deletions; resolves when they are done. */
  schedule(revision: number): Promise<void> {
    this.markScheduled(revision);
    return this.scheduleBackend(revision, this.indexStep(() => this.host.space.index.compact(revision)));
  }

  /** {@link schedule} with the index pass in steps of the pacer; the write is marked as running until the pass ends. */
  inSteps(revision: number, pacer: Pacer): SteppedWrite<{ done: Promise<void> }> {
    const { space } = this.host;
    this.markScheduled(revision);
    const pass: CompactionPass = { revision, steps: space.index.compactSteps(revision, pacer.step * COMPACT_KEYS_PER_ENTRY), keep: undefined };
    if (this.indexStep(() => advancePass(pass))) return { done: true, response: { done: this.scheduleBackend(revision, pass.keep!) } };
    this.pass = pass;
    const finish = space.begin();
    const response = (async () => {
      try {
        while (!pass.keep) {
          await pacer.pause();
          this.indexStep(() => advancePass(pass));
        }
      } finally {
        this.pass = undefined;
        finish();
      }
      // A store closing now commits the scheduled mark; the next open resumes the deletion.
      return { done: this.host.closing || this.host.closed ? Promise.resolve() : this.scheduleBackend(revision, pass.keep) };
    })();
    return { done: false, response };
  }

  /** Ends a pass running in steps at once (hash(), hashKV() and keep() walk the index as compacted). */
  finishPass(): void {
    const pass = this.pass;
    if (pass) while (!advancePass(pass));
  }

  /**
   * Whether revision `rev` of key `ks` is still history: in the index, or, for a key the pass in
   * steps has not reached yet, among what it will keep of the key.
   */
  isReachable(ks: string, rev: Revision): boolean {
    const { index } = this.host.space;
    const ki = index.getKeyIndex(ks);
    if (!ki) return false;
    const pass = this.pass;
    if (pass && !pass.keep) {
      const through = index.compactedThrough;
      if (through === undefined || ks > through) {
        const kept = new RevisionSet();
        ki.keep(pass.revision, kept);
        return kept.has(rev);
      }
    }
    return ki.generations.some((g) => g.revs.some((r) => r.main === rev.main && r.sub === rev.sub));
  }

  private markScheduled(revision: number): void {
    const { space } = this.host;
    space.compactMainRev = revision;
    space.backend.setMeta(META_SCHEDULED_COMPACT, encodeRevision({ main: revision, sub: 0 }));
  }

  /** Runs a step of an index compaction, handing it to onCompactionStep (which times it). */
  private indexStep<T>(step: () => T): T {
    const hook = this.host.onCompactionStep;
    if (!hook) return step();
    let ended!: (keys: number) => void;
    hook('index', new Promise<number>((resolve) => { ended = resolve; }));
    try {
      return step();
    } finally {
      ended(0);
    }
  }

  private scheduleBackend(revision: number, keep: RevisionSet): Promise<void> {
    // Reads in steps that started before may still read what this compaction deletes.
    const readers = [...this.host.pacedReads];
    const job = this.chain.then(() => this.compactBackend(revision, keep, readers));
    this.chain = job.catch(() => undefined);
    return job;
  }

  private async compactBackend(revision: number, keep: RevisionSet, readers: Array<Promise<void>>): Promise<void> {
    if (readers.length > 0) await Promise.all(readers);
    const done = this.compactBackendBatches(revision, keep);
    this.host.onCompaction?.(done);
    return done;
  }

  private async compactBackendBatches(revision: number, keep: RevisionSet): Promise<void> {
    const host = this.host;
    if (host.closed || this.halted) return;
    // Everything <= revision and the scheduled mark must be in LMDB first.
    await host.commit();
    let after: Buffer | undefined;
    for (;;) {
      if (host.closed || this.halted) return; // resumed by the next open
      const backend = host.space.backend;
      const keys = backend.durableRevisionKeys(after, revision, this.batchLimit);
      const doomed = keys.filter((k) => !keep.has(decodeRevision(k).rev));
      const finished = keys.length < this.batchLimit;
      const meta: Array<[Buffer, Uint8Array]> = finished ? [[META_FINISHED_COMPACT, encodeRevision({ main: revision, sub: 0 })]] : [];
      const deleted = backend.deleteRevisions(doomed, meta);
      host.onCompactionStep?.('db', deleted.then(() => doomed.length));
      await deleted;
      if (finished) return;
      after = keys[keys.length - 1];
      // Each batch awaited an LMDB transaction, so commits and reads interleave with
      // compaction without a timer here (timers are kept out of this package).
      if (host.closing || this.halted) return;
    }
  }
}
