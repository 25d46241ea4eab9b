// Leases end to end: etcdctl's lease commands against raftkv and etcd, expiry, keepalive.
import { credentials } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@raftkv/testkit';
import { etcdctl, normaliseEtcdctl, removeDir, startRaftkv, type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds; fails after a generous deadline (a wait on an event, not a timing assertion). */
async function until(what: string, done: () => boolean | Promise<boolean>, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in ${limitMs} ms`);
    await sleep(50);
  }
}

describe('leases', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  beforeAll(async () => {
    pair = await startPair();
    ({ etcd, raftkv } = pair);
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  /** Runs etcdctl with `LEASE` standing for this server's lease ID; IDs normalised in output. */
  async function session(endpoint: string) {
    const out: Array<{ code: number | null; text: string }> = [];
    let lease = '';
    const run = async (...args: string[]) => {
      const r = await etcdctl(endpoint, args.map((a) => a.replace('LEASE', lease)));
      const text = normaliseEtcdctl(r.stdout + r.stderr, endpoint)
        .replace(/remaining\(\d+s\)/g, 'remaining(Ns)') // a second may tick between the two servers
        // etcd lists attached keys in Go map order, which is random
        .replace(/attached keys\(\[([^\]]*)\]\)/g, (_m, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`);
      out.push({ code: r.code, text: lease ? text.split(lease).join('LEASE') : text });
      return r.stdout;
    };
    const granted = await run('lease', 'grant', '600');
    lease = /lease ([0-9a-f]+) granted/.exec(granted)?.[1] ?? 'none';
    out[0]!.text = out[0]!.text.split(lease).join('LEASE');
    await run('put', 'svc/a', '1', '--lease=LEASE');
    await run('put', 'svc/b', '2', '--lease=LEASE');
    await run('put', 'svc/c', '3');
    await run('lease', 'timetolive', 'LEASE', '--keys');
    await run('lease', 'list');
    await run('put', 'svc/b', 'detached');
    await run('lease', 'timetolive', 'LEASE', '--keys');
    await run('put', 'nolease', 'x', '--lease=1234abcd');
    await run('lease', 'grant', '9000000001');
    await run('lease', 'revoke', 'LEASE');
    await run('get', 'svc/', '--prefix');
    await run('lease', 'timetolive', 'LEASE');
    await run('lease', 'revoke', 'LEASE');
    await run('lease', 'keep-alive', '--once', 'LEASE');
    await run('lease', 'list');
    return out;
  }

  it('etcdctl lease grant/timetolive/list/revoke/keep-alive print what they print against etcd', async () => {
    const [want, got] = await Promise.all([session(etcd.endpoint), session(raftkv.endpoint)]);
    expect(want).toHaveLength(16);
    if (process.env["RAFTKV_PRINT_TRANSCRIPT"]) console.log(got.map((s) => s.text).join(""));
    for (let i = 0; i < want.length; i++) expect(got[i], `step ${i}`).toEqual(want[i]);
  }, 60_000);

  it('revokes all keys of a lease in one revision: a watcher sees one batch of deletes', async () => {
    const c = connect(raftkv.endpoint);
    const client = new Etcd3({ hosts: `http://${raftkv.endpoint}` });
    const watchClient = new WatchClient(raftkv.endpoint, credentials.createInsecure());
    try {
      const lease = client.lease(60, { autoKeepAlive: false });
      for (const k of ['one/a', 'one/b', 'one/c']) await lease.put(k).value('v');
      const before = Number((await c.status()).header!.revision);
      const responses: etcdserverpb.WatchResponse[] = [];
      const stream = watchClient.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => responses.push(r));
      stream.on('error', () => undefined);
      stream.write({ createRequest: { key: Buffer.from('one/'), rangeEnd: Buffer.from('one0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
      await until('the watch is created', () => responses.some((r) => r.created));
      await lease.revoke();
      // All three deletes arrive; that they came in one response is checked below.
      await until('three delete events', () => responses.reduce((n, r) => n + r.events.length, 0) >= 3);
      stream.end();
      const after = Number((await c.status()).header!.revision);
      expect(after).toBe(before + 1);
      expect(await client.getAll().prefix('one/').keys()).toEqual([]);
      const withEvents = responses.filter((r) => r.events.length > 0);
      expect(withEvents).toHaveLength(1);
      expect(withEvents[0]!.events.map((e) => [e.type, e.kv!.key.toString(), Number(e.kv!.modRevision)]))
        .toEqual([[1, 'one/a', after], [1, 'one/b', after], [1, 'one/c', after]]);
    } finally {
      watchClient.close();
      client.close();
      c.close();
    }
  }, 30_000);

  it('keeps a kept-alive lease and expires it within its TTL once keepalives stop', async () => {
    const client = new Etcd3({ hosts: `http://${raftkv.endpoint}` });
    try {
      const lease = client.lease(2); // the etcd3 client renews every TTL/3
      await lease.put('alive/k').value('v');
      await sleep(4500);
      expect(await client.get('alive/k').string()).toBe('v');
      const id = BigInt(await lease.grant());
      await lease.release(); // stop renewing, do not revoke
      // Its remaining TTL now: it must not go before that, and it must go (a generous deadline,
      // not a timing window: a loaded machine only makes it later).
      const c = connect(raftkv.endpoint);
      const remainingS = Number((await c.leaseTimeToLive(id, false)).TTL);
      c.close();
      const stoppedAt = Date.now();
      expect(remainingS).toBeGreaterThan(0);
      expect(remainingS).toBeLessThanOrEqual(2);
      await until('alive/k expires once keepalives stop', async () => (await client.get('alive/k').string()) === null, 30_000);
      // Seconds are rounded, so one second of slack below the remaining TTL.
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual((remainingS - 1) * 1000);
    } finally {
      client.close();
    }
  }, 30_000);
});

describe('leases across restarts', () => {
  it('keeps live leases and their keys, and expires them after a full TTL of grace', async () => {
    let server = await startRaftkv();
    const dataDir = server.dataDir;
    try {
      let client = new Etcd3({ hosts: `http://${server.endpoint}` });
      const long = client.lease(600, { autoKeepAlive: false });
      await long.put('keep/a').value('1');
      const longId = await long.grant();
      const short = client.lease(3, { autoKeepAlive: false });
      await short.put('short/a').value('2');
      const shortId = await short.grant();
      client.close();
      await server.kill(); // kill -9: the backend may not have committed; the WAL has it all

      server = await startRaftkv({ dataDir });
      const restartedAt = Date.now();
      client = new Etcd3({ hosts: `http://${server.endpoint}` });
      try {
        const leases = (await etcdctl(server.endpoint, ['lease', 'list'])).stdout;
        expect(leases).toContain(BigInt(longId).toString(16));
        expect(leases).toContain(BigInt(shortId).toString(16));
        expect(await client.get('keep/a').string()).toBe('1');
        expect(await client.get('short/a').string()).toBe('2'); // a full TTL again after a restart
        await until('short/a expires after its TTL', async () => (await client.get('short/a').string()) === null, 30_000);
        // Not before a full TTL (3 s, less a rounding margin) after the restart.
        expect(Date.now() - restartedAt).toBeGreaterThan(2500);
        expect(await client.get('keep/a').string()).toBe('1');
        const ttl = (await etcdctl(server.endpoint, ['lease', 'timetolive', BigInt(longId).toString(16), '--keys'])).stdout;
        expect(ttl).toContain('attached keys([keep/a])');
      } finally {
        client.close();
      }
    } finally {
      await server.stop();
      removeDir(dataDir);
    }
  }, 60_000);
});

describe('lease checkpoints', () => {
  it('persist the remaining TTL through the log, so a restart does not give a lease its full TTL back', async () => {
    const env = { RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS: '500' };
    let server = await startRaftkv({ env });
    const dataDir = server.dataDir;
    try {
      const c = connect(server.endpoint);
      const id = (await c.leaseGrant(0n, 20n)).ID.toString(16);
      c.close();
      await sleep(4000); // several checkpoint rounds: the remaining TTL (~16 s) is in the log
      const remainingOf = async (): Promise<number> =>
        Number(/remaining\((\d+)s\)/.exec((await etcdctl(server.endpoint, ['lease', 'timetolive', id])).stdout)?.[1]);
      const beforeKill = await remainingOf();
      const killedAt = Date.now();
      await server.kill();
      server = await startRaftkv({ dataDir, env });
      const ttl = (await etcdctl(server.endpoint, ['lease', 'timetolive', id])).stdout;
      const remaining = Number(/remaining\((\d+)s\)/.exec(ttl)?.[1]);
      const downS = Math.ceil((Date.now() - killedAt) / 1000);
      expect(ttl).toContain('granted with TTL(20s)');
      // Without checkpoints a restart would give it its full 20 s (plus the election grace).
      expect(beforeKill).toBeLessThanOrEqual(17);
      expect(remaining).toBeLessThanOrEqual(18);
      // ...and with them it loses no more than the time it was down (a loaded machine only
      // lowers this bound), rounding and at most one checkpoint interval aside.
      expect(remaining).toBeGreaterThanOrEqual(beforeKill - downS - 2);
    } finally {
      await server.stop();
      removeDir(dataDir);
    }
  }, 60_000);
});
