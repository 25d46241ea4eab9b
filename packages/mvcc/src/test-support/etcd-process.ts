import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const execFileAsync = promisify(execFile);

/** A single-member real etcd on loopback, driven through its HTTP/JSON gateway. */
export interface EtcdProcess {
  /** POSTs `body` to `/v3/<path>`; returns the parsed JSON (errors come back as `{ error, code }`). */
  call(path: string, body: unknown): Promise<Record<string, unknown>>;
  /** `etcdctl endpoint hashkv --rev` (the gateway cannot reach HashKV: it shares Hash's path). */
  hashKV(revision: number): Promise<{ hash: number; compactRevision: number; revision: number }>;
  stop(): Promise<void>;
}

async function tryStart(clientPort: number, peerPort: number): Promise<EtcdProcess | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--data-dir', dir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `default=${peer}`,
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let exited = false;
  proc.on('exit', () => (exited = true));
  proc.on('error', () => (exited = true));
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));

  const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${client}/v3/${path}`, { method: 'POST', body: JSON.stringify(body) });
    return (await res.json()) as Record<string, unknown>;
  };
  const hashKV = async (revision: number): Promise<{ hash: number; compactRevision: number; revision: number }> => {
    const { stdout } = await execFileAsync('etcdctl', ['--endpoints', client, 'endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 10_000,
    });
    const [first] = JSON.parse(stdout) as Array<{ HashKV: { header: { revision: number }; hash: number; compact_revision: number } }>;
    return { hash: first!.HashKV.hash, compactRevision: first!.HashKV.compact_revision, revision: first!.HashKV.header.revision };
  };
  const stop = async (): Promise<void> => {
    if (!exited) {
      const gone = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Bounded wait for the member to serve (about 10 s).
  for (let attempt = 0; attempt < 100 && !exited; attempt++) {
    try {
      const r = await call('kv/range', { key: 'AA==' });
      if (r.header) return { call, hashKV, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  if (!exited) throw new Error(`etcd did not start: ${stderr}`);
  return undefined; // probably a port clash: the caller retries on other ports
}

/** Starts etcd from PATH on random loopback ports (retried a few times on clashes). */
export async function startEtcd(): Promise<EtcdProcess> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 15000) * 2;
    const p = await tryStart(base, base + 1);
    if (p) return p;
  }
  throw new Error('could not start etcd (is etcd 3.4 on PATH? see scripts/ensure-reference-etcd.sh)');
}
