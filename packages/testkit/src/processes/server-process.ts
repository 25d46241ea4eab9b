// One server process (raftkv or the reference etcd) on loopback ports, started with the
// process hygiene of children.ts and retried on fresh ports when it lost a port race.
import type { ChildProcess } from 'node:child_process';
import { killNow, launch, StartError, terminate } from './children.js';
import { freePorts, PORT_RACE_RETRIES } from './ports.js';
import { removeDir, tempDir } from './binaries.js';

export interface ServerProcess {
  /** host:port of the client listener. */
  readonly endpoint: string;
  /** http://host:port of the client listener. */
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Everything it printed (stdout and stderr interleaved). */
  output(): string;
  /** SIGTERM, SIGKILL if it has not exited after a deadline; resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Data dir to use (kept on failure); default a fresh temp dir (removed on failure). */
  dataDir?: string;
  /** Extra flags, after the ones the starter sets. */
  args?: string[];
  /** Client port; default a free one (and a fresh one on a port race). */
  port?: number;
  env?: Record<string, string>;
  /** How long the server may take to print its ready line; default 20 s. */
  readyTimeoutMs?: number;
  /** raftkv only: the `raftkv` binary (default: TESTKIT_RAFTKV_BIN). */
  raftkvBin?: string;
}

export const READY_LINE = /ready to serve client requests/;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
/** Output kept per process; older output is dropped from the front. */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

export interface ServerSpec {
  label: string;
  command: string;
  /** The command's arguments for these ports and data dir. */
  args(clientPort: number, peerPort: number, dataDir: string): string[];
  dataDirPrefix: string;
}

/**
 * Starts the server of `spec` and resolves once it prints the ready line. A start that fails
 * leaves no process behind; one that failed because a port it was given was taken meanwhile
 * (EADDRINUSE: ports are picked free, then bound later by the child) is retried on fresh ports.
 */
export async function startServer(spec: ServerSpec, opts: StartOptions): Promise<ServerProcess> {
  for (let attempt = 0; ; attempt++) {
    const [picked, peerPort] = await freePorts(2);
    const clientPort = opts.port ?? picked!;
    const dataDir = opts.dataDir ?? tempDir(spec.dataDirPrefix);
    let out = '';
    const onOutput = (text: string): void => {
      out += text;
      if (out.length > MAX_OUTPUT_CHARS) out = out.slice(out.length - MAX_OUTPUT_CHARS / 2);
    };
    try {
      const child = await launch(spec.command, spec.args(clientPort, peerPort!, dataDir), {
        label: spec.label,
        readyLine: READY_LINE,
        readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        env: { ...process.env, ETCDCTL_API: '3', ...opts.env },
        onOutput,
      });
      const endpoint = `127.0.0.1:${clientPort}`;
      return {
        endpoint,
        clientUrl: `http://${endpoint}`,
        dataDir,
        child,
        output: () => out,
        stop: () => terminate(child),
        kill: () => killNow(child),
      };
    } catch (err) {
      if (opts.dataDir === undefined) removeDir(dataDir);
      if (err instanceof StartError && err.addressInUse && attempt < PORT_RACE_RETRIES) continue;
      throw err;
    }
  }
}
