import type { Backend } from './backend.js';
import { MvccError } from './errors.js';
import type { Pacer } from './paced.js';

/** One read in steps: its pacer, the check made after each pause, and its end. */
export interface PacedRead {
  readonly pacer: Pacer;
  /** @throws MvccError `closed` when the store closed or was restored since the read began. */
  readonly check: () => void;
  /** Pauses (registering the read at the first pause), then checks. */
  pause(): Promise<void>;
  end(): void;
}

/** What the reads in steps need of their store. */
export interface PacedReadsHost {
  /** The backend now: a restore replaces it. */
  readonly backend: Backend;
  /** @throws MvccError `closed` when the store is closed or closing. */
  checkOpen(): void;
}

/**
 * A store's reads in steps (paced ranges, paced hashes), so that a compaction's backend
 * deletions wait for the reads begun before it was scheduled: those reads may still need
 * the revisions it drops.
 */
export class PacedReads {
  /** The reads now running that have registered; each resolves when it ends. */
  readonly running = new Set<Promise<void>>();

  constructor(private readonly host: PacedReadsHost) {}

  /**
   * Book-keeping of one read in steps. It registers at its first pause (a read that never
   * pauses needs no protection), or at once with `registerNow`: from then on, compactions
   * scheduled before it ends keep their backend deletions until it ends.
   */
  start(pacer: Pacer, registerNow = false): PacedRead {
    const host = this.host;
    const backend = host.backend;
    let end = registerNow ? this.register() : undefined;
    const check = () => {
      host.checkOpen();
      if (host.backend !== backend) throw new MvccError('closed');
    };
    return {
      pacer,
      check,
      pause: async () => {
        end ??= this.register();
        await pacer.pause();
        check();
      },
      end: () => end?.(),
    };
  }

  private register(): () => void {
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.running.add(done);
    return () => {
      this.running.delete(done);
      resolve();
    };
  }
}
