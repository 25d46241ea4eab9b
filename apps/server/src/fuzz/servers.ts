// The processes the fuzzer drives: one raftkv (or a 3-member raftkv cluster) and the reference
// etcd, each restartable on its data dir after a kill -9, with bounded captured output. They are
// started by testkit's cluster harness (a one-member cluster for a single server), whose
// children die with the fuzzer's process.
import { killAllChildren, removeDir, startCluster, type Cluster, type ClusterMember, type ServerKind } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

/** One server process: a raftkv member or etcd. */
export interface Member {
  readonly name: string;
  /** host:port of the client listener. */
  readonly endpoint: string;
  /** host:port of the peer listener. */
  readonly peerEndpoint: string;
  readonly dataDir: string;
  alive(): boolean;
  /** What the process printed (the last few MiB). */
  output(): string;
  /** SIGKILL and wait for the exit; no-op when down. */
  kill(): Promise<void>;
  /** Starts again on the same data dir and ports; resolves when ready, throws if it exits or is not ready in time. */
  restart(): Promise<void>;
}

/** SIGKILLs every process the fuzzer started (synchronous: usable in an exit handler). */
export const killAllNow = killAllChildren;

/** etcd's default raft timing, so lease TTL minimums are those of a server started without flags. */
const TIMING = { heartbeatMs: 100, electionMs: 1000 } as const;

function asMember(name: string, cm: ClusterMember): Member {
  return {
    name,
    endpoint: cm.endpoint,
    peerEndpoint: cm.peerUrl.replace(/^https?:\/\//, ''),
    dataDir: cm.dataDir,
    alive: () => cm.pid !== undefined,
    output: () => cm.output(),
    kill: () => cm.kill(),
    restart: () => cm.restart(),
  };
}

/** A raftkv or etcd process on fresh loopback ports and a fresh data dir (started). */
export async function startSingle(kind: ServerKind): Promise<Member> {
  const c = await startCluster(kind, { size: 1, raftkvBin, ...TIMING });
  return asMember(kind, c.members[0]!);
}

/** The raftkv side of a run: one member, or a cluster. */
export interface Subject {
  readonly members: Member[];
  /** Kills every process and removes the data dirs. */
  close(): Promise<void>;
}

/** The reference etcd: one member, or beside a raftkv cluster a 3-member etcd cluster started alike. */
export function startReference(cluster: boolean): Promise<Subject> {
  return startSubject(cluster, 'etcd');
}

export async function startSubject(cluster: boolean, kind: ServerKind = 'raftkv'): Promise<Subject> {
  if (!cluster) {
    const m = await startSingle(kind);
    return { members: [m], close: async () => { await m.kill(); removeDir(m.dataDir); } };
  }
  const c: Cluster = await startCluster(kind, { size: 3, raftkvBin });
  try {
    await c.waitForLeader();
  } catch (err) {
    await c.close();
    throw err;
  }
  return { members: c.members.map((cm) => asMember(cm.name, cm)), close: () => c.close() };
}

/** The last lines of a process's output that explain a crash (a fatal line and what followed). */
export function crashExcerpt(output: string, lines = 12): string {
  const all = output.trimEnd().split('\n');
  let fatal = -1;
  for (let i = all.length - 1; i >= 0 && fatal < 0; i--) if (/fatal|panic|error/i.test(all[i]!)) fatal = i;
  const from = fatal >= 0 ? Math.max(0, fatal - 2) : all.length - lines;
  return all.slice(from, from + lines).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
}
