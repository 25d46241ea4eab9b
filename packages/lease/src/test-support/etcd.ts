import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Real etcd 3.4 on loopback, driven with the real etcdctl, for differential tests. */
export interface RealEtcd {
  /** Runs `etcdctl <args>`; resolves to stdout, or rejects with etcdctl's stderr. */
  ctl(...args: string[]): { ok: true; out: string } | { ok: false; err: string };
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts etcd with the given raft timing. Throws when etcd or etcdctl is missing: a
 * differential test must never pass by not running (CI installs both, see
 * scripts/ensure-reference-etcd.sh).
 */
export async function startEtcd(opts: { heartbeatMs: number; electionMs: number }): Promise<RealEtcd> {
  for (const [bin, arg] of [
    ['etcd', '--version'],
    ['etcdctl', 'version'],
  ] as const) {
    try {
      execFileSync(bin, [arg], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    } catch (err) {
      throw new Error(`${bin} 3.4 is needed on PATH (Debian: apt-get install -y etcd-server etcd-client): ${String(err)}`);
    }
  }
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'raftkv-lease-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    'etcd',
    [
      '--name=lease',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=lease=${peer}`,
      `--heartbeat-interval=${opts.heartbeatMs}`,
      `--election-timeout=${opts.electionMs}`,
      '--logger=zap',
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  const ctl: RealEtcd['ctl'] = (...args) => {
    try {
      const out = execFileSync('etcdctl', [`--endpoints=127.0.0.1:${clientPort}`, '--command-timeout=10s', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return { ok: true, out };
    } catch (err) {
      return { ok: false, err: String((err as { stderr?: string }).stderr ?? err) };
    }
  };
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  // Readiness: bounded polling of a real process (not a timed assertion).
  for (let i = 0; i < 100; i++) {
    if (ctl('endpoint', 'health').ok) return { ctl, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  stop();
  throw new Error('etcd did not become healthy');
}
