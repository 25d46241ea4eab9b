// `raftkv snapshot restore`: a new raftkv data dir from an etcd-format snapshot (saved from
// raftkv or from etcd 3.4 by `etcdctl snapshot save`, or etcd's member/snap/db with
// --skip-hash-check). As etcd's restore: the key space, its history, the compaction revision,
// leases, alarms and auth come back; the membership is the new cluster's, from the flags.
//
// The backend's consistent index is set to 0 and no WAL is written (a --wal-dir is created
// empty): the member's first start (with the same --name, --initial-cluster,
// --initial-cluster-token, --initial-advertise-peer-urls and --wal-dir, as for any new
// cluster) bootstraps raft from the flags and
// applies its log from index 1 onto the restored data. The IDs those flags give are left in
// member/restored-member.json; a first start with other flags is refused.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { mkdir, open, rm } from 'node:fs/promises';
import { BoltReader, type BoltBucket } from '@raftkv/bbolt';
import { importBackend, type BucketEntry } from '@raftkv/mvcc';
import { ConfigError, parseConfig } from '../config/index.js';
import { createDataDirs, dataDirLayout } from '../member/data-dir.js';
import { computeClusterId, computeMemberId } from '../cluster/member-id.js';
import { leaseFromEtcd } from './etcd-buckets.js';
import type { HashWorkerData, HashWorkerResult } from './hash-worker.js';
import { writeRestoredMarker, type RestoredMember } from './restored-marker.js';

export interface RestoreOptions {
  snapshotPath: string;
  /** Default `<name>.raftkv`, the server's default (etcdctl's is `<name>.etcd`). */
  dataDir?: string;
  /** Default "default". */
  name?: string;
  /**
   * A WAL directory apart from the data dir (etcdctl's --wal-dir): must not exist; created
   * empty (the first start with the same `--wal-dir` writes the WAL there).
   */
  walDir?: string;
  /** Default `<name>=http://localhost:2380`. */
  initialCluster?: string;
  /** Default "etcd-cluster". */
  initialClusterToken?: string;
  /** Default http://localhost:2380. */
  initialAdvertisePeerUrls?: string;
  /** Restore a file without (or with a wrong) sha256 trailer, such as etcd's member/snap/db. */
  skipHashCheck?: boolean;
  /** Told the entries written so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface RestoreResult {
  dataDir: string;
  revision: number;
  compactRevision: number;
  keys: number;
  leases: number;
}

/** The buckets carried over as they are (auth: the auth store keeps etcd's layout). */
const KEPT_BUCKETS = ['alarm', 'auth', 'authRoles', 'authUsers'] as const;

/** etcd's hasChecksum: a snapshot is pages (multiples of 512 bytes) plus the 32-byte sha256. */
function hasChecksum(size: number): boolean {
  return size % 512 === 32;
}

/**
 * Restores `snapshotPath` into a new data dir. Checks first (the flags as the server would read
 * them, the data dir and wal dir absent, the file's size), writes nothing until they pass;
 * checks the sha256 trailer while it writes, and removes what it wrote when anything fails.
 * @throws Error naming the problem.
 */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreResult> {
  const name = o.name ?? 'default';
  const peerUrls = o.initialAdvertisePeerUrls ?? 'http://localhost:2380';
  const dataDir = o.dataDir || `${name}.raftkv`;
  // The flags a start of this member takes, checked with the server's own rules.
  const argv = ['--name', name, '--data-dir', dataDir, '--initial-advertise-peer-urls', peerUrls,
    '--initial-cluster', o.initialCluster ?? `${name}=${peerUrls}`, '--initial-cluster-token', o.initialClusterToken ?? 'etcd-cluster'];
  let restored: RestoredMember;
  try {
    const parsed = parseConfig(argv, {});
    if (parsed.kind !== 'run') throw new Error('unexpected flags');
    // The IDs the first start will derive from the same flags (resolveIdentity checks them).
    const c = parsed.config;
    const voters = c.initialCluster.map((m) => computeMemberId(m.peerUrls, c.initialClusterToken));
    restored = { memberId: computeMemberId(c.initialAdvertisePeerUrls, c.initialClusterToken).toString(16), clusterId: computeClusterId(voters).toString(16), name };
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(err.message);
    throw err;
  }
  if (existsSync(dataDir)) throw new Error(`data-dir "${dataDir}" exists`);
  if (o.walDir && existsSync(o.walDir)) throw new Error(`wal-dir "${o.walDir}" exists`);
  // The hash is computed beside the import; what the import wrote is removed if it differs.
  const hash = await startHashCheck(o.snapshotPath, o.skipHashCheck ?? false);

  let db: BoltReader;
  try {
    db = BoltReader.open(o.snapshotPath);
  } catch (err) {
    await hash.verdict(); // a bad hash explains a damaged file best
    throw err;
  }
  let created = false;
  let createdWal = false;
  try {
    const keyBucket = db.bucket('key');
    const metaBucket = db.bucket('meta');
    if (!keyBucket || !metaBucket) throw new Error(`${o.snapshotPath} is not an etcd snapshot: no "key" or "meta" bucket`);
    const kept = KEPT_BUCKETS.map((n) => [n, db.bucket(n)] as const).filter((e): e is readonly [typeof KEPT_BUCKETS[number], BoltBucket] => e[1] !== undefined);
    const leaseBucket = db.bucket('lease');
    // Counted first (a walk of the pages) when progress is shown: its total.
    const total = o.onProgress ? keyBucket.count() : 0;
    const result: RestoreResult = { dataDir, revision: 0, compactRevision: 0, keys: 0, leases: 0 };

    const meta: Array<[Buffer, Buffer]> = [[Buffer.from('consistent_index'), Buffer.alloc(8)]];
    for (const k of ['finishedCompactRev', 'scheduledCompactRev']) {
      const v = metaBucket.get(k);
      if (v === undefined) continue;
      if (v.length !== 17) throw new Error(`meta ${k}: ${v.length} bytes, expected a 17-byte revision`);
      meta.push([Buffer.from(k), Buffer.from(v)]);
      if (k === 'finishedCompactRev') result.compactRevision = Number(v.readBigUInt64BE(0));
    }

    let lastKey: Buffer | undefined;
    function* revisions(): Generator<readonly [Buffer, Buffer]> {
      for (const e of keyBucket!.entries()) {
        lastKey = e.key;
        result.keys++;
        yield [e.key, e.value];
      }
    }
    function* buckets(): Generator<BucketEntry> {
      for (const [bucket, b] of kept) for (const e of b.entries()) yield { bucket, key: e.key, value: e.value };
      if (leaseBucket) {
        for (const e of leaseBucket.entries()) {
          const [key, value] = leaseFromEtcd(e.key, e.value);
          result.leases++;
          yield { bucket: 'lease', key, value };
        }
      }
    }

    const layout = dataDirLayout({ dataDir, walDir: '' });
    created = true;
    await createDataDirs(layout);
    await importBackend(layout.dbDir, { revisions: revisions(), meta, buckets: buckets() }, (n) => o.onProgress?.(Math.min(n, total), total));
    // Keys come in order: the last is the newest revision (importBackend checked its form).
    if (lastKey) result.revision = lastKey.readUInt32BE(0) * 2 ** 32 + lastKey.readUInt32BE(4);
    o.onProgress?.(total, total);
    await hash.verdict();
    if (o.walDir) {
      createdWal = true;
      await mkdir(o.walDir, { recursive: true, mode: 0o700 });
    }
    await writeRestoredMarker(dataDir, restored);
    return result;
  } catch (err) {
    if (created) await rm(dataDir, { recursive: true, force: true });
    if (createdWal) await rm(o.walDir!, { recursive: true, force: true });
    await hash.verdict(); // a bad hash explains a failed import best
    throw err;
  } finally {
    hash.stop();
    db.close();
  }
}

interface HashCheck {
  /** Resolves when the hash matched (or is not checked). @throws Error when it did not. */
  verdict(): Promise<void>;
  stop(): void;
}

/**
 * Starts checking the sha256 trailer on a worker thread (etcd checks it before restoring; here
 * it runs beside the import). The size checks come first and throw at once.
 */
async function startHashCheck(path: string, skip: boolean): Promise<HashCheck> {
  const f = await open(path, 'r');
  let size: number;
  const want = Buffer.alloc(32);
  try {
    size = (await f.stat()).size;
    const hashed = hasChecksum(size);
    if (!hashed && !skip) throw new Error('snapshot missing hash but --skip-hash-check=false');
    if (!hashed || skip) return { verdict: async () => undefined, stop: () => undefined };
    await f.read(want, 0, 32, size - 32);
  } finally {
    await f.close();
  }
  const data: HashWorkerData = { path, length: size - 32 };
  const worker = new Worker(new URL('./hash-worker.js', import.meta.url), { workerData: data });
  const result = new Promise<void>((resolve, reject) => {
    worker.once('message', (m: HashWorkerResult) => {
      if ('error' in m) reject(new Error(m.error));
      else if (m.sha256 !== want.toString('hex')) reject(new Error(`expected sha256 ${want.toString('hex')}, got ${m.sha256}`));
      else resolve();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`sha256 worker exited with code ${code}`)));
  });
  result.catch(() => undefined); // observed by verdict()
  return { verdict: () => result, stop: () => void worker.terminate() };
}
