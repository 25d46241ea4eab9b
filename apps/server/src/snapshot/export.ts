// The member's state as etcd 3.4's snapshot file: a bbolt database with etcd's buckets. The
// copy is point-in-time and off the write path: the backend is first copied by LMDB (a read
// transaction on a thread of its pool, writes go on), then converted from that copy.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BoltWriter } from '@raftkv/bbolt';
import { BackendSnapshotFile, type MvccStore, type ReadPacing } from '@raftkv/mvcc';
import {
  authBucketsToEtcd, CLUSTER_VERSION, ETCD_BUCKETS, ETCD_META_KEYS, leaseToEtcd, membersToEtcd, removedToEtcd, type Entry,
} from './etcd-buckets.js';

let exportCount = 0;

/** Files (and LMDB's copy directory) an export leaves in the snap dir if the member stops during it. */
export function isExportLeftover(name: string): boolean {
  return /^export-\d+-\d+\./.test(name);
}

/** A bbolt file written by {@link exportEtcdSnapshot}; remove it when done. */
export interface ExportedSnapshot {
  path: string;
  /** Bytes (the database's pages; etcd's sha256 trailer is not in the file). */
  size: number;
  /** Newest revision in the key bucket, and the entries written, for logs. */
  revision: number;
  keys: number;
  /** Time of the LMDB copy and of the conversion to bbolt, for logs. */
  copyMs: number;
  convertMs: number;
  remove(): Promise<void>;
}

/**
 * Writes the state of `store` as etcd 3.4's bbolt backend to a new file in `workDir` (the
 * member's snap dir). `pacing` shares the event loop while converting: a turn of it every
 * `entriesPerStep` keys, so the member goes on serving.
 */
export async function exportEtcdSnapshot(store: MvccStore, workDir: string, pacing: ReadPacing): Promise<ExportedSnapshot> {
  const base = join(workDir, `export-${process.pid}-${++exportCount}`);
  const lmdbPath = `${base}.mdb`;
  const boltPath = `${base}.bolt.part`;
  const removeAll = async () => {
    await rm(lmdbPath, { force: true });
    await rm(`${lmdbPath}-lock`, { force: true });
    await rm(boltPath, { force: true });
  };
  try {
    const t0 = performance.now();
    await store.snapshotTo(lmdbPath);
    const t1 = performance.now();
    const snap = BackendSnapshotFile.open(lmdbPath);
    let w: BoltWriter | undefined;
    try {
      w = await BoltWriter.create(boltPath);
      const r = await writeBuckets(snap, w, pacing);
      const { size } = await w.finish();
      w = undefined;
      const copyMs = Math.round(t1 - t0);
      const convertMs = Math.round(performance.now() - t1);
      return { path: boltPath, size, revision: r.revision, keys: r.keys, copyMs, convertMs, remove: async () => { await rm(boltPath, { force: true }); } };
    } finally {
      await w?.abort();
      await snap.close();
      await rm(lmdbPath, { force: true });
    }
  } catch (err) {
    await removeAll();
    throw err;
  }
}

async function writeBuckets(snap: BackendSnapshotFile, w: BoltWriter, pacing: ReadPacing): Promise<{ revision: number; keys: number }> {
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
      for (const { key, value } of snap.revisions()) {
        w.put(key, value);
        hi = key.readUInt32BE(0);
        lo = key.readUInt32BE(4);
        if (++keys % pacing.entriesPerStep === 0 || w.needsDrain) {
          await w.drain();
          await pacing.pause();
        }
      }
      revision = hi * 2 ** 32 + lo;
    } else {
      for (const [k, v] of small[name]()) w.put(k, v);
    }
    w.endBucket();
    await w.drain();
  }
  return { revision, keys };
}
