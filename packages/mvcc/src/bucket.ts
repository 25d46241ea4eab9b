import type { Backend } from './backend.js';

/**
 * A named bucket of opaque key/value records kept in the backend beside the key space and
 * committed in the same LMDB transactions, so its state always matches `consistentIndex`.
 * For state that other components apply from the log (the lessor's leases).
 */
export interface Bucket {
  /** Stages a write, visible to {@link Bucket.loadAll} after the next commit. */
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
  /** The committed records; call it while opening, before applying new writes. */
  loadAll(): Iterable<{ key: Uint8Array; value: Uint8Array }>;
}

/**
 * What a bucket needs of its store: functions, not a backend, because a restore swaps the
 * backend under live buckets.
 */
export interface BucketHost {
  /** The backend to stage a write in. @throws MvccError `closed` while the store refuses writes. */
  writable(): Backend;
  /** The backend now. */
  current(): Backend;
}

/** The bucket `name` (letters, digits, '-' and '_'): its records are `<name>/<key>` in the backend's aux tree. */
export function openBucket(name: string, host: BucketHost): Bucket {
  if (!/^[\w-]+$/.test(name)) throw new RangeError(`mvcc: bad bucket name ${JSON.stringify(name)}`);
  const prefix = Buffer.from(`${name}/`, 'latin1');
  const full = (key: Uint8Array) => Buffer.concat([prefix, key]);
  return {
    put: (key, value) => host.writable().setAux(full(key), value),
    delete: (key) => host.writable().setAux(full(key), null),
    *loadAll() {
      for (const { key, value } of host.current().durableAux(prefix)) yield { key: key.subarray(prefix.length), value };
    },
  };
}
