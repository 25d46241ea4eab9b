// The reference etcd 3.4: the one helper every package's differential and wire tests use.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary } from './binaries.js';
import { startServer, type ServerProcess, type StartOptions } from './server-process.js';

export interface EtcdStartOptions extends StartOptions {
  /** `--name`; default etcd's ("default"). */
  name?: string;
  /** `--heartbeat-interval` in ms; default etcd's. */
  heartbeatMs?: number;
  /** `--election-timeout` in ms; default etcd's. */
  electionMs?: number;
}

/**
 * Starts a one-member etcd from PATH on loopback ports with its own data dir; resolves once it
 * serves clients (etcd prints the ready line after it elected itself). Throws when etcd is
 * missing: these tests are the proof of compatibility, so they never pass by being skipped.
 *
 * @example
 * const etcd = await startEtcd();
 * try { await etcdctl(etcd.endpoint, ['put', 'k', 'v']); } finally { await etcd.stop(); removeDir(etcd.dataDir); }
 */
export function startEtcd(opts: EtcdStartOptions = {}): Promise<ServerProcess> {
  const etcd = requireBinary('etcd');
  return startServer({
    label: 'etcd',
    command: etcd,
    dataDirPrefix: 'etcd-ref-',
    args: (client, peer, dataDir) => {
      const clientUrl = `http://127.0.0.1:${client}`;
      const peerUrl = `http://127.0.0.1:${peer}`;
      const named = opts.name !== undefined;
      return [
        '--data-dir', dataDir, '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        // With a name, the one-member cluster must be spelled out (etcd's default names "default").
        ...(named ? ['--name', opts.name!, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `${opts.name}=${peerUrl}`] : []),
        ...(opts.heartbeatMs !== undefined ? ['--heartbeat-interval', String(opts.heartbeatMs)] : []),
        ...(opts.electionMs !== undefined ? ['--election-timeout', String(opts.electionMs)] : []),
        ...(opts.args ?? []),
      ];
    },
  }, opts);
}

/**
 * POSTs `body` to etcd's HTTP/JSON gateway at `/v3/<path>` and returns the parsed JSON (errors
 * come back as `{ error, code }`).
 */
export async function gatewayCall(clientUrl: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${clientUrl}/v3/${path}`, { method: 'POST', body: JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown>;
}

/** `etcdctl endpoint hashkv --rev` (the gateway cannot reach HashKV: it shares Hash's path). */
export async function etcdHashKV(endpoint: string, revision: number): Promise<{ hash: number; compactRevision: number; revision: number }> {
  const { stdout } = await promisify(execFile)(requireBinary('etcdctl'),
    ['--endpoints', endpoint, 'endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'],
    { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 });
  const [first] = JSON.parse(stdout) as Array<{ HashKV: { header: { revision: number }; hash: number; compact_revision: number } }>;
  return { hash: first!.HashKV.hash, compactRevision: first!.HashKV.compact_revision, revision: first!.HashKV.header.revision };
}

/** Runs `etcdctl <args>` synchronously; `ok` with stdout, or not with etcdctl's stderr. */
export function etcdctlSync(endpoint: string, args: string[]): { ok: true; out: string } | { ok: false; err: string } {
  try {
    const out = execFileSync(requireBinary('etcdctl'), [`--endpoints=${endpoint}`, '--command-timeout=10s', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 30_000,
    });
    return { ok: true, out };
  } catch (err) {
    return { ok: false, err: String((err as { stderr?: string }).stderr ?? err) };
  }
}
