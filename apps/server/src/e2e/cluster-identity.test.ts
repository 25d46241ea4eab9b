// Who belongs to a cluster: a member bootstrapped for another cluster (another token, so another
// cluster ID) that points at a member of this one is refused by it, never becomes ready, and
// the cluster goes on as if it were not there. A member started with
// `--initial-cluster-state existing` that was never added is refused with a clear error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '@raftkv/testkit';
import { connect } from '@raftkv/testkit';
import { freePort, raftkvBinary, removeDir, spawnTracked, tempDir } from '@raftkv/testkit';

/** Runs raftkv with `args` for at most `ms`; returns its output and exit code (null if it was still running). */
async function runFor(args: string[], ms: number): Promise<{ code: number | null; output: string }> {
  const child = spawnTracked(process.execPath, [raftkvBinary(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), ms))]);
  if (code === 'running') {
    child.kill('SIGKILL');
    await exited;
    return { code: null, output };
  }
  return { code, output };
}

describe('cluster identity', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster('raftkv', { size: 3 });
    await cluster.waitForLeader();
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('refuses a member of another cluster that dials one of its members', async () => {
    const target = cluster.members[0]!;
    const before = (await connect(target.endpoint).memberList()).members.map((m) => m.ID).sort();
    const [client, peer] = [await freePort(), await freePort()];
    const dir = tempDir('raftkv-intruder-');
    const intruder = await runFor([
      '--name', 'x', '--data-dir', dir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      // Same member URL as the cluster's m0, another token: another cluster ID.
      '--initial-cluster', `x=http://127.0.0.1:${peer},${target.name}=${target.peerUrl}`,
      '--initial-cluster-token', 'another-cluster',
      '--heartbeat-interval', '50', '--election-timeout', '500',
    ], 4000);
    removeDir(dir);
    expect(intruder.code, 'the intruder never gets a quorum, so it keeps waiting').toBeNull();
    expect(intruder.output).not.toContain('ready to serve client requests');
    expect(target.output()).toContain('raftkv: cluster ID mismatch');
    // The cluster did not notice, beyond refusing it.
    const c = connect(target.endpoint);
    await c.put({ key: Buffer.from('still'), value: Buffer.from('here') });
    expect((await c.memberList()).members.map((m) => m.ID).sort()).toEqual(before);
    c.close();
  }, 30_000);

  it('refuses to join as an existing member that was never added', async () => {
    const [client, peer] = [await freePort(), await freePort()];
    const dir = tempDir('raftkv-unadded-');
    const initial = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).concat(`y=http://127.0.0.1:${peer}`).join(',');
    const r = await runFor([
      '--name', 'y', '--data-dir', dir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'existing',
    ], 15_000);
    removeDir(dir);
    expect(r.code).not.toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('are not in the cluster\'s member list');
  }, 30_000);
});
