import { spawnTracked } from './children.js';
import { requireBinary } from './binaries.js';

export interface CommandResult { code: number | null; stdout: string; stderr: string }

function runEtcdctl(args: string[], input: string | undefined): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(requireBinary('etcdctl'), args, { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // etcdctl may exit before reading its input (EPIPE): its exit code tells what happened.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? '');
  });
}

/** Runs the real etcdctl (v3 API) against an endpoint. */
export function etcdctl(endpoint: string, args: string[], input?: string): Promise<CommandResult> {
  return runEtcdctl(['--endpoints', endpoint, '--command-timeout', '10s', ...args], input);
}

/**
 * Runs a long-lived etcdctl command (such as `watch`) while `during` runs, then stops it with
 * SIGTERM `settleMs` later and returns what it printed.
 */
export async function etcdctlWhile(endpoint: string, args: string[], during: () => Promise<void>,
  opts: { input?: string; settleMs?: number; startMs?: number } = {}): Promise<CommandResult> {
  const child = spawnTracked(requireBinary('etcdctl'), ['--endpoints', endpoint, ...args],
    { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin!.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin!.write(opts.input);
  await new Promise((r) => setTimeout(r, opts.startMs ?? 700));
  await during();
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 700));
  child.kill('SIGTERM');
  const code = await closed;
  return { code, stdout, stderr };
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
