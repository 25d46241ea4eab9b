// The HTTP/JSON gateway on a three-member raftkv cluster: a follower's gateway serves writes
// (forwarded to the leader by its gRPC server), linearizable reads, leases and keep-alives; a
// watch on one member's gateway sees writes made through another's; every member lists all three.
import http from 'node:http';
import { startCluster, type Cluster, type ClusterMember } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(m: ClusterMember, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${m.clientUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('gateway on a three-member raftkv cluster', () => {
  let cluster: Cluster;
  let leader: ClusterMember;
  let followers: ClusterMember[];

  beforeAll(async () => {
    cluster = await startCluster('raftkv');
    leader = await cluster.waitForLeader();
    followers = cluster.members.filter((m) => m !== leader);
  }, 90_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('a follower\'s gateway takes writes and serves linearizable reads of them', async () => {
    const put = await post(followers[0]!, '/v3/kv/put', { key: b64('via-follower'), value: b64('1') });
    expect(put.status).toBe(200);
    const revision = (put.json['header'] as { revision: string }).revision;
    const got = await post(followers[1]!, '/v3/kv/range', { key: b64('via-follower') });
    expect(got.status).toBe(200);
    expect(got.json['kvs']).toEqual([{ key: b64('via-follower'), create_revision: revision, mod_revision: revision, version: '1', value: b64('1') }]);
    const txn = await post(followers[0]!, '/v3/kv/txn', {
      compare: [{ key: b64('via-follower'), target: 'VALUE', value: b64('1') }], success: [{ request_put: { key: b64('via-follower'), value: b64('2') } }],
    });
    expect(txn.json['succeeded']).toBe(true);
  });

  it('a watch on a follower\'s gateway sees a write made through the leader\'s', async () => {
    const lines: string[] = [];
    let created!: () => void;
    let evented!: () => void;
    const isCreated = new Promise<void>((resolve) => { created = resolve; });
    const sawEvent = new Promise<void>((resolve) => { evented = resolve; });
    const req = http.request(new URL('/v3/watch', followers[1]!.clientUrl), { method: 'POST' }, (res) => {
      let pending = '';
      res.on('data', (c: Buffer) => {
        pending += c.toString();
        const parts = pending.split('\n');
        pending = parts.pop()!;
        for (const l of parts) {
          lines.push(l);
          if (l.includes('"created":true')) created();
          if (l.includes('"events"')) evented();
        }
      });
    });
    req.end(JSON.stringify({ create_request: { key: b64('watched') } }));
    await isCreated;
    await post(leader, '/v3/kv/put', { key: b64('watched'), value: b64('x') });
    await sawEvent;
    req.destroy();
    const event = JSON.parse(lines.find((l) => l.includes('"events"'))!) as { result: { events: Array<{ kv: { key: string; value: string } }> } };
    expect(event.result.events[0]!.kv).toMatchObject({ key: b64('watched'), value: b64('x') });
  });

  it('leases through a follower: grant, keepalive, timetolive', async () => {
    const grant = await post(followers[0]!, '/v3/lease/grant', { TTL: 30 });
    const id = grant.json['ID'] as string;
    expect(grant.json['TTL']).toBe('30');
    const res = await fetch(`${followers[1]!.clientUrl}/v3/lease/keepalive`, { method: 'POST', body: JSON.stringify({ ID: id }) });
    const lines = (await res.text()).split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).result).toMatchObject({ ID: id, TTL: '30' });
    const ttl = await post(followers[0]!, '/v3/lease/timetolive', { ID: id });
    expect(ttl.json['grantedTTL']).toBe('30');
  });

  it('every member\'s gateway lists the three members', async () => {
    for (const m of cluster.members) {
      const list = await post(m, '/v3/cluster/member/list', {});
      expect((list.json['members'] as Array<{ name: string }>).map((x) => x.name).sort()).toEqual(cluster.members.map((x) => x.name).sort());
    }
  });
});
