// A benchmark "side": a fresh one-member server or three-member cluster of etcd or raftkv on
// loopback, with fresh data dirs, started with testkit's helpers.
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort, removeDir, startCluster, startEtcd, startRaftkv, tempDir,
  type Cluster, type ServerKind, type ServerProcess, type StartOptions,
} from '@raftkv/testkit';
import type { MemberRef } from './member-probe.js';

export interface Target {
  readonly kind: ServerKind;
  readonly members: 1 | 3;
  /** host:port of the leader (the only member of a one-member side). */
  leader: string;
  /** host:port of a follower; undefined on one member. */
  follower: string | undefined;
  /** pid of the leader's process, for RSS and CPU. */
  leaderPid(): number;
  /** Every member's client endpoint and pid now (one member: the server), in start order. */
  memberRefs(): MemberRef[];
  /** Client credentials (TLS sides). */
  readonly creds: ChannelCredentials | undefined;
  /** SIGKILL every member (a crash); the data dirs stay. */
  killAll(): Promise<void>;
  /** SIGTERM every member (a clean stop); the data dirs stay. */
  stopAll(): Promise<void>;
  /** Starts every member again on its data dir (after killAll or stopAll); resolves once they serve and (3 members) a leader is elected. */
  restartAll(): Promise<void>;
  /** Stops every member and removes the data dirs. */
  close(): Promise<void>;
}

export interface TargetOptions {
  /** The raftkv binary (bin/raftkv of some build). */
  raftkvBin: string;
  /** One member only: serve clients over https with a throwaway CA. */
  tls?: Certificates;
  /** Extra environment for raftkv processes only (e.g. NODE_OPTIONS=--cpu-prof). */
  raftkvEnv?: Record<string, string>;
}

export interface Certificates { dir: string; ca: string; cert: string; key: string }

/** A CA and a server certificate for 127.0.0.1, made with openssl, for TLS runs. */
export function makeCertificates(): Certificates {
  const dir = tempDir('bench-tls-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=bench-ca');
  writeFileSync(join(dir, 's.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 's.key', '-out', 's.csr', '-subj', '/CN=bench');
  ssl('x509', '-req', '-in', 's.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 's.crt', '-days', '1', '-extfile', 's.ext');
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 's.crt'), key: join(dir, 's.key') };
}

export function startTarget(kind: ServerKind, members: 1 | 3, opts: TargetOptions): Promise<Target> {
  return members === 1 ? startSingle(kind, opts) : startThree(kind, opts);
}

async function startSingle(kind: ServerKind, opts: TargetOptions): Promise<Target> {
  const start = async (dataDir?: string): Promise<ServerProcess> => {
    const so: StartOptions = {
      raftkvBin: opts.raftkvBin, readyTimeoutMs: 120_000, ...(dataDir ? { dataDir } : {}),
      ...(kind === 'raftkv' && opts.raftkvEnv ? { env: opts.raftkvEnv } : {}),
    };
    if (opts.tls) {
      const port = await freePort();
      const url = `https://127.0.0.1:${port}`;
      so.port = port;
      so.args = ['--listen-client-urls', url, '--advertise-client-urls', url, '--cert-file', opts.tls.cert, '--key-file', opts.tls.key];
    }
    return kind === 'etcd' ? startEtcd(so) : startRaftkv(so);
  };
  let server = await start();
  const dataDir = server.dataDir;
  const target: Target = {
    kind, members: 1, leader: server.endpoint, follower: undefined,
    creds: opts.tls ? credentials.createSsl(readFileSync(opts.tls.ca)) : undefined,
    leaderPid: () => server.child.pid!,
    memberRefs: () => [{ endpoint: server.endpoint, pid: server.child.pid }],
    killAll: () => server.kill(),
    stopAll: () => server.stop(),
    restartAll: async () => {
      server = await start(dataDir);
      target.leader = server.endpoint;
    },
    close: async () => {
      await server.stop();
      removeDir(dataDir);
    },
  };
  return target;
}

async function startThree(kind: ServerKind, opts: TargetOptions): Promise<Target> {
  if (opts.tls) throw new Error('TLS runs are one-member only');
  const cluster: Cluster = await startCluster(kind, {
    size: 3, raftkvBin: opts.raftkvBin, readyTimeoutMs: 120_000, ...(kind === 'raftkv' && opts.raftkvEnv ? { env: opts.raftkvEnv } : {}),
  });
  try {
    const target: Target = {
      kind, members: 3, leader: '', follower: undefined, creds: undefined,
      leaderPid: () => cluster.members.find((m) => m.endpoint === target.leader)!.pid!,
      memberRefs: () => cluster.members.map((m) => ({ endpoint: m.endpoint, pid: m.pid })),
      killAll: async () => { await Promise.all(cluster.members.map((m) => m.kill())); },
      stopAll: async () => { await Promise.all(cluster.members.map((m) => m.stop())); },
      restartAll: async () => {
        // Together: etcd prints its ready line only once a quorum is back.
        await Promise.all(cluster.members.map((m) => m.restart()));
        await locate();
      },
      // A clean stop first: a profiled member writes its CPU profile only on a clean exit.
      close: async () => {
        await Promise.all(cluster.members.map((m) => m.stop()));
        await cluster.close();
      },
    };
    const locate = async () => {
      const leader = await cluster.waitForLeader(60_000);
      target.leader = leader.endpoint;
      target.follower = cluster.members.find((m) => m !== leader)!.endpoint;
    };
    await locate();
    return target;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}
