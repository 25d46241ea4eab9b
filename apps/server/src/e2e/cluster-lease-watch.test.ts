// Leases and watches on a 3-member raftkv: keepalives and TTL queries through followers reach
// the leader's lessor, only the leader expires leases (and a new one takes over after a kill -9),
// and every member streams the same watch events.
import { credentials } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ClusterMember } from '@raftkv/testkit';
import { connect, eventually, type EtcdClient } from '@raftkv/testkit';

/** A keepalive stream sending one request every `everyMs` until stopped; counts TTL answers. */
function keepAlive(client: EtcdClient, id: bigint, everyMs: number) {
  const stream = client.lease.leaseKeepAlive();
  const ttls: bigint[] = [];
  stream.on('data', (r: etcdserverpb.LeaseKeepAliveResponse) => ttls.push(r.TTL));
  stream.on('error', () => undefined);
  const timer = setInterval(() => stream.write({ ID: id }), everyMs);
  stream.write({ ID: id });
  return { ttls, stop: () => { clearInterval(timer); stream.end(); } };
}

describe('a 3-member raftkv: leases and watches', () => {
  let cluster: Cluster;
  const clients = new Map<ClusterMember, EtcdClient>();
  const client = (m: ClusterMember) => {
    let c = clients.get(m);
    if (!c) clients.set(m, (c = connect(m.endpoint)));
    return c;
  };
  let leader: ClusterMember;
  let followers: ClusterMember[];

  beforeAll(async () => {
    cluster = await startCluster('raftkv', { size: 3 });
    leader = await cluster.waitForLeader();
    followers = cluster.members.filter((m) => m !== leader);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await cluster?.close();
  });

  it('keeps a lease alive through a follower and answers its TTL from the leader', async () => {
    const [f1, f2] = followers as [ClusterMember, ClusterMember];
    const granted = await client(f1).leaseGrant(0n, 2n);
    expect(granted.TTL).toBe(2n);
    await client(f2).put({ key: Buffer.from('svc/a'), value: Buffer.from('1'), lease: granted.ID });
    const ka = keepAlive(client(f1), granted.ID, 500);
    // Eight renewals answered, one sent every 500 ms: the lease has lived well past its 2 s TTL.
    await eventually('8 keepalive answers', async () => (ka.ttls.length >= 8 ? true : undefined), 30_000);
    const ttl = await client(f2).leaseTimeToLive(granted.ID, true);
    expect(ttl.grantedTTL).toBe(2n);
    expect(ttl.TTL).toBeGreaterThan(0n);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['svc/a']);
    expect(ka.ttls.every((t) => t === 2n)).toBe(true);
    ka.stop();
    // Without keepalives the leader revokes it, and the revoke reaches every member.
    for (const m of cluster.members) {
      await eventually(`svc/a gone on ${m.name}`, async () => {
        const r = await client(m).range({ key: Buffer.from('svc/a'), serializable: true });
        return r.kvs.length === 0 ? true : undefined;
      });
    }
    const gone = await client(f1).leaseTimeToLive(granted.ID, false);
    expect(gone.TTL).toBe(-1n);
    const once = await client(f2).leaseKeepAliveOnce(granted.ID);
    expect(once.TTL).toBe(0n);
  }, 30_000);

  it('a new leader takes over lease expiry after the old one is killed', async () => {
    const survivor = followers[0]!;
    const kept = await client(survivor).leaseGrant(0n, 3n);
    const dropped = await client(survivor).leaseGrant(0n, 3n);
    await client(survivor).put({ key: Buffer.from('svc/kept'), value: Buffer.from('k'), lease: kept.ID });
    await client(survivor).put({ key: Buffer.from('svc/dropped'), value: Buffer.from('d'), lease: dropped.ID });
    const ka = keepAlive(client(survivor), kept.ID, 500);
    clients.get(leader)?.close();
    clients.delete(leader);
    await leader.kill();
    const newLeader = await cluster.waitForLeader(15_000);
    expect(newLeader).not.toBe(leader);
    await eventually('svc/dropped revoked by the new leader', async () => {
      const r = await client(survivor).range({ key: Buffer.from('svc/dropped') });
      return r.kvs.length === 0 ? true : undefined;
    });
    const still = await client(survivor).range({ key: Buffer.from('svc/kept') });
    expect(still.kvs.map((kv) => kv.value.toString())).toEqual(['k']);
    // The kept lease stays renewed while the old leader restarts and catches up.
    await leader.restart();
    const restarted = connect(leader.endpoint);
    try {
      await eventually('the restarted member applied the revoke of svc/dropped', async () => {
        const r = await restarted.range({ key: Buffer.from('svc/dropped'), serializable: true });
        return r.kvs.length === 0 ? true : undefined;
      });
      // ...and revoked nothing it should keep: the kept lease's key is there, on it and on the
      // cluster, and the lease itself is alive.
      const mine = await restarted.range({ key: Buffer.from('svc/kept'), serializable: true });
      expect(mine.kvs.map((kv) => `${kv.value.toString()}@lease ${kv.lease}`)).toEqual([`k@lease ${kept.ID}`]);
      const theirs = await client(survivor).range({ key: Buffer.from('svc/kept') });
      expect(theirs.kvs.map((kv) => kv.value.toString())).toEqual(['k']);
      expect((await restarted.leaseTimeToLive(kept.ID, false)).TTL).toBeGreaterThan(0n);
    } finally {
      restarted.close();
      ka.stop();
    }
  }, 60_000);

  it('every member streams the same events for writes made through different members', async () => {
    const start = (await client(cluster.members[0]!).range({ key: Buffer.from('w/') })).header!.revision + 1n;
    const streams = cluster.members.map((m) => {
      const w = new WatchClient(m.endpoint, credentials.createInsecure());
      const call = w.watch();
      const events: string[] = [];
      call.on('data', (r: etcdserverpb.WatchResponse) => {
        for (const e of r.events) events.push(`${e.type}:${e.kv!.key.toString()}=${e.kv!.value.toString()}@${e.kv!.modRevision}`);
      });
      call.on('error', () => undefined);
      call.write({
        createRequest: {
          key: Buffer.from('w/'), rangeEnd: Buffer.from('w0'), startRevision: start, progressNotify: false, filters: [],
          prevKv: false, watchId: 0n, fragment: false,
        },
      });
      return { w, call, events };
    });
    // Rounds of concurrent puts through every member, then deletes of keys the round wrote.
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 9 }, (_, j) => {
        const i = round * 10 + j;
        const m = cluster.members[i % cluster.members.length]!;
        return client(m).put({ key: Buffer.from(`w/${i}`), value: Buffer.from(`v${i}`) });
      }));
      const m = cluster.members[round % cluster.members.length]!;
      await client(m).deleteRange({ key: Buffer.from(`w/${round * 10 + 8}`) });
    }
    await eventually('all watchers saw 60 events', async () => (streams.every((s) => s.events.length >= 60) ? true : undefined));
    for (const s of streams) {
      s.call.end();
      s.w.close();
    }
    expect(streams[0]!.events).toHaveLength(60);
    expect(streams[1]!.events).toEqual(streams[0]!.events);
    expect(streams[2]!.events).toEqual(streams[0]!.events);
  }, 30_000);
});
