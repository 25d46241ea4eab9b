// The member RPCs over a real gRPC server on loopback: IDs keep all 64 bits both ways (negative
// lease IDs included), and malformed bodies from the peer port are refused, never a crash.
import { Client, Metadata, Server, ServerCredentials, credentials, type ServiceError } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_SERVICE_NAME, MemberRpcClient, memberService } from './member-rpc.js';

const CLUSTER = 0xabcn;

describe('member RPCs', () => {
  const seen: bigint[] = [];
  let server: Server;
  let url: string;
  const client = new MemberRpcClient(() => CLUSTER);
  beforeAll(async () => {
    const svc = memberService({
      clusterId: () => CLUSTER,
      members: () => ({ clusterId: CLUSTER.toString(16), members: [] }),
      leaseRenew: async (id) => { seen.push(id); return 42; },
      leaseTimeToLive: async (id) => { seen.push(id); return { ttl: 1, grantedTtl: 2, keys: [] }; },
      memberPromote: async (id) => { seen.push(id); return { clusterId: CLUSTER.toString(16), members: [] }; },
      hashKV: async (revision) => {
        if (revision > 10) throw EtcdErrors.FutureRev;
        return { header: { memberId: 'ff', revision: 10 }, hash: 0xdeadbeef, compactRevision: revision === 0 ? -1 : revision - 1 };
      },
    });
    server = new Server();
    server.addService(svc.definition, svc.implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it.each([-1n, -(2n ** 63n), 2n ** 63n - 1n, 0n, 7n])('forwards lease ID %s intact', async (id) => {
    seen.length = 0;
    expect(await client.leaseRenew(url, id, 2000)).toBe(42);
    await client.leaseTimeToLive(url, id, true, 2000);
    expect(seen).toEqual([id, id]);
  });

  it('forwards a member ID with the top bit set intact', async () => {
    seen.length = 0;
    await client.memberPromote(url, 2n ** 64n - 1n, 2000);
    expect(seen).toEqual([2n ** 64n - 1n]);
  });

  it('carries HashKV answers intact (hash over 2^31, compact revision -1) and FutureRev as etcd\'s error', async () => {
    expect(await client.hashKV(url, 0, 2000)).toEqual({ header: { memberId: 'ff', revision: 10 }, hash: 0xdeadbeef, compactRevision: -1 });
    expect(await client.hashKV(url, 7, 2000)).toMatchObject({ compactRevision: 6 });
    const err = await client.hashKV(url, 11, 2000).catch((e: unknown) => e);
    expect(EtcdErrors.FutureRev.is(err)).toBe(true);
  });

  it('refuses a HashKV call from another cluster', async () => {
    const other = new MemberRpcClient(() => CLUSTER + 1n);
    await expect(other.hashKV(url, 0, 2000)).rejects.toMatchObject({ details: 'raftkv: cluster ID mismatch' });
    other.close();
  });

  it.each<[string, unknown]>([
    ['a signed hex id', { id: '-8000000000000000' }],
    ['a non-hex id', { id: 'zz' }],
    ['a number', { id: 5 }],
    ['no id', {}],
    ['an id over 64 bits', { id: '1ffffffffffffffff' }],
  ])('refuses %s with INVALID_ARGUMENT', async (_name, body) => {
    const raw = new Client(new URL(url).host, credentials.createInsecure());
    const md = new Metadata();
    md.set('raftkv-cluster-id', CLUSTER.toString(16));
    const err = await new Promise<ServiceError | null>((resolve) => raw.makeUnaryRequest(`/${MEMBER_SERVICE_NAME}/LeaseRenew`,
      (v: unknown) => Buffer.from(JSON.stringify(v)), (b: Buffer) => b, body, md, (e) => resolve(e)));
    raw.close();
    expect({ code: err?.code, details: err?.details }).toEqual({ code: 3, details: 'raftkv: malformed member RPC ID' });
    // and the service still answers
    expect(await client.leaseRenew(url, 1n, 2000)).toBe(42);
  });

  it('relays an etcd error from the leader as that error', async () => {
    const svc = memberService({
      clusterId: () => CLUSTER,
      members: () => ({ clusterId: '', members: [] }),
      leaseRenew: async () => { throw new EtcdError(5, 'etcdserver: requested lease not found'); },
      leaseTimeToLive: async () => { throw new Error('never'); },
      memberPromote: async () => { throw new Error('never'); },
      hashKV: async () => { throw new Error('never'); },
    });
    const s = new Server();
    s.addService(svc.definition, svc.implementation);
    const port = await new Promise<number>((resolve, reject) =>
      s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    await expect(client.leaseRenew(`http://127.0.0.1:${port}`, 3n, 2000)).rejects.toMatchObject({ message: 'etcdserver: requested lease not found' });
    s.forceShutdown();
  });
});
