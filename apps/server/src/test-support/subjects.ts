// What a differential test compares: the reference etcd (one member) and a raftkv endpoint,
// either a one-member raftkv or a FOLLOWER of a three-member raftkv (so every write is forwarded
// to the leader and every linearizable read goes through ReadIndex).
import { startCluster } from './cluster.js';
import { removeDir, startEtcd, startPair, type StartOptions } from './processes.js';

export type Topology = 'one member' | 'a follower of three members';
export const TOPOLOGIES: readonly Topology[] = ['one member', 'a follower of three members'];

export interface Subjects {
  readonly etcd: { readonly endpoint: string };
  readonly raftkv: { readonly endpoint: string };
  stop(): Promise<void>;
}

export async function startSubjects(topology: Topology, opts: StartOptions = {}): Promise<Subjects> {
  if (topology === 'one member') return startPair(opts);
  const [etcd, cluster] = await Promise.all([startEtcd(opts), startCluster('raftkv', { size: 3, ...(opts.args ? { args: opts.args } : {}) })]);
  const leader = await cluster.waitForLeader();
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
