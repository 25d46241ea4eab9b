// A multi-member cluster of real processes on loopback for end-to-end and fault tests: the
// reference etcd 3.4 or raftkv, started with exactly etcd's flags, so a test switches its subject
// with one word (`startCluster('etcd')` / `startCluster('raftkv')`).
import type { ChildProcess } from 'node:child_process';
import { connect } from './grpc-client.js';
import { Partition } from './fault-proxy/index.js';
import { raftkvNodeArgs, removeDir, requireBinary, tempDir } from './processes/binaries.js';
import { exited, killNow, launch, spawnTracked, StartError, terminate } from './processes/children.js';
import type { CommandResult } from './processes/etcdctl.js';
import { freePorts, PORT_RACE_RETRIES } from './processes/ports.js';

export type ServerKind = 'etcd' | 'raftkv';

/**
 * The server the cluster suites test: raftkv, or, with `RAFTKV_CLUSTER_SUBJECT=etcd`, the
 * reference etcd (to check that a suite's expectations hold for etcd itself).
 */
export function clusterSubject(): ServerKind {
  const v = process.env['RAFTKV_CLUSTER_SUBJECT'] ?? 'raftkv';
  if (v !== 'raftkv' && v !== 'etcd') throw new Error(`RAFTKV_CLUSTER_SUBJECT must be raftkv or etcd, got ${v}`);
  return v;
}

export interface ClusterOptions {
  /** Voting members started together; default 3, at most MAX_CLUSTER_SIZE. */
  size?: number;
  /** `--initial-cluster-token`; default unique per cluster. */
  token?: string;
  /** `--heartbeat-interval` in ms; default 50. */
  heartbeatMs?: number;
  /** `--election-timeout` in ms; default 500. */
  electionMs?: number;
  /** `--snapshot-count`; default: the flag is omitted (the server's default). */
  snapshotCount?: number;
  /** Extra flags for every member (also members added later). */
  args?: string[];
  /** Extra environment for every member. */
  env?: Record<string, string>;
  /** Put a Partition proxy in front of every peer listener (see `Cluster.net`). */
  partition?: boolean;
  /**
   * `https` for peer URLs served over TLS: pass the peer TLS flags in `args` (one certificate for
   * 127.0.0.1 may serve every member). The partition proxies work at the TCP level, so TLS
   * passes through them. Default `http`.
   */
  peerScheme?: 'http' | 'https';
  /** How long a member may take to print its ready line; default 20 s. */
  readyTimeoutMs?: number;
  /** raftkv only: the `raftkv` binary (default: TESTKIT_RAFTKV_BIN). */
  raftkvBin?: string;
  /**
   * Called for each member before the first start, with its (empty) data dir and the flags it
   * starts with: fills the data dir (a snapshot restore). The cluster is closed if it throws.
   */
  prepare?: (m: { name: string; dataDir: string; peerUrl: string; initialCluster: string; token: string }) => Promise<void>;
}

export interface ClusterMember {
  /** m0, m1, ... in start order (added members continue the sequence). */
  readonly name: string;
  /** http://127.0.0.1:<port> */
  readonly clientUrl: string;
  /** 127.0.0.1:<port>, for etcdctl and the gRPC test client. */
  readonly endpoint: string;
  /** The advertised peer URL: the proxy's when the cluster was started with `partition`. */
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process's pid; undefined while the member is down. */
  readonly pid: number | undefined;
  /** Everything every incarnation printed (stdout and stderr interleaved). */
  output(): string;
  /** SIGKILL (a crash) and wait for the exit. No-op while down. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL if it has not exited after a deadline) and wait for the exit. No-op while down. */
  stop(): Promise<void>;
  /**
   * Starts the member again with the flags of its first start (so `--initial-cluster-state` is
   * what it was then; both servers ignore it once the data dir has a WAL) and resolves once it
   * prints the ready line. With a Partition the new pid is registered BEFORE the process can
   * dial a peer. Throws if the member is running or does not become ready in time.
   * etcd prints the ready line only once its own member attributes are committed, i.e. with a
   * quorum: after a quorum loss, restart the members together (`Promise.all`), not one by one.
   * `extraArgs` are added for this incarnation only (e.g. `--force-new-cluster`).
   */
  restart(opts?: { extraArgs?: readonly string[] }): Promise<void>;
}

export interface Cluster {
  readonly kind: ServerKind;
  /** Every member ever started or added, in order; removed members stay listed (and down or not). */
  readonly members: ClusterMember[];
  /** The peer proxies when started with `partition: true`; member i is `net` member i. */
  readonly net: Partition | undefined;
  /** Client endpoints (host:port) of `members`, in the same order. */
  readonly endpoints: string[];
  /**
   * Polls Maintenance.Status on every live member until one member says it leads and a
   * majority of `members` name it leader; returns it. Members that do not answer within a
   * poll are skipped (a paused or partitioned member does not block). Throws after
   * `timeoutMs` (default 15 s) with what each member last said.
   */
  waitForLeader(timeoutMs?: number): Promise<ClusterMember>;
  /**
   * `etcdctl member add m<N> --peer-urls=<new> [--learner]` against a live member, then starts
   * the new process with `--initial-cluster-state existing` and the `--initial-cluster` etcdctl
   * printed; resolves once it prints the ready line. "unhealthy cluster" refusals (etcd's
   * strict reconfiguration check, for 5 s after members connect) are retried. Not supported with `partition` (the
   * Partition's proxies are fixed at start): throws.
   */
  addMember(opts?: { learner?: boolean }): Promise<ClusterMember>;
  /** SIGKILLs every member, removes every data dir, closes the proxies. Idempotent. */
  close(): Promise<void>;
}

const UNHEALTHY = 'etcdserver: unhealthy cluster';

/**
 * `etcdctl member add`. Spawned here rather than with processes.ts's `etcdctl`, which writes to
 * etcdctl's stdin: an etcdctl that exits first makes that write fail with an unhandled EPIPE.
 */
function memberAdd(endpoint: string, name: string, peerUrl: string, learner: boolean): Promise<CommandResult> {
  const args = ['--endpoints', endpoint, '--command-timeout', '10s', 'member', 'add', name, `--peer-urls=${peerUrl}`, ...(learner ? ['--learner'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawnTracked(requireBinary('etcdctl'), args, { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A limit, so a typo cannot fork a hundred servers on a shared machine. */
export const MAX_CLUSTER_SIZE = 9;
const READY_LINE = /ready to serve client requests/;
const STATUS_POLL_MS = 100;
const STATUS_CALL_LIMIT_MS = 1_000;
/** Output kept per member; older output is dropped from the front (a long test must not grow memory without bound). */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

let clusterSeq = 0;

interface Launch { command: string; prefix: string[] }

function launcher(kind: ServerKind, raftkvBin: string | undefined): Launch {
  // raftkv runs as `node bin/raftkv`, so the pid Partition sees is the server's own process.
  return kind === 'etcd' ? { command: requireBinary('etcd'), prefix: [] } : { command: process.execPath, prefix: raftkvNodeArgs(raftkvBin) };
}

class MemberProcess implements ClusterMember {
  readonly endpoint: string;
  private child: ChildProcess | undefined;
  private out = '';

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly launch: Launch,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    private readonly readyTimeoutMs: number,
    /** Called with the new pid right after each spawn, before the process can dial anyone. */
    private readonly onSpawn: (pid: number) => void,
  ) {
    this.endpoint = clientUrl.replace(/^http:\/\//, '');
  }

  get pid(): number | undefined {
    return this.child !== undefined && !exited(this.child) ? this.child.pid : undefined;
  }

  output(): string {
    return this.out;
  }

  private append(text: string): void {
    this.out += text;
    if (this.out.length > MAX_OUTPUT_CHARS) this.out = this.out.slice(this.out.length - MAX_OUTPUT_CHARS / 2);
  }

  /**
   * Spawns the process and resolves once this incarnation prints the ready line. A start that
   * fails (exit, or not ready in time) leaves no process behind.
   */
  async start(extraArgs: readonly string[] = []): Promise<void> {
    if (this.pid !== undefined) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const args = [...this.launch.prefix, ...this.args, ...extraArgs];
    await launch(this.launch.command, args, {
      label: this.name,
      readyLine: READY_LINE,
      readyTimeoutMs: this.readyTimeoutMs,
      env: { ...process.env, ...this.env },
      onOutput: (text) => this.append(text),
      onSpawn: (child) => {
        // Known at once, so a close() during the start kills it.
        this.child = child;
        const pid = child.pid;
        this.onSpawn(pid);
        this.append(`--- ${this.name} pid ${pid}: ${this.launch.command} ${args.join(' ')}\n`);
      },
    });
  }

  async kill(): Promise<void> {
    if (this.child !== undefined) await killNow(this.child);
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) await terminate(this.child);
  }

  async restart(opts: { extraArgs?: readonly string[] } = {}): Promise<void> {
    await this.start(opts.extraArgs);
  }
}

/** A call that must answer within STATUS_CALL_LIMIT_MS (the caller closes the client, cancelling it). */
async function withLimit<T>(call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([call, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${STATUS_CALL_LIMIT_MS} ms`)), STATUS_CALL_LIMIT_MS);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

interface StatusSeen { member: MemberProcess; id: bigint; leader: bigint }

/** Maintenance.Status of one member, or why it did not answer within the limit. */
async function statusOf(m: MemberProcess): Promise<StatusSeen | string> {
  const client = connect(m.endpoint);
  try {
    const res = await withLimit(client.status());
    return { member: m, id: res.header?.memberId ?? 0n, leader: res.leader };
  } catch (err) {
    return `${m.name}: ${(err as Error).message}`;
  } finally {
    client.close();
  }
}

/** The voting member IDs in one member's member list, or undefined if it does not answer in time. */
async function votersOf(m: MemberProcess): Promise<Set<bigint> | undefined> {
  const client = connect(m.endpoint);
  try {
    const res = await withLimit(client.memberList());
    return new Set(res.members.filter((x) => !x.isLearner).map((x) => x.ID));
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

class ProcessCluster implements Cluster {
  readonly members: MemberProcess[] = [];
  private closed = false;

  constructor(
    readonly kind: ServerKind,
    readonly net: Partition | undefined,
    private readonly opts: Required<Pick<ClusterOptions, 'token' | 'heartbeatMs' | 'electionMs' | 'args' | 'env' | 'readyTimeoutMs' | 'peerScheme'>> & { snapshotCount: number | undefined },
    private readonly launch: Launch,
  ) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** A member's flags: exactly etcd's, the same for both kinds. */
  flags(name: string, dataDir: string, clientUrl: string, listenPeerUrl: string, advertisePeerUrl: string,
    initialCluster: string, state: 'new' | 'existing'): string[] {
    return [
      '--name', name, '--data-dir', dataDir,
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', listenPeerUrl, '--initial-advertise-peer-urls', advertisePeerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state,
      '--initial-cluster-token', this.opts.token,
      '--heartbeat-interval', String(this.opts.heartbeatMs), '--election-timeout', String(this.opts.electionMs),
      ...(this.opts.snapshotCount !== undefined ? ['--snapshot-count', String(this.opts.snapshotCount)] : []),
      ...this.opts.args,
    ];
  }

  newMember(name: string, clientUrl: string, peerUrl: string, dataDir: string, args: string[], onSpawn: (pid: number) => void): MemberProcess {
    const m = new MemberProcess(name, clientUrl, peerUrl, dataDir, this.launch, args, this.opts.env, this.opts.readyTimeoutMs, onSpawn);
    this.members.push(m);
    return m;
  }

  async waitForLeader(timeoutMs = 15_000): Promise<ClusterMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = this.members.filter((m) => m.pid !== undefined);
      const seen = await Promise.all(live.map(statusOf));
      const answers = seen.filter((s): s is StatusSeen => typeof s !== 'string');
      for (const a of answers) {
        if (a.leader === 0n || a.leader !== a.id) continue;
        // A majority of the voters the candidate knows (learners and removed members excluded)
        // must name it: a deposed leader that has not noticed yet is not returned.
        const voters = await votersOf(a.member);
        if (voters === undefined) continue;
        const votes = answers.filter((b) => b.leader === a.id && voters.has(b.id)).length;
        if (votes * 2 > voters.size) return a.member;
      }
      if (Date.now() > deadline) {
        const said = seen.map((s) => (typeof s === 'string' ? s : `${s.member.name}: id ${s.id.toString(16)} leader ${s.leader.toString(16)}`));
        throw new Error(`no leader among ${this.kind} members after ${timeoutMs} ms: ${said.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, STATUS_POLL_MS));
    }
  }

  async addMember(opts: { learner?: boolean } = {}): Promise<ClusterMember> {
    if (this.net !== undefined) throw new Error('addMember is not supported on a cluster started with partition: the proxies are fixed at start');
    if (this.members.length >= MAX_CLUSTER_SIZE) throw new RangeError(`a test cluster has at most ${MAX_CLUSTER_SIZE} members`);
    const via = this.members.find((m) => m.pid !== undefined);
    if (via === undefined) throw new Error('addMember needs a live member to send member add to');
    const name = `m${this.members.length}`;
    const [clientPort, peerPort] = await freePorts(2);
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `${this.opts.peerScheme}://127.0.0.1:${peerPort}`;
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    let added = await memberAdd(via.endpoint, name, peerUrl, opts.learner === true);
    // etcd refuses a reconfiguration until the leader has been connected to a quorum for 5 s
    // (its strict reconfig check): "etcdserver: unhealthy cluster". Nothing was added; retry.
    while (added.code !== 0 && added.stderr.includes(UNHEALTHY) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      added = await memberAdd(via.endpoint, name, peerUrl, opts.learner === true);
    }
    // etcdctl prints the environment the new member needs, e.g. ETCD_INITIAL_CLUSTER="m0=http://...,m3=http://...".
    const initialCluster = /^ETCD_INITIAL_CLUSTER="([^"]*)"$/m.exec(added.stdout)?.[1];
    if (added.code !== 0 || initialCluster === undefined) {
      throw new Error(`member add ${name} via ${via.name} failed (${added.code}): ${added.stdout}${added.stderr}`);
    }
    const dataDir = tempDir(`${this.kind}-cluster-${name}-`);
    const m = this.newMember(name, clientUrl, peerUrl, dataDir,
      this.flags(name, dataDir, clientUrl, peerUrl, peerUrl, initialCluster, 'existing'), () => undefined);
    await m.start();
    return m;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) removeDir(m.dataDir);
    await this.net?.close();
  }
}

/**
 * Starts `size` members of `kind` on loopback, in parallel, each with its own data dir and
 * etcd's flags (`--initial-cluster-state new`), and resolves once every member printed
 * `ready to serve client requests` (for raftkv that may be before a leader is elected: use
 * `waitForLeader`). On failure every started process is killed and its data removed.
 *
 * @example
 * const cluster = await startCluster('etcd', { size: 3 });
 * try {
 *   const leader = await cluster.waitForLeader();
 *   await etcdctl(leader.endpoint, ['put', 'k', 'v']);
 *   await leader.kill();
 *   await cluster.waitForLeader();
 * } finally {
 *   await cluster.close();
 * }
 */
export async function startCluster(kind: ServerKind, opts: ClusterOptions = {}): Promise<Cluster> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > MAX_CLUSTER_SIZE) {
    throw new RangeError(`cluster size must be 1..${MAX_CLUSTER_SIZE}, got ${size}`);
  }
  const how = launcher(kind, opts.raftkvBin);
  for (let attempt = 0; ; attempt++) {
    try {
      return await startClusterOnce(kind, size, opts, how);
    } catch (err) {
      // A peer or client port picked free was taken before the member bound it: start over on fresh ports.
      if (err instanceof StartError && err.addressInUse && attempt < PORT_RACE_RETRIES) continue;
      throw err;
    }
  }
}

async function startClusterOnce(kind: ServerKind, size: number, opts: ClusterOptions, how: Launch): Promise<Cluster> {
  const ports = await freePorts(2 * size);
  const clientPorts = ports.slice(0, size);
  const peerPorts = ports.slice(size);
  const net = opts.partition
    ? await Partition.start({ members: peerPorts.map((port) => ({ target: { host: '127.0.0.1', port }, origin: { pid: 0 } })) })
    : undefined;
  const token = opts.token ?? `${kind}-test-${process.pid}-${++clusterSeq}-${Date.now().toString(36)}`;
  const cluster = new ProcessCluster(kind, net, {
    token,
    heartbeatMs: opts.heartbeatMs ?? 50,
    electionMs: opts.electionMs ?? 500,
    snapshotCount: opts.snapshotCount,
    args: opts.args ?? [],
    env: opts.env ?? {},
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    peerScheme: opts.peerScheme ?? 'http',
  }, how);
  const scheme = opts.peerScheme ?? 'http';
  const peerUrl = (i: number) => (net?.peerUrl(i) ?? `http://127.0.0.1:${peerPorts[i]}`).replace(/^http:/, `${scheme}:`);
  const initialCluster = peerPorts.map((_, i) => `m${i}=${peerUrl(i)}`).join(',');
  for (let i = 0; i < size; i++) {
    const name = `m${i}`;
    const clientUrl = `http://127.0.0.1:${clientPorts[i]}`;
    const dataDir = tempDir(`${kind}-cluster-${name}-`);
    cluster.newMember(name, clientUrl, peerUrl(i), dataDir,
      cluster.flags(name, dataDir, clientUrl, `${scheme}://127.0.0.1:${peerPorts[i]}`, peerUrl(i), initialCluster, 'new'),
      (pid) => net?.setMemberPid(i, pid));
  }
  try {
    if (opts.prepare) {
      for (const m of cluster.members) await opts.prepare({ name: m.name, dataDir: m.dataDir, peerUrl: m.peerUrl, initialCluster, token });
    }
    // The first failure ends the start: the members still starting are killed with the rest
    // rather than left waiting for a quorum that will not come.
    await Promise.all(cluster.members.map((m) => m.start()));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}
