// The processes the fuzzer drives: one raftkv (or a 3-member raftkv cluster) and the reference
// etcd, each restartable on its data dir after a kill -9, with bounded captured output.
import { spawn, type ChildProcess } from 'node:child_process';
import { startCluster, type Cluster } from '../test-support/cluster.js';
import { freePort, raftkvBin, removeDir, requireBinary, tempDir } from '../test-support/processes.js';

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

const MAX_OUTPUT_CHARS = 2 * 1024 * 1024;
const READY = /ready to serve client requests/;
const READY_TIMEOUT_MS = 20_000;

/** Every process the fuzzer started and has not reaped: killed on exit (including Ctrl-C). */
const livePids = new Set<() => number | undefined>();

/** SIGKILLs every process the fuzzer started (synchronous: usable in an exit handler). */
export function killAllNow(): void {
  for (const pid of livePids) {
    const p = pid();
    if (p !== undefined) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
  }
}
process.on('exit', killAllNow);

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

class SingleProcess implements Member {
  private child: ChildProcess | undefined;
  private out = '';
  readonly endpoint: string;
  readonly peerEndpoint: string;

  constructor(readonly name: string, private readonly command: string, private readonly args: string[],
    clientPort: number, peerPort: number, readonly dataDir: string) {
    this.endpoint = `127.0.0.1:${clientPort}`;
    this.peerEndpoint = `127.0.0.1:${peerPort}`;
  }

  alive(): boolean {
    return this.child !== undefined && !exited(this.child);
  }

  output(): string {
    return this.out;
  }

  async restart(): Promise<void> {
    if (this.alive()) throw new Error(`${this.name} is running`);
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const pid = (): number | undefined => (exited(child) ? undefined : child.pid);
    livePids.add(pid);
    child.once('exit', () => livePids.delete(pid));
    this.out += `--- ${this.name} pid ${child.pid}\n`;
    let mine = '';
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err); else resolve();
      };
      const onData = (b: Buffer): void => {
        const text = b.toString();
        this.out += text;
        if (this.out.length > MAX_OUTPUT_CHARS) this.out = this.out.slice(-MAX_OUTPUT_CHARS / 2);
        if (!done) {
          mine += text;
          if (READY.test(mine)) finish();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => finish(new Error(`${this.name} exited (${code ?? signal}) before it was ready`)));
      child.once('error', (err) => finish(err));
      const timer = setTimeout(() => finish(new Error(`${this.name} not ready in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || exited(child)) return;
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

/** A raftkv or etcd process on fresh loopback ports and a fresh data dir (started). */
export async function startSingle(kind: 'raftkv' | 'etcd'): Promise<Member> {
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const dataDir = tempDir(`fuzz-${kind}-`);
  const url = `http://127.0.0.1:${clientPort}`;
  const flags = ['--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`];
  const m = kind === 'raftkv'
    ? new SingleProcess('raftkv', process.execPath, [raftkvBin, ...flags], clientPort, peerPort, dataDir)
    : new SingleProcess('etcd', requireBinary('etcd'), flags, clientPort, peerPort, dataDir);
  try {
    await m.restart();
  } catch (err) {
    await m.kill();
    removeDir(dataDir);
    throw err;
  }
  return m;
}

/** The raftkv side of a run: one member, or a cluster. */
export interface Subject {
  readonly members: Member[];
  /** Kills every process and removes the data dirs. */
  close(): Promise<void>;
}

export async function startSubject(cluster: boolean): Promise<Subject> {
  if (!cluster) {
    const m = await startSingle('raftkv');
    return { members: [m], close: async () => { await m.kill(); removeDir(m.dataDir); } };
  }
  const c: Cluster = await startCluster('raftkv', { size: 3 });
  const pids = (): number | undefined => { killClusterNow(c); return undefined; };
  livePids.add(pids);
  await c.waitForLeader();
  const members: Member[] = c.members.map((cm) => ({
    name: cm.name,
    endpoint: cm.endpoint,
    peerEndpoint: cm.peerUrl.replace(/^https?:\/\//, ''),
    dataDir: cm.dataDir,
    alive: () => cm.pid !== undefined,
    output: () => cm.output(),
    kill: () => cm.kill(),
    restart: () => cm.restart(),
  }));
  return { members, close: async () => { livePids.delete(pids); await c.close(); } };
}

function killClusterNow(c: Cluster): void {
  for (const m of c.members) {
    if (m.pid !== undefined) { try { process.kill(m.pid, 'SIGKILL'); } catch { /* already gone */ } }
  }
}

/** The last lines of a process's output that explain a crash (a fatal line and what followed). */
export function crashExcerpt(output: string, lines = 12): string {
  const all = output.trimEnd().split('\n');
  let fatal = -1;
  for (let i = all.length - 1; i >= 0 && fatal < 0; i--) if (/fatal|panic|error/i.test(all[i]!)) fatal = i;
  const from = fatal >= 0 ? Math.max(0, fatal - 2) : all.length - lines;
  return all.slice(from, from + lines).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
}
