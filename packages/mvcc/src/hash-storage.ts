import { META_FINISHED_COMPACT } from './backend.js';
import type { Compactor } from './compactor.js';
import { MvccError } from './errors.js';
import type { KeySpace } from './key-space.js';
import { Pacer, type ReadPacing } from './paced.js';
import type { PacedRead, PacedReads } from './paced-reads.js';
import { assertRevisionNumber, decodeRevision } from './revision.js';
import { hashKVOfBackend, hashKVOfIndex, hashKVOfNothing, hashOfBackend, hashOfIndex, indexedRevisions, type BackendScan, type IndexedRevision } from './store-hash.js';

/** What a store's hashes answer: etcd's HashKV response fields. */
export interface HashKV {
  hash: number;
  compactRevision: number;
  revision: number;
}

/** What the hashes need of their store. */
export interface HashStorageHost {
  readonly space: KeySpace;
  readonly compactor: Compactor;
  readonly pacedReads: PacedReads;
  /** Set while a restore runs: resolves when it ends. */
  readonly restoring: Promise<void> | undefined;
  /** @throws MvccError `closed` when the store is closed or closing. */
  checkOpen(): void;
  /** Commits everything applied so far to LMDB (with the consistent index). */
  commit(): Promise<void>;
  /** See MvccStoreOptions.onHash. */
  readonly onHash: ((kind: 'hash' | 'hashKV', done: Promise<unknown>) => void) | undefined;
}

/**
 * A store's hashes (etcd's hashStorage): Hash and HashKV from the key index at once, or from
 * the backend in steps. The contracts are MvccStore's (`hash`, `hashKV`, `hashPaced`,
 * `hashKVPaced`); store-hash.ts computes them over what this reads.
 */
export class HashStorage {
  constructor(private readonly host: HashStorageHost) {}

  hash(): number {
    const { space, compactor } = this.host;
    this.host.checkOpen();
    compactor.finishPass();
    return hashOfIndex(this.indexedRevisions(), (rev) => space.backend.readBytesTransient(rev), space.compactMainRev);
  }

  hashKV(revision: number): HashKV {
    const { space, compactor } = this.host;
    this.host.checkOpen();
    compactor.finishPass();
    if (revision < 0) return this.hashKVBelowZero();
    assertRevisionNumber(revision, 'revision');
    const compactRev = space.compactMainRev;
    const currentRev = space.currentRev;
    if (revision > 0 && revision <= compactRev) throw new MvccError('compacted', compactRev);
    if (revision > currentRev) throw new MvccError('future_revision');
    const rev = revision === 0 ? currentRev : revision;
    const hash = hashKVOfIndex(this.indexedRevisions(), (r) => space.backend.readBytesTransient(r), compactRev, rev, space.index.keep(rev));
    return { hash, compactRevision: compactRev, revision: currentRev };
  }

  hashPaced(pacing: ReadPacing): Promise<number> {
    return this.report('hash', this.computeHashPaced(pacing));
  }

  hashKVPaced(revision: number, pacing: ReadPacing): Promise<HashKV> {
    return this.report('hashKV', this.computeHashKVPaced(revision, pacing));
  }

  private indexedRevisions(): IndexedRevision[] {
    const { space } = this.host;
    // A write running in steps has appended revisions above the current one: not history yet.
    return indexedRevisions(space.index, space.writing ? space.currentRev : undefined);
  }

  /** etcd hashes no revision below a negative one: only the bucket name, at the current revision. */
  private hashKVBelowZero(): HashKV {
    return { hash: hashKVOfNothing(), compactRevision: this.host.space.compactMainRev, revision: this.host.space.currentRev };
  }

  private report<T>(kind: 'hash' | 'hashKV', done: Promise<T>): Promise<T> {
    this.host.onHash?.(kind, done);
    return done;
  }

  private async computeHashPaced(pacing: ReadPacing): Promise<number> {
    const read = await this.quiescedRead(new Pacer(pacing));
    if (!read) return this.hash();
    try {
      return await hashOfBackend(this.backendScan(read), read.rev, read.compactRev);
    } finally {
      read.end();
    }
  }

  private async computeHashKVPaced(revision: number, pacing: ReadPacing): Promise<HashKV> {
    const { space } = this.host;
    this.host.checkOpen();
    if (revision < 0) return this.hashKVBelowZero();
    assertRevisionNumber(revision, 'revision');
    if (revision > 0 && revision <= space.compactMainRev) throw new MvccError('compacted', space.compactMainRev);
    if (revision > space.currentRev) throw new MvccError('future_revision');
    const read = await this.quiescedRead(new Pacer(pacing));
    if (!read) return this.hashKV(revision);
    try {
      const compactRev = read.compactRev;
      if (revision > 0 && revision <= compactRev) throw new MvccError('compacted', compactRev);
      const rev = revision === 0 ? read.rev : revision;
      const hash = await hashKVOfBackend(this.backendScan(read), compactRev, rev);
      return { hash, compactRevision: compactRev, revision: read.rev };
    } finally {
      read.end();
    }
  }

  /**
   * Waits until LMDB holds a whole state (everything applied so far committed, no compaction
   * pending), then registers a read of it: `rev` is its newest revision, `compactRev` its
   * compaction (-1: none). Undefined when a compaction failed half way (an LMDB write
   * error): then LMDB holds no whole state until it is resumed, and callers hash from the index.
   */
  private async quiescedRead(pacer: Pacer): Promise<(PacedRead & { rev: number; compactRev: number }) | undefined> {
    const host = this.host;
    for (;;) {
      if (host.restoring) await host.restoring;
      host.checkOpen();
      const chain = host.compactor.idle;
      await host.commit();
      await chain;
      host.checkOpen();
      if (host.restoring || host.compactor.idle !== chain) continue;
      // A compaction that failed (or was halted) leaves its deletions half done: LMDB would
      // hold no state the store went through. Its resumption is a new compaction, so wait.
      const { backend, compactMainRev } = host.space;
      const finished = backend.getDurableMeta(META_FINISHED_COMPACT);
      if ((finished ? decodeRevision(finished).rev.main : -1) !== compactMainRev) return undefined;
      return Object.assign(host.pacedReads.start(pacer, true), { rev: backend.durableRevision, compactRev: compactMainRev });
    }
  }

  /** A scan of LMDB's entries in steps, for `read`; buffers are valid only during each call of `f`. */
  private backendScan(read: PacedRead): BackendScan {
    const { space } = this.host;
    return async (fromMain, toMain, f) => {
      if (fromMain > toMain) return;
      let after: Buffer | undefined;
      for (;;) {
        after = space.backend.durableSlice(after, fromMain, toMain, read.pacer.step, f);
        if (after === undefined) return;
        await read.pause();
      }
    };
  }
}
