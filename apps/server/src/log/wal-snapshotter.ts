import type { Wal } from '@raftkv/wal';
import type { Logger } from '../logger.js';

export interface WalSnapshotterOptions {
  wal: Wal;
  /** Entries applied between snapshots (etcd's --snapshot-count). */
  snapshotCount: number;
  /** Resolves once everything applied so far is on stable storage in the backend. */
  backendDurable: () => Promise<void>;
  log: Logger;
  fatal: (err: unknown) => void;
}

/**
 * Keeps the WAL bounded: every `snapshotCount` applied entries, once the backend holds them
 * durably, a snapshot marker is appended and the WAL segments it covers are released. The
 * backend itself is the snapshot of a one-member server, so no snapshot file is written yet.
 */
export class WalSnapshotter {
  private appliedSince = 0;
  private running = false;

  constructor(private readonly opts: WalSnapshotterOptions) {}

  /** Called after each applied batch with the index and term of its last entry. */
  applied(count: number, lastIndex: number, lastTerm: number): void {
    this.appliedSince += count;
    if (this.running || this.appliedSince < this.opts.snapshotCount) return;
    this.running = true;
    this.appliedSince = 0;
    void this.snapshot(lastIndex, lastTerm).finally(() => { this.running = false; });
  }

  private async snapshot(index: number, term: number): Promise<void> {
    try {
      await this.opts.backendDurable();
      await this.opts.wal.append([{ type: 'snapshot', index, term }]);
      await this.opts.wal.releaseTo(index);
      this.opts.log.info('released WAL segments covered by the backend', { index });
    } catch (err) {
      this.opts.fatal(err);
    }
  }
}
