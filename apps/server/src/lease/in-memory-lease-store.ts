import type { LeaseStore } from '@raftkv/lease';

/**
 * Lease records kept in memory only. Placeholder until mvcc offers a bucket in its LMDB
 * transaction: leases do not survive a restart with it.
 */
export class InMemoryLeaseStore implements LeaseStore {
  private readonly records = new Map<bigint, Uint8Array>();
  put(id: bigint, bytes: Uint8Array): void {
    this.records.set(id, bytes);
  }
  delete(id: bigint): void {
    this.records.delete(id);
  }
  *loadAll(): Iterable<{ id: bigint; bytes: Uint8Array }> {
    for (const [id, bytes] of this.records) yield { id, bytes };
  }
}
