// @raftkv/client on a 3-member cluster of raftkv and of etcd 3.4.23 (same test body): watch
// resumption across a killed member, lease keepalive across a leader change, a lock of a killed
// process released by its lease, one leader among contenders through kill -9, STM under contention.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Mutex, runStm, Session, type Isolation, type WatchEvent } from '@raftkv/client';
import { spawnTracked, startCluster, type Cluster } from '@raftkv/testkit';
import { eventually, KINDS } from './servers.js';

const CONTENDER = fileURLToPath(new URL('./fixtures/contender.mjs', import.meta.url));

interface Contender { child: ChildProcess; out: () => string; exited: Promise<void> }
function contender(mode: 'lock' | 'elect', name: string, id: string, ttl: number, endpoints: string[]): Contender {
  const child = spawnTracked(process.execPath, [CONTENDER, mode, name, id, String(ttl), endpoints.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { child, out: () => out, exited };
}

describe.each(KINDS)('@raftkv/client on a 3-member %s cluster', (kind) => {
  let cluster: Cluster;
  let client: Client;
  beforeAll(async () => {
    cluster = await startCluster(kind, { size: 3 });
    await cluster.waitForLeader();
    client = new Client({ endpoints: cluster.endpoints });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await cluster?.close();
  });

  /** Restarts every member that is down (a test that killed one leaves the cluster whole again). */
  async function heal(): Promise<void> {
    await Promise.all(cluster.members.filter((m) => m.pid === undefined).map((m) => m.restart()));
    await cluster.waitForLeader();
  }

  it('a watch resumes on another member after its member is killed: no event lost or repeated', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const others = cluster.members.filter((m) => m !== follower).map((m) => m.endpoint);
    const watching = new Client({ endpoints: [follower.endpoint, ...others] });
    const writer = new Client({ endpoints: others });
    try {
      const w = watching.watch('wr/', { prefix: true });
      await w.ready;
      expect(watching.endpoints.current).toBe(follower.endpoint);
      const events: WatchEvent[] = [];
      const N = 200;
      const reading = (async () => { for await (const e of w.events()) { events.push(e); if (events.length >= N) return; } })();
      for (let i = 0; i < N; i++) {
        if (i === N / 2) await follower.kill();
        await writer.put(`wr/${String(i).padStart(4, '0')}`, String(i));
      }
      await reading;
      w.close();
      expect(w.reconnects).toBeGreaterThan(0);
      expect(events.map((e) => e.kv.key.toString())).toEqual(Array.from({ length: N }, (_, i) => `wr/${String(i).padStart(4, '0')}`));
      const revs = events.map((e) => e.kv.modRevision);
      for (let i = 1; i < revs.length; i++) expect(revs[i]! > revs[i - 1]!).toBe(true);
    } finally {
      watching.close();
      writer.close();
      await heal();
    }
  });

  it('keeps a lease alive across a leader change', async () => {
    const lease = await client.grant(3);
    await client.put('lk/key', 'v', { lease: lease.id });
    const leader = await cluster.waitForLeader();
    await leader.kill();
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    const renewed = lease.keepAlives;
    // Renewed every second; four renewals after the new leader span more than the 3 s TTL.
    await eventually('renewals under the new leader', async () => (lease.keepAlives >= renewed + 4 ? true : undefined));
    expect(lease.isLost).toBe(false);
    const ttl = await lease.timeToLive({ keys: true });
    expect(ttl.ttl).toBeGreaterThan(0n);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['lk/key']);
    expect((await client.get('lk/key'))?.value.toString()).toBe('v');
    await lease.revoke();
    await heal();
  });

  it('a lock held by a killed process is released when its lease expires', async () => {
    const holder = contender('lock', 'killed', 'p1', 3, cluster.endpoints);
    const line = await eventually('the child holds the lock', async () => /locked (\S+) (\d+)/.exec(holder.out()) ?? undefined);
    const session = await Session.create(client, { ttl: 10 });
    const mutex = new Mutex(session, 'killed');
    let acquired = false;
    const locking = mutex.lock().then(() => { acquired = true; });
    await eventually('we are queued', async () => ((await client.range('killed/', { prefix: true })).count === 2n ? true : undefined));
    expect(acquired).toBe(false);
    holder.child.kill('SIGKILL');
    await holder.exited;
    await locking;
    // The child's key went with its lease; ours owns the lock now.
    expect(await client.get(line[1]!)).toBeUndefined();
    const owner = (await client.range('killed/', { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 })).kvs[0]!;
    expect(owner.key.toString()).toBe(mutex.key.toString());
    const still = await client.txn().if(mutex.isOwner()).commit();
    expect(still.succeeded).toBe(true);
    await mutex.unlock();
    await session.close();
  });

  it('exactly one leader among 4 contenders through kill -9 of each leader in turn', async () => {
    const start = (await client.put('race-start', 'x')).header.revision;
    const contenders = Array.from({ length: 4 }, (_, i) => contender('elect', 'race', `c${i}`, 3, cluster.endpoints));
    const claims: Array<{ key: string; rev: bigint }> = [];
    try {
      for (let round = 0; round < 3; round++) {
        const alive = contenders.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
        const winner = await eventually(`round ${round}: a leader`, async () => {
          const won = alive.filter((c) => /elected/.test(c.out()));
          return won.length > 0 ? won : undefined;
        });
        // Never two live processes that both believe they lead.
        expect(winner).toHaveLength(1);
        const m = /elected (\S+) (\d+)/.exec(winner[0]!.out())!;
        claims.push({ key: m[1]!, rev: BigInt(m[2]!) });
        winner[0]!.child.kill('SIGKILL');
        await winner[0]!.exited;
      }
      await eventually('the last winner', async () => (contenders.filter((c) => c.child.exitCode === null && c.child.signalCode === null && /elected/.test(c.out())).length === 1 ? true : undefined));
    } finally {
      for (const c of contenders) c.child.kill('SIGKILL');
    }
    // From the history: etcd's rule names the leader at each revision (the oldest live key under
    // the prefix). The processes that said they lead are exactly those leaders, in the same order.
    const current = (await client.range('race/', { prefix: true })).header.revision;
    const history = client.watch('race/', { prefix: true, startRevision: start });
    const live = new Map<string, bigint>();
    const leaders: string[] = [];
    for await (const b of history) {
      for (const e of b.events) {
        const key = e.kv.key.toString();
        if (e.type === 'put') { if (!live.has(key)) live.set(key, e.kv.createRevision); } else live.delete(key);
        const oldest = [...live.entries()].sort((x, y) => (x[1] < y[1] ? -1 : 1))[0]?.[0];
        if (oldest !== undefined && oldest !== leaders.at(-1)) leaders.push(oldest);
      }
      if (b.events.at(-1)!.kv.modRevision >= current) break;
    }
    history.close();
    expect(leaders.slice(0, claims.length)).toEqual(claims.map((c) => c.key));
    expect(leaders).toHaveLength(claims.length + 1);
  }, 60_000);

  it.each<Isolation>(['serializable-snapshot', 'serializable', 'repeatable-reads'])('STM (%s) under contention gives serializable results', async (isolation) => {
    const pfx = `stm-${isolation}/`;
    const accounts = 4;
    for (let i = 0; i < accounts; i++) await client.put(`${pfx}acct${i}`, '100');
    await client.put(`${pfx}count`, '0');
    const workers = cluster.members.map((m) => new Client({ endpoints: [m.endpoint] }));
    const perWorker = 12;
    let rounds = 0;
    try {
      await Promise.all(workers.map(async (w, wi) => {
        for (let t = 0; t < perWorker; t++) {
          const from = `${pfx}acct${(wi + t) % accounts}`;
          const to = `${pfx}acct${(wi + t + 1) % accounts}`;
          let first = wi === 0 && t === 0;
          await runStm(w, async (stm) => {
            rounds++;
            const a = Number(await stm.get(from));
            const b = Number(await stm.get(to));
            const n = Number(await stm.get(`${pfx}count`));
            if (first) {
              // A write between this round's reads and its commit (the value kept, a new mod
              // revision): the commit must fail and the round run again.
              first = false;
              await client.put(`${pfx}count`, '', { ignoreValue: true });
            }
            stm.put(from, String(a - 7));
            stm.put(to, String(b + 7));
            stm.put(`${pfx}count`, String(n + 1));
          }, { isolation });
        }
      }));
    } finally {
      for (const w of workers) w.close();
    }
    const kvs = await client.getPrefix(pfx);
    const total = kvs.filter((kv) => kv.key.toString().includes('acct')).reduce((s, kv) => s + Number(kv.value.toString()), 0);
    expect(total).toBe(accounts * 100);
    expect((await client.get(`${pfx}count`))?.value.toString()).toBe(String(workers.length * perWorker));
    // Conflicting rounds ran again (at least the one forced above).
    expect(rounds).toBeGreaterThan(workers.length * perWorker);
  }, 60_000);
});

