/**
 * The data dir lock: one raftkv process per data dir (and per --wal-dir). See
 * docs/decisions/0004-data-dir-lock.md for why it is built this way.
 *
 * Linux: the lock is an abstract-namespace Unix socket named after the directory's real
 * path. bind() is atomic, and the kernel frees the name when the process dies, kill -9
 * included, so a restart never waits for a stale lock and never has to guess. The holder
 * answers a connection on it with its PID, for the refusal message. Abstract sockets are
 * per network namespace, so a `member/lock` file (PID, process start time, boot ID) also
 * guards against a holder in another network namespace of the same PID namespace.
 *
 * Elsewhere: the `member/lock` file alone, created exclusively; a file naming a process
 * that no longer exists (`process.kill(pid, 0)` fails with ESRCH) is stale and replaced.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';

/** Where the holder's identity is written, for the message and the non-Linux lock. */
export const LOCK_FILE = join('member', 'lock');
/** How long a refused process waits for the holder to say who it is. */
const ASK_TIMEOUT_MS = 1000;
/** A silent holder may be exiting: bind once more after this long. */
const RETRY_MS = 200;

/** A second process was refused the directory. `pid` is the holder's when known. */
export class DataDirLockedError extends Error {
  constructor(readonly dir: string, readonly pid: number | undefined, what = 'data dir') {
    super(`raftkv: the ${what} ${dir} is in use by another raftkv process${pid === undefined ? '' : ` (pid ${pid})`}; ` +
      'stop that process first, or give this one another --data-dir');
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly dir: string;
  /** Removes the lock file (if still ours) and frees the lock; idempotent. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Default `process.platform`; tests force the portable lock with 'other'. */
  platform?: NodeJS.Platform | 'other';
  /** Default this process's identity; tests pretend to be another process. */
  self?: Holder;
  /** Default `process.kill(pid, 0)`-based liveness (plus start time and boot on Linux). */
  isAlive?: (holder: Holder) => boolean;
  /**
   * Default true. False for a directory where no file of ours may appear (a --wal-dir holds
   * only WAL segments): the abstract socket alone on Linux, no lock elsewhere.
   */
  holderFile?: boolean;
  /** What the directory is, for the message. Default 'data dir'. */
  what?: string;
}

/** Who holds a lock: enough to tell a live holder from a dead one whose PID was reused. */
export interface Holder {
  pid: number;
  /** Linux: the process start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks?: string;
  /** Linux: /proc/sys/kernel/random/boot_id; a holder from an earlier boot is dead. */
  bootId?: string;
}

/**
 * Takes the lock on `dir` BEFORE anything in it is created or opened; `dir` itself is
 * created only once the lock is held.
 * @throws DataDirLockedError when another live process holds it.
 */
export async function lockDataDir(dir: string, options: LockOptions = {}): Promise<DataDirLock> {
  try {
    return await lock(dir, options);
  } catch (err) {
    if (err instanceof DataDirLockedError && options.what !== undefined) throw new DataDirLockedError(dir, err.pid, options.what);
    throw err;
  }
}

async function lock(dir: string, options: LockOptions): Promise<DataDirLock> {
  const platform = options.platform ?? process.platform;
  const self = options.self ?? currentProcess();
  const isAlive = options.isAlive ?? isProcessAlive;
  const path = canonicalPath(dir);
  const file = join(path, LOCK_FILE);

  let socket: Server | undefined;
  if (options.holderFile === false) {
    if (platform === 'linux') socket = await bindAbstract(path, self, dir);
  } else if (platform === 'linux') {
    socket = await bindAbstract(path, self, dir);
    try {
      // The socket excludes every process of this network namespace; the file, the others.
      const other = await readHolder(file);
      if (other && other.pid !== self.pid && isAlive(other)) throw new DataDirLockedError(dir, other.pid);
      await mkdir(join(path, 'member'), { recursive: true });
      await writeHolderAtomically(file, self);
    } catch (err) {
      await closeServer(socket);
      throw err;
    }
  } else {
    await createHolderExclusively(file, self, dir, isAlive);
  }

  let released = false;
  return {
    dir,
    async release() {
      if (released) return;
      released = true;
      if (options.holderFile !== false) {
        const holder = await readHolder(file).catch(() => undefined);
        if (holder?.pid === self.pid) await rm(file, { force: true });
      }
      if (socket) await closeServer(socket);
    },
  };
}

/**
 * The directory's real path; for a directory that does not exist yet, the real path of its
 * nearest existing ancestor joined with the rest, so two processes racing to create it
 * agree on the name.
 */
function canonicalPath(dir: string): string {
  let head = resolve(dir);
  const rest: string[] = [];
  while (!existsSync(head) && dirname(head) !== head) {
    rest.unshift(basename(head));
    head = dirname(head);
  }
  return join(realpathSync(head), ...rest);
}

function abstractName(path: string): string {
  return `\0raftkv-lock-${createHash('sha256').update(path).digest('hex')}`;
}

async function bindAbstract(path: string, self: Holder, dir: string): Promise<Server> {
  const name = abstractName(path);
  for (let attempt = 0; ; attempt++) {
    const server = createServer((conn) => {
      conn.on('error', () => undefined);
      conn.end(`${JSON.stringify({ pid: self.pid })}\n`);
    });
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen({ path: name }, () => {
          server.off('error', fail);
          ok();
        });
      });
      // The lock must never keep a stopping process alive.
      server.unref();
      return server;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const pid = await askHolder(name);
      // No answer: the holder may be exiting right now; its name is freed when it is gone.
      if (pid === undefined && attempt === 0) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      throw new DataDirLockedError(dir, pid ?? (await readHolder(join(path, LOCK_FILE)))?.pid);
    }
  }
}

/** The PID the holder of an abstract lock answers with, or undefined. */
function askHolder(name: string): Promise<number | undefined> {
  return new Promise((done) => {
    let text = '';
    const conn = connect({ path: name });
    const timer = setTimeout(() => conn.destroy(), ASK_TIMEOUT_MS);
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      text += chunk;
    });
    conn.on('error', () => undefined);
    conn.on('close', () => {
      clearTimeout(timer);
      try {
        const pid = (JSON.parse(text) as { pid?: unknown }).pid;
        done(typeof pid === 'number' && Number.isSafeInteger(pid) ? pid : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done) => server.close(() => done()));
}

function currentProcess(): Holder {
  const holder: Holder = { pid: process.pid };
  const start = linuxStartTicks(process.pid);
  if (start !== undefined) holder.startTicks = start;
  const boot = linuxBootId();
  if (boot !== undefined) holder.bootId = boot;
  return holder;
}

function linuxStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function linuxBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** True while the process the holder describes runs (not another one that got its PID). */
export function isProcessAlive(holder: Holder): boolean {
  if (holder.bootId !== undefined && linuxBootId() !== undefined && holder.bootId !== linuxBootId()) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.startTicks !== undefined) {
    const now = linuxStartTicks(holder.pid);
    if (now !== undefined && now !== holder.startTicks) return false;
  }
  return true;
}

async function readHolder(file: string): Promise<Holder | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid !== 'number' || !Number.isSafeInteger(h.pid) || h.pid <= 0) return undefined;
    return {
      pid: h.pid,
      ...(typeof h.startTicks === 'string' ? { startTicks: h.startTicks } : {}),
      ...(typeof h.bootId === 'string' ? { bootId: h.bootId } : {}),
    };
  } catch {
    return undefined; // torn by a crash while being written: nobody holds it
  }
}

async function writeHolderAtomically(file: string, self: Holder): Promise<void> {
  const tmp = `${file}.${self.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(self)}\n`);
  await rename(tmp, file);
}

/**
 * The portable lock: the holder file appears complete or not at all (written aside, then
 * hard-linked into place, which fails if the name exists); a dead holder's file is replaced.
 * Two processes replacing the same stale file at the same instant can both win: the
 * Linux lock has no such window, this one is the fallback.
 */
async function createHolderExclusively(file: string, self: Holder, dir: string, isAlive: (h: Holder) => boolean): Promise<void> {
  const liveHolder = async (): Promise<Holder | undefined> => {
    const other = await readHolder(file);
    return other && other.pid !== self.pid && isAlive(other) ? other : undefined;
  };
  // Checked before writing anything, so a refused process leaves the directory as it was.
  const holder = await liveHolder();
  if (holder) throw new DataDirLockedError(dir, holder.pid);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${self.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(self)}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const other = await liveHolder();
      if (other) throw new DataDirLockedError(dir, other.pid);
      await rm(file, { force: true });
    }
    throw new DataDirLockedError(dir, (await readHolder(file))?.pid);
  } finally {
    await rm(tmp, { force: true });
  }
}
