/**
 * Why an mvcc operation was refused. The server maps these to etcd's gRPC errors:
 * - `compacted`: "etcdserver: mvcc: required revision has been compacted"
 * - `future_revision`: "etcdserver: mvcc: required revision is a future revision"
 * - `key_not_found`: "etcdserver: key not found" (put with ignoreValue/ignoreLease on a missing key)
 * - `lease_not_found`: "etcdserver: requested lease not found" (a put in a txn names a lease
 *   the lease checker does not know; see {@link MvccStore.setLeaseChecker})
 * - `closed`: the store was closed.
 */
export type MvccErrorCode = 'compacted' | 'future_revision' | 'key_not_found' | 'lease_not_found' | 'closed';

const MESSAGES: Record<MvccErrorCode, string> = {
  compacted: 'mvcc: required revision has been compacted',
  future_revision: 'mvcc: required revision is a future revision',
  key_not_found: 'key not found',
  lease_not_found: 'lease not found',
  closed: 'mvcc: closed',
};

/** Error thrown by {@link MvccStore} for the refusals etcd reports to clients. */
export class MvccError extends Error {
  readonly code: MvccErrorCode;
  /** For `compacted`: the store's compacted revision at the time of the refusal. */
  readonly compactRevision: number | undefined;

  constructor(code: MvccErrorCode, compactRevision?: number) {
    super(MESSAGES[code]);
    this.name = 'MvccError';
    this.code = code;
    this.compactRevision = compactRevision;
  }
}
