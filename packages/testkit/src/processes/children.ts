// Every process a test starts dies with the test: each child is tracked and SIGKILLed when
// the test worker exits, and on Linux it is also spawned with a parent-death signal, so it
// dies even when the worker itself is SIGKILLed (no 'exit' handler runs then).
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

/** SIGKILLs every tracked child still running (synchronous: safe in an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of live) {
    if (!exited(child)) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
}

/** The pids of tracked children still running (for tests of this module and for leak checks). */
export function liveChildPids(): number[] {
  return [...live].filter((c) => !exited(c) && c.pid !== undefined).map((c) => c.pid!);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllChildren);
  // A worker ended by a signal runs no 'exit' handler: the parent-death signal covers that.
}

let setprivPath: string | null | undefined;

/**
 * `setpriv --pdeathsig KILL` (util-linux) when it exists: it sets PR_SET_PDEATHSIG and then
 * execs the command, so the pid stays the server's own (the Partition proxy relies on that).
 */
function pdeathsigWrapper(): string | null {
  if (setprivPath === undefined) {
    if (process.platform !== 'linux') {
      setprivPath = null;
    } else {
      const found = spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' });
      const path = found.stdout.trim();
      const works = found.status === 0 && path !== '' &&
        spawnSync(path, ['--pdeathsig', 'KILL', '--', 'true']).status === 0;
      setprivPath = works ? path : null;
    }
  }
  return setprivPath;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * `spawn`, but the child is tracked until it exits and dies with this process (see the top of
 * this file). Use it for every long-lived process a test starts.
 */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  hookExit();
  const wrapper = pdeathsigWrapper();
  const child = wrapper === null
    ? spawn(command, args, options)
    : spawn(wrapper, ['--pdeathsig', 'KILL', '--', command, ...args], options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A spawn failure (ENOENT) is reported by the caller through 'exit'/'error'; it must not crash the worker.
  child.once('error', () => live.delete(child));
  return child;
}

/** How long `terminate` lets a process shut down cleanly before it SIGKILLs it. */
export const STOP_DEADLINE_MS = 10_000;

/**
 * SIGTERM, then SIGKILL if the process has not exited `deadlineMs` later; resolves once it has
 * exited. A server stuck in shutdown cannot hang a test's cleanup.
 */
export async function terminate(child: ChildProcess, deadlineMs = STOP_DEADLINE_MS): Promise<void> {
  if (exited(child)) return;
  const gone = waitForExit(child);
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), deadlineMs); });
  const outcome = await Promise.race([gone.then(() => 'gone' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    child.kill('SIGKILL');
    await gone;
  }
}

/** SIGKILL (a crash) and wait for the exit. */
export async function killNow(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = waitForExit(child);
  child.kill('SIGKILL');
  await gone;
}

/** A start that failed: `addressInUse` says a port it was given was taken (retry on others). */
export class StartError extends Error {
  constructor(message: string, readonly addressInUse: boolean) {
    super(message);
    this.name = 'StartError';
  }
}

const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;

export function saysAddressInUse(output: string): boolean {
  return ADDRESS_IN_USE.test(output);
}

export interface LaunchOptions {
  /** Printed (stdout or stderr) once the process serves. */
  readyLine: RegExp;
  /** The start fails (and the child is killed) if the ready line is not printed in time. */
  readyTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Everything the process prints, as it arrives. */
  onOutput?: (text: string) => void;
  /** Called with the child right after the spawn, before the process can do anything. */
  onSpawn?: (child: ChildProcess & { pid: number }) => void;
  /** Name used in errors. */
  label?: string;
}

/**
 * Spawns a server (tracked) and resolves with it once it prints its ready line. Fails with a
 * StartError, leaving no process behind, when it exits first or is not ready in time.
 */
export async function launch(command: string, args: readonly string[], opts: LaunchOptions): Promise<ChildProcess> {
  const label = opts.label ?? command;
  const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new StartError(`${label}: could not spawn ${command}: ${err.message}`, false);
  }
  opts.onSpawn?.(child as ChildProcess & { pid: number });
  let mine = '';
  const onData = (b: Buffer): void => {
    const text = b.toString();
    opts.onOutput?.(text);
    // Only this start's output counts, bounded (the ready line comes early).
    if (mine.length < 1 << 20) mine += text;
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  try {
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        child.off('exit', onExit);
        if (err) reject(err); else resolve();
      };
      const check = (): void => { if (opts.readyLine.test(mine)) finish(); };
      const onExit = (code: number | null, signal: string | null): void =>
        finish(new StartError(`${label} exited (${code ?? signal}) before it was ready:\n${mine}`, saysAddressInUse(mine)));
      const timer = setTimeout(() => finish(new StartError(`${label} was not ready in ${opts.readyTimeoutMs} ms:\n${mine}`, saysAddressInUse(mine))),
        opts.readyTimeoutMs);
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.on('exit', onExit);
    });
  } catch (err) {
    await killNow(child);
    throw err;
  }
  return child;
}
