import { ByteSlab } from './byte-slab.js';
import type { KeyValue } from './key-value.js';
import type { Revision } from './revision.js';

/** A change made by the write in progress. */
export interface Change {
  kv: KeyValue;
  tombstone: boolean;
  keyStr: string;
  /**
   * The key at the write's begin revision (its event's prevKv), found while writing:
   * `undefined` when not known (the key changed earlier in the same write: look it up),
   * `null` when the key did not exist then; `kv` is filled once read.
   */
  prev: { rev: Revision; kv: KeyValue | undefined } | null | undefined;
}

/** Writes with at least this many changes put their encoded KVs and prevKvs in shared slabs. */
const SLAB_MIN_CHANGES = 16;
/** Chunk size of a write's slab: what one retained event can keep alive at most. */
const WRITE_SLAB_BYTES = 64 * 1024;

/** State of one write (a put, a deleteRange or a whole txn): one main revision. */
export class WriteTxn {
  /** The changes made, for the write's events: kept only when {@link recording}. */
  readonly changes: Change[] = [];
  private made = 0;
  private slab: ByteSlab | undefined;
  private alloc: ((bytes: number) => Uint8Array) | undefined;
  /**
   * @param recording - whether the write keeps its changes for events (someone listens).
   * @param expectedChanges - how many changes the write will likely make (a txn's ops): at
   *   SLAB_MIN_CHANGES or more its KVs go to the slab from the first one, not from the 17th (a
   *   100-put txn made 16 ArrayBuffers of its own, each kept until the commit, then swept).
   */
  constructor(readonly beginRev: number, readonly recording = true, private readonly expectedChanges = 0) {}

  /** Changes made so far (the next one's sub revision). */
  get count(): number {
    return this.made;
  }

  /** Revision that reads inside the write see: its own changes included. */
  get readRev(): number {
    return this.count > 0 ? this.beginRev + 1 : this.beginRev;
  }

  /** Counts a change and keeps it for the write's events: only when {@link recording}. */
  record(change: Change): void {
    this.changes.push(change);
    this.made++;
  }

  /** Counts a change that is not kept: the write is not {@link recording} (no one wants its events). */
  countUnrecorded(): void {
    this.made++;
  }

  /**
   * Where a big write's byte strings go: chunks shared by its KVs (a few allocations for the
   * GC to track instead of one per KV); a small write allocates per KV as before.
   */
  bytesSource(): ByteSlab | undefined {
    if (!this.big()) return undefined;
    return (this.slab ??= new ByteSlab(WRITE_SLAB_BYTES));
  }

  /** {@link bytesSource} as an allocation function (one per write, not one per put); undefined: allocate per KV. */
  bytesAlloc(): ((bytes: number) => Uint8Array) | undefined {
    if (!this.big()) return undefined;
    if (this.alloc === undefined) {
      const slab = this.bytesSource()!;
      this.alloc = (n) => slab.alloc(n);
    }
    return this.alloc;
  }

  private big(): boolean {
    return this.count >= SLAB_MIN_CHANGES || this.expectedChanges >= SLAB_MIN_CHANGES;
  }
}
