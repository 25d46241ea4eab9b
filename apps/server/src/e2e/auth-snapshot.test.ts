// The auth store travels in raft snapshots: a follower that was down while users, roles and
// `auth enable` were applied, and so far behind that the leader no longer has those entries,
// gets them in the leader's snapshot and enforces them at once (and after a restart). And auth
// changes survive a kill -9 right after they were acknowledged.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient } from '@raftkv/api';
import { etcdctl, putRequest, removeDir, startCluster, startRaftkv, type Cluster } from '@raftkv/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const SNAPSHOT_COUNT = 100;
/** raftkv keeps 5,000 entries behind a snapshot for slow followers (as etcd): miss more than that. */
const WRITES = 5_000 + 4 * SNAPSHOT_COUNT;

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

describe('auth in raft snapshots', () => {
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.close();
  });

  it('a follower caught up by snapshot has the users, roles and enabled flag, and enforces them', async () => {
    cluster = await startCluster('raftkv', { size: 3, snapshotCount: SNAPSHOT_COUNT, args: ['--bcrypt-cost', '4'] });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    await follower.stop();
    for (const args of [
      ['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['user', 'add', 'app:apppw'],
      ['role', 'add', 'app'], ['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'], ['user', 'grant-role', 'app', 'app'],
      ['auth', 'enable'],
    ]) expect((await etcdctl(leader.endpoint, args)).code).toBe(0);

    // Enough writes (as root, auth is on) that the entries above are compacted out of the leader's log.
    const auth = new AuthClient(leader.endpoint, credentials.createInsecure());
    const { token } = await unary<{ token: string }>((cb) => auth.authenticate({ name: 'root', password: 'rootpw' }, cb));
    auth.close();
    const md = new Metadata();
    md.set('token', token);
    const kvs = Array.from({ length: 4 }, () => new KVClient(leader.endpoint, credentials.createInsecure()));
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async (_, w) => {
      while (next < WRITES) {
        const i = next++;
        await unary((cb) => kvs[w % kvs.length]!.put(putRequest({ key: Buffer.from(`bulk/${i}`), value: Buffer.from('v') }), md, cb));
      }
    }));
    for (const kv of kvs) kv.close();

    const before = follower.output().length;
    await follower.restart();
    expect(follower.output().slice(before)).toMatch(/restoring the backend from the leader's snapshot/);
    const on = (args: string[]) => etcdctl(follower.endpoint, args).then((r) => r.stdout + r.stderr);
    const check = async () => {
      expect(await on(['--user', 'app:apppw', 'put', 'app/x', 'y'])).toBe('OK\n');
      expect(await on(['--user', 'app:apppw', 'put', 'other', 'y'])).toContain('Error: etcdserver: permission denied');
      expect(await on(['get', 'app/x'])).toContain('Error: etcdserver: user name is empty');
      expect(await on(['--user', 'root:rootpw', 'user', 'list'])).toBe('app\nroot\n');
      expect(await on(['--user', 'root:rootpw', 'role', 'get', 'app'])).toBe('Role app\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n\t[app/, app0) (prefix app/)\n');
    };
    await check();
    // And from its own backend after a restart.
    await follower.stop();
    await follower.restart();
    await check();
  }, 180_000);

  it('auth changes acknowledged right before a kill -9 survive it (replayed from the WAL when the backend had not committed them)', async () => {
    const first = await startRaftkv({ args: ['--bcrypt-cost', '4'] });
    const dataDir = first.dataDir;
    try {
      for (const args of [['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['role', 'add', 'r'], ['auth', 'enable']]) {
        expect((await etcdctl(first.endpoint, args)).code).toBe(0);
      }
      await first.kill();
      const again = await startRaftkv({ dataDir, args: ['--bcrypt-cost', '4'] });
      try {
        expect((await etcdctl(again.endpoint, ['get', 'k'])).stderr).toContain('etcdserver: user name is empty');
        expect((await etcdctl(again.endpoint, ['--user', 'root:rootpw', 'role', 'list'])).stdout).toBe('r\n');
      } finally {
        await again.stop();
      }
    } finally {
      removeDir(dataDir);
    }
  }, 60_000);
});
