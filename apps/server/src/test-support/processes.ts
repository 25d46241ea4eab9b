// Starting real processes for end-to-end tests: raftkv itself, the reference etcd, etcdctl.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const raftkvBin = join(here, '..', '..', 'bin', 'raftkv');
/**
 * Arguments for `node` that run raftkv in tests: a promise rejection nobody handles crashes
 * the member even if a handler is installed, so no test can pass over one.
 */
export const raftkvNodeArgs: readonly string[] = ['--unhandled-rejections=strict', raftkvBin];

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

export function requireBinary(name: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error(`${name} is not on PATH: these tests compare raftkv with real etcd 3.4 ` +
      `(Debian: apt-get install -y etcd-server etcd-client, or run scripts/ensure-reference-etcd.sh)`);
  }
  return path;
}

export interface ServerProcess {
  readonly endpoint: string; // host:port
  readonly dataDir: string;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function startProcess(command: string, args: string[], endpoint: string, dataDir: string,
  readyLine: RegExp, timeoutMs: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3', ...env } });
  let out = '';
  const onData = (b: Buffer) => { out += b.toString(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not become ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      if (readyLine.test(out)) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    endpoint, dataDir, child,
    output: () => out,
    async stop() { child.kill('SIGTERM'); await waitForExit(child); },
    async kill() { child.kill('SIGKILL'); await waitForExit(child); },
  };
}

export interface StartOptions { dataDir?: string; args?: string[]; port?: number; env?: Record<string, string> }

/** Starts the `raftkv` binary (built) on a loopback port; resolves once it serves clients. */
export async function startRaftkv(opts: StartOptions = {}): Promise<ServerProcess> {
  const port = opts.port ?? await freePort();
  const peerPort = await freePort();
  const dataDir = opts.dataDir ?? tempDir('raftkv-e2e-');
  const url = `http://127.0.0.1:${port}`;
  return startProcess(process.execPath, [...raftkvNodeArgs, '--data-dir', dataDir, '--listen-client-urls', url,
    '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, ...(opts.args ?? [])],
  `127.0.0.1:${port}`, dataDir, /ready to serve client requests/, 20_000, opts.env);
}

/** Starts the reference etcd 3.4 on a loopback port; resolves once it serves clients. */
export async function startEtcd(opts: StartOptions = {}): Promise<ServerProcess> {
  const etcd = requireBinary('etcd');
  const port = opts.port ?? await freePort();
  const peerPort = await freePort();
  const dataDir = opts.dataDir ?? tempDir('etcd-ref-');
  const url = `http://127.0.0.1:${port}`;
  return startProcess(etcd, ['--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, ...(opts.args ?? [])],
  `127.0.0.1:${port}`, dataDir, /ready to serve client requests/, 20_000);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CommandResult { code: number | null; stdout: string; stderr: string }

/** Runs the real etcdctl (v3 API) against an endpoint. */
export function etcdctl(endpoint: string, args: string[], input?: string): Promise<CommandResult> {
  const bin = requireBinary('etcdctl');
  return new Promise((resolve) => {
    const child = spawn(bin, ['--endpoints', endpoint, '--command-timeout', '10s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // etcdctl may exit before reading its input (EPIPE): its exit code tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/**
 * Runs a long-lived etcdctl command (such as `watch`) while `during` runs, then stops it with
 * SIGTERM `settleMs` later and returns what it printed.
 */
export async function etcdctlWhile(endpoint: string, args: string[], during: () => Promise<void>,
  opts: { input?: string; settleMs?: number; startMs?: number } = {}): Promise<CommandResult> {
  const bin = requireBinary('etcdctl');
  const child = spawn(bin, ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin.write(opts.input);
  await new Promise((r) => setTimeout(r, opts.startMs ?? 700));
  await during();
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 700));
  child.kill('SIGTERM');
  const code = await closed;
  return { code, stdout, stderr };
}

export interface ServerPair {
  readonly etcd: ServerProcess;
  readonly raftkv: ServerProcess;
  /** Stops both and removes their data directories. */
  stop(): Promise<void>;
}

/** Starts the reference etcd and raftkv side by side, with the same options, for a comparison. */
export async function startPair(opts: StartOptions = {}): Promise<ServerPair> {
  const [etcd, raftkv] = await Promise.all([startEtcd(opts), startRaftkv(opts)]);
  return {
    etcd,
    raftkv,
    async stop() {
      await Promise.all([etcd.stop(), raftkv.stop()]);
      removeDir(etcd.dataDir);
      removeDir(raftkv.dataDir);
    },
  };
}

/**
 * etcdctl's output with what differs by nature between two servers replaced: the endpoint, log
 * timestamps, the client's random id, IDs and terms in JSON headers.
 */
export function normaliseEtcdctl(text: string, endpoint: string): string {
  return text
    .split(endpoint).join('ENDPOINT')
    .replace(/took = [\d.]+[µmn]?s/g, 'took = T')
    .replace(/"ts":"[^"]*"/g, '"ts":"T"')
    .replace(/client-[0-9a-f-]{36}/g, 'client-ID')
    .replace(/"cluster_id":\d+/g, '"cluster_id":0')
    .replace(/"member_id":\d+/g, '"member_id":0')
    .replace(/"raft_term":\d+/g, '"raft_term":0');
}
