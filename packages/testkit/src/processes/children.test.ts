// Process hygiene: every process a test starts dies with the test, whatever happens to it.
// Fake servers (small node scripts) stand in for etcd and raftkv, so each case is exact.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster } from '../cluster.js';
import { removeDir, tempDir } from './binaries.js';
import { launch, liveChildPids, StartError, terminate } from './children.js';
import { startPair } from './pair.js';
import { startServer } from './server-process.js';

const dir = tempDir('testkit-children-');
afterAll(() => removeDir(dir));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

/** Alive and not a zombie (a killed child whose parent is gone may linger unreaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; fails after a generous deadline (not a timing assertion). */
async function gone(pid: number, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (alive(pid)) {
    if (Date.now() > until) throw new Error(`pid ${pid} still alive after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const READY = 'console.log("ready to serve client requests");';
const FOREVER = 'setInterval(() => {}, 1000);';

describe('process hygiene', () => {
  it('a start that times out kills its child', async () => {
    const silent = script('silent.mjs', FOREVER);
    let pid = 0;
    const start = launch(process.execPath, [silent], {
      readyLine: /ready to serve/, readyTimeoutMs: 500, onSpawn: (c) => { pid = c.pid; },
    });
    await expect(start).rejects.toThrow(/not ready in 500 ms/);
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
    expect(liveChildPids()).not.toContain(pid);
  });

  it('stop() escalates from SIGTERM to SIGKILL when the process ignores SIGTERM', async () => {
    const stubborn = script('stubborn.mjs', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); ${READY} ${FOREVER}`);
    const child = await launch(process.execPath, [stubborn], { readyLine: /ready to serve/, readyTimeoutMs: 10_000 });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    await terminate(child, 500);
    expect(out).toContain('ignoring SIGTERM');
    expect(child.signalCode).toBe('SIGKILL');
    expect(alive(child.pid!)).toBe(false);
  });

  it('stop() is a plain SIGTERM for a process that honours it', async () => {
    const polite = script('polite.mjs', `${READY} ${FOREVER}`);
    const child = await launch(process.execPath, [polite], { readyLine: /ready to serve/, readyTimeoutMs: 10_000 });
    await terminate(child);
    expect(child.signalCode).toBe('SIGTERM');
  });

  it('a start that lost a port race (EADDRINUSE) is retried on fresh ports', async () => {
    // The first attempt fails as a server whose port was taken does; the next one serves.
    const attempts = join(dir, 'attempts');
    writeFileSync(attempts, '');
    const racer = script('racer.mjs', `
      import { appendFileSync, readFileSync } from 'node:fs';
      appendFileSync(${JSON.stringify(attempts)}, process.argv[2] + '\\n');
      if (readFileSync(${JSON.stringify(attempts)}, 'utf8').trim().split('\\n').length === 1) {
        console.error('listen tcp 127.0.0.1:' + process.argv[2] + ': bind: address already in use');
        process.exit(1);
      }
      ${READY} ${FOREVER}`);
    const server = await startServer({
      label: 'racer', command: process.execPath, dataDirPrefix: 'testkit-racer-',
      args: (client) => [racer, String(client)],
    }, {});
    try {
      const ports = readFileSync(attempts, 'utf8').trim().split('\n');
      expect(ports).toHaveLength(2);
      expect(ports[0]).not.toBe(ports[1]);
      expect(server.endpoint).toBe(`127.0.0.1:${ports[1]}`);
    } finally {
      await server.kill();
      removeDir(server.dataDir);
    }
  });

  it('a start that fails for another reason is not retried, and leaves no process', async () => {
    const broken = script('broken.mjs', 'console.error("bad flag"); process.exit(2);');
    const before = liveChildPids();
    const start = startServer({ label: 'broken', command: process.execPath, dataDirPrefix: 'testkit-broken-', args: () => [broken] }, {});
    await expect(start).rejects.toSatisfy((e: unknown) => e instanceof StartError && !e.addressInUse && /exited \(2\)[\s\S]*bad flag/.test(e.message));
    expect(liveChildPids()).toEqual(before);
  });

  it('a pair whose second half fails to start stops the half that started', async () => {
    // etcd starts; raftkv (a binary that does not exist) cannot: the etcd must not be left running.
    const before = liveChildPids();
    const etcdPids: number[] = [];
    const watcher = setInterval(() => { for (const p of liveChildPids()) if (!before.includes(p) && !etcdPids.includes(p)) etcdPids.push(p); }, 20);
    try {
      await expect(startPair({ raftkvBin: join(dir, 'no-such-raftkv') })).rejects.toThrow(/exited/);
    } finally {
      clearInterval(watcher);
    }
    expect(liveChildPids()).toEqual(before);
    for (const pid of etcdPids) await gone(pid);
  });

  it('a cluster start where one member fails kills the members that started', async () => {
    // A stand-in for the raftkv binary: members m0 and m1 serve, m2 fails after they are up.
    const fake = script('fake-raftkv.mjs', `
      const name = process.argv[process.argv.indexOf('--name') + 1];
      if (name === 'm2') setTimeout(() => { console.error('m2: cannot start'); process.exit(1); }, 300);
      else { ${READY} ${FOREVER} }`);
    const spawned: number[] = [];
    const before = liveChildPids();
    const watcher = setInterval(() => { for (const p of liveChildPids()) if (!before.includes(p) && !spawned.includes(p)) spawned.push(p); }, 10);
    try {
      await expect(startCluster('raftkv', { size: 3, raftkvBin: fake })).rejects.toThrow(/m2 exited/);
    } finally {
      clearInterval(watcher);
    }
    expect(spawned.length).toBeGreaterThanOrEqual(2);
    expect(liveChildPids()).toEqual(before);
    for (const pid of spawned) await gone(pid);
  });

  describe('children die with the test worker', () => {
    // A stand-in worker: it imports testkit's built module (turbo builds a package before its
    // tests), starts a long-lived child, prints its pid, then ends as the case says.
    const childrenJs = fileURLToPath(new URL('../../dist/processes/children.js', import.meta.url));
    const worker = script('worker.mjs', `
      import { spawnTracked } from ${JSON.stringify(childrenJs)};
      const child = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log('child ' + child.pid);
      if (process.argv[2] === 'exit') setTimeout(() => process.exit(0), 100);
      if (process.argv[2] === 'throw') setTimeout(() => { throw new Error('the test failed'); }, 100);
      setInterval(() => {}, 1000);`);

    async function runWorker(how: 'exit' | 'throw' | 'sigkill'): Promise<number> {
      const w = spawn(process.execPath, [worker, how], { stdio: ['ignore', 'pipe', 'ignore'] });
      const exited = new Promise((resolve) => w.once('exit', resolve));
      const childPid = await new Promise<number>((resolve, reject) => {
        let out = '';
        w.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /child (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        w.once('exit', () => reject(new Error(`worker exited before it started its child: ${out}`)));
      });
      expect(alive(childPid)).toBe(true);
      if (how === 'sigkill') w.kill('SIGKILL');
      await exited;
      return childPid;
    }

    it('when the worker exits', async () => {
      await gone(await runWorker('exit'));
    });

    it('when the worker dies of an uncaught error', async () => {
      await gone(await runWorker('throw'));
    });

    it('when the worker is SIGKILLed (no exit handler runs: the parent-death signal)', async () => {
      await gone(await runWorker('sigkill'));
    });
  });
});
