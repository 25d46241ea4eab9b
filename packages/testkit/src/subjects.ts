// What a differential test compares: the reference etcd (one member) and a raftkv endpoint,
// either a one-member raftkv or a FOLLOWER of a three-member raftkv (so every write is forwarded
// to the leader and every linearizable read goes through ReadIndex).
import { startCluster } from './cluster.js';
import { removeDir } from './processes/binaries.js';
import { startPair } from './processes/pair.js';
import { startEtcd } from './processes/reference-etcd.js';
import type { StartOptions } from './processes/server-process.js';

export type Topology = 'one member' | 'a follower of three members';
export const TOPOLOGIES: readonly Topology[] = ['one member', 'a follower of three members'];

export interface Subjects {
  readonly etcd: { readonly endpoint: string };
  readonly raftkv: { readonly endpoint: string };
  stop(): Promise<void>;
}

export async function startSubjects(topology: Topology, opts: StartOptions = {}): Promise<Subjects> {
  if (topology === 'one member') return startPair(opts);
  const [etcdStart, clusterStart] = await Promise.allSettled([startEtcd(opts),
    startCluster('raftkv', { size: 3, ...(opts.args ? { args: opts.args } : {}), ...(opts.raftkvBin ? { raftkvBin: opts.raftkvBin } : {}) })]);
  if (etcdStart.status === 'rejected' || clusterStart.status === 'rejected') {
    // Half started: stop that half before failing.
    if (etcdStart.status === 'fulfilled') { await etcdStart.value.kill(); removeDir(etcdStart.value.dataDir); }
    if (clusterStart.status === 'fulfilled') await clusterStart.value.close();
    throw (etcdStart.status === 'rejected' ? etcdStart.reason : (clusterStart as PromiseRejectedResult).reason) as Error;
  }
  const etcd = etcdStart.value;
  const cluster = clusterStart.value;
  let leader;
  try {
    leader = await cluster.waitForLeader();
  } catch (err) {
    await Promise.all([etcd.kill(), cluster.close()]);
    removeDir(etcd.dataDir);
    throw err;
  }
  const follower = cluster.members.find((m) => m !== leader)!;
  return {
    etcd,
    raftkv: { endpoint: follower.endpoint },
    async stop() {
      await Promise.all([etcd.stop(), cluster.close()]);
      removeDir(etcd.dataDir);
    },
  };
}
