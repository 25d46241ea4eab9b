import type { Revision } from './revision.js';

/**
 * Changes written since one commit, in revision order, findable by revision: each one's
 * revision and encoded KeyValue, decoded again by the rare read that finds it here. Kept as
 * columns (the KeyValue's memory, offset and length), not an object and a view per change:
 * the batch lives until its commit, 100 ms or more, long enough for the GC to promote all of
 * it, and those two objects (with the decoded KeyValue once kept too) were ~400 B per put.
 */
export class WriteBatch {
  /** Each change's revision (the key index's own object). */
  readonly revs: Revision[] = [];
  private readonly buffers: ArrayBufferLike[] = [];
  private readonly offsets: number[] = [];
  /** Each change's encoded length, negative for a tombstone (an encoded KeyValue is never empty). */
  private readonly lengths: number[] = [];
  /**
   * Position of sub 0 of revision firstMain + i. Every revision has at least one change and
   * all of them land in the same batch, so the mains of a batch are consecutive and a plain
   * array replaces a map.
   */
  private readonly starts: number[] = [];
  private firstMain = 0;

  get size(): number {
    return this.revs.length;
  }

  add(rev: Revision, tombstone: boolean, bytes: Uint8Array): void {
    if (rev.sub === 0) {
      if (this.starts.length === 0) this.firstMain = rev.main;
      else if (rev.main !== this.firstMain + this.starts.length) throw new Error(`mvcc: revision ${rev.main} out of order in write batch`);
      this.starts.push(this.revs.length);
    }
    this.revs.push(rev);
    this.buffers.push(bytes.buffer);
    this.offsets.push(bytes.byteOffset);
    this.lengths.push(tombstone ? -bytes.byteLength : bytes.byteLength);
  }

  /** Appends `other`'s changes (a failed commit's batch takes back the writes made since). */
  addAll(other: WriteBatch): void {
    for (let i = 0; i < other.size; i++) this.add(other.revs[i]!, other.tombstone(i), other.bytes(i));
  }

  /** Position of `rev` in the batch, or -1. */
  find(rev: Revision): number {
    const first = this.starts[rev.main - this.firstMain];
    if (first === undefined) return -1;
    const i = first + rev.sub;
    return i < this.revs.length && this.revs[i]!.main === rev.main ? i : -1;
  }

  tombstone(i: number): boolean {
    return this.lengths[i]! < 0;
  }

  /** The encoded KeyValue of change `i` (a new view of it). */
  bytes(i: number): Uint8Array {
    return new Uint8Array(this.buffers[i]!, this.offsets[i]!, Math.abs(this.lengths[i]!));
  }
}
