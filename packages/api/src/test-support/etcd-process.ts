import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real etcd started for one test file on loopback, with its own temp data dir. */
export interface EtcdProcess {
  /** host:port of the client (gRPC) listener. */
  readonly endpoint: string;
  stop(): void;
  /** Last few KiB of etcd's log, for failure messages. */
  stderrTail(): string;
}

async function freePort(): Promise<number> {
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
 * Starts `etcd` from PATH. Throws a clear error when it is missing: these tests are the
 * proof of wire compatibility, so they must never pass by being skipped.
 */
export async function startEtcd(): Promise<EtcdProcess> {
  const probe = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'etcd is not on PATH: the wire-compatibility tests need real etcd 3.4 ' +
        '(Debian: apt-get install -y etcd-server). ' +
        String(probe.error ?? probe.stderr),
    );
  }
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'raftkv-api-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    'etcd',
    [
      '--name=wire',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=wire=${peer}`,
      '--logger=zap',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    // Keep only the tail: enough to explain a failed start, bounded in memory.
    stderr = (stderr + d.toString()).slice(-8192);
  });
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  child.once('exit', (code) => {
    if (code !== null && code !== 0) stderr += `\netcd exited with ${code}`;
  });
  return { endpoint: `127.0.0.1:${clientPort}`, stop, stderrTail: () => stderr };
}
