// `hasleader: true` metadata (clientv3.WithRequireLeader, sent by `etcdctl watch` and Kubernetes'
// watches), raftkv beside etcd 3.4.23: on a member that lost its cluster, a call asking for a leader
// is refused with "no leader", and a watch that asked for one is ended after a few election
// timeouts instead of staying silent for the whole partition. Calls without it are untouched.
import { credentials, Metadata, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { etcdserverpb, KVClient, WatchClient } from '@raftkv/api';
import { eventually, putRequest, rangeRequest, startCluster, type Cluster, type ServerKind } from '@raftkv/testkit';
import { afterAll, describe, expect, it } from 'vitest';

type WatchStream = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

function requiringLeader(): Metadata {
  const md = new Metadata();
  md.set('hasleader', 'true');
  return md;
}

/** A watch on `key`, open once the server confirmed its creation; `ended` is how the stream ended. */
async function openWatch(client: WatchClient, key: string, md: Metadata): Promise<{ stream: WatchStream; ended: Promise<string> }> {
  const stream = client.watch(md);
  const ended = new Promise<string>((resolve) => {
    stream.on('error', (err: ServiceError) => resolve(`${err.code} ${err.details}`));
    stream.on('end', () => resolve('end'));
  });
  const created = new Promise<void>((resolve, reject) => {
    stream.once('data', (r: etcdserverpb.WatchResponse) => (r.created ? resolve() : reject(new Error('watch not created'))));
    void ended.then((how) => reject(new Error(`watch ended before creation: ${how}`)));
  });
  stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from(key) } }));
  await created;
  return { stream, ended };
}

function range(kv: KVClient, key: string, md: Metadata, serializable = false): Promise<string> {
  return new Promise((resolve) => {
    kv.range(rangeRequest({ key: Buffer.from(key), serializable }), md, (err, res) => resolve(err ? `${err.code} ${err.details}` : `OK count=${res.count}`));
  });
}

const KINDS: ServerKind[] = ['raftkv', 'etcd'];

describe.each(KINDS)('%s, three members: hasleader metadata', (kind) => {
  let cluster: Cluster | undefined;
  const clients: Array<{ close(): void }> = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.close();
  });

  it('with a leader it changes nothing; without one it refuses calls and ends the streams that asked for a leader', async () => {
    cluster = await startCluster(kind, { size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const kv = new KVClient(follower.endpoint, credentials.createInsecure());
    const watch = new WatchClient(follower.endpoint, credentials.createInsecure());
    clients.push(kv, watch);

    await new Promise<void>((resolve, reject) => kv.put(putRequest({ key: Buffer.from('k'), value: Buffer.from('v') }), requiringLeader(), (err) => (err ? reject(err) : resolve())));
    expect(await range(kv, 'k', requiringLeader())).toBe('OK count=1');
    const asking = await openWatch(watch, 'k', requiringLeader());
    const plain = await openWatch(watch, 'k', new Metadata());

    // The follower loses both peers: no leader from its next election timeout on.
    for (const m of cluster.members) if (m !== follower) await m.kill();

    const noLeader = `${status.UNAVAILABLE} etcdserver: no leader`;
    await eventually('a call asking for a leader is refused', async () => ((await range(kv, 'k', requiringLeader())) === noLeader ? true : undefined), 15_000);
    // A stream that asked for a leader is ended (etcd: after 3 election timeouts without one).
    expect(await asking.ended).toBe(noLeader);
    // One that did not ask stays open, and a serializable read without the metadata is served.
    const plainState = await Promise.race([plain.ended, new Promise<string>((resolve) => setTimeout(() => resolve('open'), 300))]);
    expect(plainState).toBe('open');
    expect(await range(kv, 'k', new Metadata(), true)).toBe('OK count=1');
    // A new stream asking for a leader is refused at once.
    const refused = await new Promise<string>((resolve) => {
      const stream = watch.watch(requiringLeader());
      stream.on('error', (err: ServiceError) => resolve(`${err.code} ${err.details}`));
      stream.on('data', () => resolve('data'));
      stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('k') } }));
    });
    expect(refused).toBe(noLeader);
    plain.stream.cancel();
  }, 90_000);
});
