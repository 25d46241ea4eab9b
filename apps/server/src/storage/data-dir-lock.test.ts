import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnTracked } from '@raftkv/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, isProcessAlive, LOCK_FILE, lockDataDir, type DataDirLock, type Holder } from './data-dir-lock.js';

const dirs: string[] = [];
const locks: DataDirLock[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftkv-lock-'));
  dirs.push(d);
  return d;
}

async function lock(dir: string, ...rest: Parameters<typeof lockDataDir> extends [string, ...infer R] ? R : never): Promise<DataDirLock> {
  const l = await lockDataDir(dir, ...rest);
  locks.push(l);
  return l;
}

/** Every path under `dir` with its size and modification time: what "touched nothing" compares. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      out.push(`${p} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** A live process that is not this one (a sleeping child). */
function sleeper(): ChildProcess {
  // Tracked: it dies with this worker even if the test fails before its cleanup.
  const child = spawnTracked(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** The PID of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

function writeHolder(dir: string, holder: Holder): void {
  mkdirSync(join(dir, 'member'), { recursive: true });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder));
}

afterEach(async () => {
  for (const l of locks.splice(0)) await l.release();
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const platforms = process.platform === 'linux' ? (['linux', 'other'] as const) : (['other'] as const);

describe.each(platforms)('data dir lock (%s)', (platform) => {
  it('refuses a second holder, naming the data dir and the holder\'s PID, and touches nothing', async () => {
    const dir = join(tempDir(), 'data');
    await lock(dir, { platform });
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toContain(`"pid":${process.pid}`);
    const before = listing(dir);
    // Another process: one with a PID of its own (a process's own PID in the file is stale).
    const err = await lockDataDir(dir, { platform, self: { pid: sleeper().pid! } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).message).toContain(dir);
    expect((err as DataDirLockedError).message).toContain(`pid ${process.pid}`);
    expect((err as DataDirLockedError).pid).toBe(process.pid);
    expect(listing(dir)).toEqual(before);
  });

  it('is free again after release, which removes the lock file', async () => {
    const dir = tempDir();
    const first = await lockDataDir(dir, { platform });
    await first.release();
    await first.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    await lock(dir, { platform });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });

  it('takes over a file naming this very process (a restart that got the same PID, as PID 1 in a container)', async () => {
    const dir = tempDir();
    writeHolder(dir, { pid: process.pid });
    await lock(dir, { platform });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  });

  it('takes over the file of a holder that is gone (a kill -9), at once', async () => {
    const dir = tempDir();
    writeHolder(dir, { pid: await deadPid() });
    await lock(dir, { platform });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  });

  it('takes over a torn lock file (a crash while it was written)', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'member'));
    writeFileSync(join(dir, LOCK_FILE), '{"pid":12');
    await lock(dir, { platform });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  });

  it('refuses when the file names a live process (a holder this lock cannot see otherwise)', async () => {
    const dir = tempDir();
    const other = sleeper();
    writeHolder(dir, { pid: other.pid! });
    const before = listing(dir);
    await expect(lockDataDir(dir, { platform })).rejects.toThrow(`pid ${other.pid}`);
    expect(listing(dir)).toEqual(before);
  });

  it('locks a path through a symlink the same as the real path', async () => {
    const root = tempDir();
    const real = join(root, 'real');
    mkdirSync(real);
    symlinkSync(real, join(root, 'link'));
    await lock(real, { platform });
    await expect(lockDataDir(join(root, 'link'), { platform, self: { pid: sleeper().pid! } })).rejects.toBeInstanceOf(DataDirLockedError);
  });
});

describe.runIf(process.platform === 'linux')('data dir lock (Linux specifics)', () => {
  it('creates a data dir that did not exist only once locked, and knows it again by a relative path', async () => {
    const root = tempDir();
    const dir = join(root, 'a', 'b');
    await lock(dir);
    expect(readdirSync(dir)).toEqual(['member']);
    await expect(lockDataDir(relative(process.cwd(), dir), { self: { pid: sleeper().pid! } })).rejects.toBeInstanceOf(DataDirLockedError);
  });

  it('without a holder file (a --wal-dir): the socket alone refuses a second holder and nothing is written', async () => {
    const dir = tempDir();
    await lock(dir, { holderFile: false });
    await expect(lockDataDir(dir, { holderFile: false })).rejects.toThrow(`pid ${process.pid}`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a holder file whose PID now belongs to another process (other start time or boot) is stale', async () => {
    const other = sleeper();
    const pid = other.pid!;
    const ticks = startTicks(pid);
    expect(isProcessAlive({ pid, startTicks: ticks, bootId: bootId() })).toBe(true);
    expect(isProcessAlive({ pid, startTicks: `${ticks}1`, bootId: bootId() })).toBe(false);
    expect(isProcessAlive({ pid, startTicks: ticks, bootId: 'another-boot' })).toBe(false);
    const dir = tempDir();
    writeHolder(dir, { pid, startTicks: `${ticks}1` });
    await lock(dir);
  });
});
