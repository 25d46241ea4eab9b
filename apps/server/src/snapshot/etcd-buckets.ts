// raftkv's backend buckets ↔ etcd 3.4's bbolt buckets. The key space and meta are the same
// bytes in both (17-byte revision keys to mvccpb.KeyValue; consistent_index and the compaction
// revisions); leases, members and the cluster bucket differ in encoding and are converted here.
import type { BoltWriter } from '@raftkv/bbolt';
import { decodeLease, encodeLease } from '@raftkv/lease';
import type { BackendSnapshotFile } from '@raftkv/mvcc';

/** etcd 3.4's top-level buckets, in bbolt's (byte) order. */
export const ETCD_BUCKETS = ['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta'] as const;

/** The meta keys etcd 3.4 has; raftkv's own (raftkvCommittedRev) stay out of an etcd snapshot. */
export const ETCD_META_KEYS = new Set(['consistent_index', 'finishedCompactRev', 'scheduledCompactRev']);

/** What etcd 3.4 writes in the cluster bucket. */
export const CLUSTER_VERSION = '3.4.0';

export type Entry = readonly [Buffer, Buffer];

// --------------------------------------------------------------------------- leases

/** leasepb.Lease{ID int64 = 1, TTL int64 = 2, RemainingTTL int64 = 3}, as gogo-protobuf writes it. */
export function encodeEtcdLease(id: bigint, ttl: number, remainingTtl: number): Buffer {
  const out: number[] = [];
  const field = (tag: number, v: bigint) => {
    if (v === 0n) return;
    out.push(tag);
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      out.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    out.push(Number(u));
  };
  field(0x08, id);
  field(0x10, BigInt(ttl));
  field(0x18, BigInt(remainingTtl));
  return Buffer.from(out);
}

export function decodeEtcdLease(b: Uint8Array): { id: bigint; ttl: number; remainingTtl: number } {
  let pos = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= b.length) throw new RangeError('leasepb.Lease: truncated varint');
      const byte = b[pos++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asIntN(64, v);
    }
    throw new RangeError('leasepb.Lease: varint too long');
  };
  const r = { id: 0n, ttl: 0, remainingTtl: 0 };
  while (pos < b.length) {
    const tag = b[pos++]!;
    const v = varint();
    if (tag === 0x08) r.id = v;
    else if (tag === 0x10) r.ttl = Number(v);
    else if (tag === 0x18) r.remainingTtl = Number(v);
    else throw new RangeError(`leasepb.Lease: unexpected tag 0x${tag.toString(16)}`);
  }
  return r;
}

/** raftkv's lease record → etcd's (same key: the ID as 8 bytes big-endian). */
export function leaseToEtcd(value: Uint8Array): Buffer {
  const r = decodeLease(value);
  return encodeEtcdLease(r.id, r.ttlSeconds, r.remainingTtlSeconds);
}

/** etcd's lease → raftkv's record. */
export function leaseFromEtcd(key: Uint8Array, value: Uint8Array): Entry {
  const l = decodeEtcdLease(value);
  if (key.length !== 8 || Buffer.from(key).readBigInt64BE() !== l.id) throw new RangeError(`lease bucket: key ${Buffer.from(key).toString('hex')} does not name lease ${l.id}`);
  // etcd keeps leases granted before a TTL floor as they were; raftkv's record wants >= 1.
  return [Buffer.from(key), Buffer.from(encodeLease({ id: l.id, ttlSeconds: Math.max(1, l.ttl), remainingTtlSeconds: Math.max(0, l.remainingTtl) }))];
}

// --------------------------------------------------------------------------- members

interface StoredMember { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }

/**
 * raftkv's members bucket → etcd's: key the ID in hex (types.ID.String()), value etcd's
 * membership.Member JSON (fields in Go's order; omitempty ones left out when empty).
 */
export function membersToEtcd(entries: Iterable<{ value: Uint8Array }>): Entry[] {
  const out = [...entries].map(({ value }) => {
    const s = JSON.parse(Buffer.from(value).toString('utf8')) as StoredMember;
    const id = BigInt(`0x${s.id}`);
    // The ID is a uint64 JSON number: beyond 2^53, so written by hand, not by JSON.stringify.
    let json = `{"id":${id.toString(10)},"peerURLs":${JSON.stringify(s.peerUrls ?? [])}`;
    if (s.isLearner) json += ',"isLearner":true';
    if (s.name) json += `,"name":${JSON.stringify(s.name)}`;
    if (s.clientUrls?.length) json += `,"clientURLs":${JSON.stringify(s.clientUrls)}`;
    return [Buffer.from(id.toString(16)), Buffer.from(`${json}}`)] as const;
  });
  return out.sort((a, b) => Buffer.compare(a[0], b[0]));
}

/** raftkv's removed IDs (8 bytes big-endian) → etcd's (hex key, "removed"). */
export function removedToEtcd(entries: Iterable<{ key: Uint8Array }>): Entry[] {
  return [...entries]
    .map(({ key }) => [Buffer.from(Buffer.from(key).readBigUInt64BE().toString(16)), Buffer.from('removed')] as const)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
}

// --------------------------------------------------------------------------- auth

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * The auth buckets of an etcd snapshot, from raftkv's buckets of the same names (the auth
 * store keeps etcd's layout: authEnabled, authRevision; users and roles as authpb bytes).
 * The one place auth state meets export: a backend that never held an auth store gets what
 * etcd 3.4 writes for auth disabled with no users (authRevision 1, no authEnabled key).
 */
export function authBucketsToEtcd(raftkv: ReadonlyMap<string, Entry[]>): Map<'auth' | 'authRoles' | 'authUsers', Entry[]> {
  const auth = raftkv.get('auth') ?? [];
  return new Map([
    ['auth', auth.length > 0 ? auth : [[Buffer.from('authRevision'), u64(1)]]],
    ['authRoles', raftkv.get('authRoles') ?? []],
    ['authUsers', raftkv.get('authUsers') ?? []],
  ]);
}

// --------------------------------------------------------------------------- the whole file

/**
 * Writes every etcd bucket of `snap` to `w` (a plan, a file or a stream: the same calls, so the
 * same layout), draining `w` when it asks. Returns the newest revision and the keys written.
 */
export async function writeEtcdBuckets(snap: BackendSnapshotFile, w: BoltWriter): Promise<{ revision: number; keys: number }> {
  // Every bucket but the key space is small: read whole, converted, then written in order.
  const raftkv = new Map<string, Entry[]>();
  for (const e of snap.buckets()) {
    let list = raftkv.get(e.bucket);
    if (!list) raftkv.set(e.bucket, (list = []));
    list.push([Buffer.from(e.key), Buffer.from(e.value)]);
  }
  const auth = authBucketsToEtcd(raftkv);
  const meta: Entry[] = [];
  for (const { key, value } of snap.meta()) {
    if (ETCD_META_KEYS.has(key.toString('latin1'))) meta.push([Buffer.from(key), Buffer.from(value)]);
  }
  const small: Record<Exclude<typeof ETCD_BUCKETS[number], 'key'>, () => Entry[]> = {
    alarm: () => raftkv.get('alarm') ?? [],
    auth: () => auth.get('auth')!,
    authRoles: () => auth.get('authRoles')!,
    authUsers: () => auth.get('authUsers')!,
    cluster: () => [[Buffer.from('clusterVersion'), Buffer.from(CLUSTER_VERSION)]],
    lease: () => (raftkv.get('lease') ?? []).map(([k, v]) => [k, leaseToEtcd(v)] as const),
    members: () => membersToEtcd((raftkv.get('members') ?? []).map(([, value]) => ({ value }))),
    members_removed: () => removedToEtcd((raftkv.get('members_removed') ?? []).map(([key]) => ({ key }))),
    meta: () => meta,
  };
  let revision = 0;
  let keys = 0;
  for (const name of ETCD_BUCKETS) {
    w.beginBucket(name);
    if (name === 'key') {
      // The newest revision is the last key's: its main part kept as it goes, without a BigInt per key.
      let hi = 0;
      let lo = 0;
      const put = (key: Uint8Array, value: Uint8Array): boolean => {
        w.put(key, value);
        hi = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
        lo = ((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) >>> 0;
        keys++;
        return w.needsDrain;
      };
      for (const _ of snap.eachRevision(put)) await w.drain();
      revision = hi * 2 ** 32 + lo;
    } else {
      for (const [k, v] of small[name]()) w.put(k, v);
    }
    w.endBucket();
  }
  await w.drain();
  return { revision, keys };
}
