import type { LeaseStore } from '@raftkv/lease';
import type { Bucket } from '@raftkv/mvcc';

function idKey(id: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, id));
  return b;
}

/**
 * The lessor's records in mvcc's "lease" bucket: committed in the same backend transactions
 * as the key space, so after a crash leases and keys agree with the consistent index.
 */
export class BackendLeaseStore implements LeaseStore {
  constructor(private readonly bucket: Bucket) {}

  put(id: bigint, bytes: Uint8Array): void {
    this.bucket.put(idKey(id), bytes);
  }

  delete(id: bigint): void {
    this.bucket.delete(idKey(id));
  }

  *loadAll(): Iterable<{ id: bigint; bytes: Uint8Array }> {
    for (const { key, value } of this.bucket.loadAll()) {
      if (key.byteLength !== 8) throw new Error(`lease bucket: key of ${key.byteLength} bytes`);
      yield { id: BigInt.asIntN(64, Buffer.from(key.buffer, key.byteOffset, 8).readBigUInt64BE()), bytes: value };
    }
  }
}
