/**
 * Where the lessor persists leases. The server implements it on its backend (LMDB), in the
 * SAME transaction as the apply step that caused the write, so a crash never leaves a lease
 * whose keys were deleted, or keys whose revoke was lost. etcd does the same with its
 * `lease` bucket.
 *
 * Calls are synchronous: the lessor runs inside the apply loop, which already owns a write
 * transaction. The lessor never reads through the store except in `Lessor.recover`.
 */
export interface LeaseStore {
  /** Inserts or replaces the record of lease `id`. `bytes` is owned by the store afterwards. */
  put(id: bigint, bytes: Uint8Array): void;
  /** Removes the record of lease `id`; a missing record is not an error. */
  delete(id: bigint): void;
  /** Every stored record, in any order. `id` is the key it was stored under. */
  loadAll(): Iterable<{ readonly id: bigint; readonly bytes: Uint8Array }>;
}

/**
 * The lessor's only source of time: milliseconds on a clock that never goes backwards
 * (in the server, `performance.timeOrigin + performance.now()` or a monotonic equivalent;
 * in tests, a fake clock). Expiry is local to each member and never replicated, so the
 * clocks of different members need not agree.
 */
export interface Clock {
  nowMs(): number;
}
