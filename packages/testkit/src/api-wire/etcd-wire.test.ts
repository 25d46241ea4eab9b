// Wire compatibility against real etcd 3.4: @raftkv/api's generated grpc-js clients talk to the
// reference server, and every field we assert was decoded by our code from etcd's bytes.
// It lives here, not in packages/api, because testkit depends on @raftkv/api: api cannot use
// testkit's reference etcd without a dependency cycle.
import { credentials, type Client, type ServiceError, Metadata, type CallOptions, type ClientUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterClient,
  EtcdErrors,
  KVClient,
  LeaseClient,
  MaintenanceClient,
  WatchClient,
  LockClient,
  ElectionClient,
  etcdserverpb,
  mvccpb,
  type EtcdError,
} from '@raftkv/api';
import { removeDir } from '../processes/binaries.js';
import { startEtcd } from '../processes/reference-etcd.js';
import type { ServerProcess } from '../processes/server-process.js';

type Unary<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

function call<Req, Res>(client: Client, fn: Unary<Req, Res>, req: Req): Promise<Res> {
  const deadline = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    fn.call(client, req, new Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function expectEtcdError(p: Promise<unknown>, want: EtcdError): Promise<ServiceError> {
  const err = (await p.then(
    () => {
      throw new Error(`expected ${want.message}`);
    },
    (e: unknown) => e,
  )) as ServiceError;
  expect({ code: err.code, details: err.details }).toEqual({ code: want.code, details: want.message });
  expect(want.is(err)).toBe(true);
  return err;
}

const b = (s: string) => Buffer.from(s);

// Ends a bidi stream for good: etcd keeps a half-closed stream open, and killing etcd
// later would otherwise surface an unhandled ECONNRESET. CANCELLED is expected here.
function closeStream(s: { on(ev: 'error', fn: () => void): unknown; cancel(): void }): void {
  s.on('error', () => {});
  s.cancel();
}

let etcd: ServerProcess;
let kv: KVClient;
let lease: LeaseClient;
let maint: MaintenanceClient;
let cluster: ClusterClient;
let watch: WatchClient;
let lock: LockClient;
let election: ElectionClient;

beforeAll(async () => {
  etcd = await startEtcd({ name: 'wire' });
  const creds = credentials.createInsecure();
  kv = new KVClient(etcd.endpoint, creds);
  lease = new LeaseClient(etcd.endpoint, creds);
  maint = new MaintenanceClient(etcd.endpoint, creds);
  cluster = new ClusterClient(etcd.endpoint, creds);
  watch = new WatchClient(etcd.endpoint, creds);
  lock = new LockClient(etcd.endpoint, creds);
  election = new ElectionClient(etcd.endpoint, creds);
  // Bounded wait for the member to elect itself and serve: 100 tries x <=200 ms.
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      const st = await call(maint, maint.status, {});
      if (st.leader !== 0n) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`etcd did not become ready: ${String(last)}`);
}, 30_000);

afterAll(async () => {
  for (const c of [kv, lease, maint, cluster, watch, lock, election]) c?.close();
  await etcd?.stop();
  if (etcd) removeDir(etcd.dataDir);
});

describe('KV against etcd 3.4', () => {
  it('Put then Range: revision increments and the KeyValue round-trips', async () => {
    const p1 = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('wire/a'), value: b('v1') }));
    const p2 = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('wire/a'), value: b('v2\u0000\xff'), prevKv: true }));
    expect(p1.header?.revision).toBeGreaterThan(1n);
    expect(p2.header?.revision).toBe(p1.header!.revision + 1n);
    expect(p2.header?.clusterId).not.toBe(0n);
    expect(p2.header?.memberId).not.toBe(0n);
    expect(p2.prevKv?.value).toEqual(b('v1'));

    const r = await call(kv, kv.range, etcdserverpb.RangeRequest.fromPartial({ key: b('wire/a') }));
    expect(r.count).toBe(1n);
    expect(r.more).toBe(false);
    expect(r.kvs).toEqual([
      mvccpb.KeyValue.fromPartial({
        key: b('wire/a'),
        value: b('v2\u0000\xff'),
        createRevision: p1.header!.revision,
        modRevision: p2.header!.revision,
        version: 2n,
      }),
    ]);
  });

  it('Range over a prefix with limit, sort and count', async () => {
    for (const k of ['c', 'a', 'b']) {
      await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b(`pfx/${k}`), value: b(k) }));
    }
    const r = await call(
      kv,
      kv.range,
      etcdserverpb.RangeRequest.fromPartial({
        key: b('pfx/'),
        rangeEnd: b('pfx0'),
        limit: 2n,
        sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND,
        sortTarget: etcdserverpb.RangeRequest_SortTarget.KEY,
      }),
    );
    expect(r.kvs.map((x) => x.key.toString())).toEqual(['pfx/c', 'pfx/b']);
    expect(r.more).toBe(true);
    expect(r.count).toBe(3n);
  });

  it('DeleteRange returns the count and previous values', async () => {
    await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('del/1'), value: b('x') }));
    await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('del/2'), value: b('y') }));
    const d = await call(kv, kv.deleteRange, etcdserverpb.DeleteRangeRequest.fromPartial({ key: b('del/'), rangeEnd: b('del0'), prevKv: true }));
    expect(d.deleted).toBe(2n);
    expect(d.prevKvs.map((x) => x.value.toString())).toEqual(['x', 'y']);
  });

  it('Txn with compares and a nested txn decodes nested responses', async () => {
    const put = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('txn/k'), value: b('1') }));
    const t = await call(
      kv,
      kv.txn,
      etcdserverpb.TxnRequest.fromPartial({
        compare: [
          { key: b('txn/k'), target: etcdserverpb.Compare_CompareTarget.VALUE, result: etcdserverpb.Compare_CompareResult.EQUAL, value: b('1') },
          { key: b('txn/k'), target: etcdserverpb.Compare_CompareTarget.MOD, result: etcdserverpb.Compare_CompareResult.EQUAL, modRevision: put.header!.revision },
        ],
        success: [
          { requestPut: { key: b('txn/k'), value: b('2') } },
          {
            requestTxn: {
              compare: [{ key: b('txn/missing'), target: etcdserverpb.Compare_CompareTarget.VERSION, result: etcdserverpb.Compare_CompareResult.EQUAL, version: 0n }],
              success: [{ requestRange: { key: b('txn/k') } }],
            },
          },
        ],
        failure: [{ requestDeleteRange: { key: b('txn/k') } }],
      }),
    );
    expect(t.succeeded).toBe(true);
    expect(t.header?.revision).toBe(put.header!.revision + 1n);
    expect(t.responses).toHaveLength(2);
    expect(t.responses[0]?.responsePut?.header?.revision).toBe(t.header!.revision);
    const nested = t.responses[1]?.responseTxn;
    expect(nested?.succeeded).toBe(true);
    // Reads inside a txn see its own writes.
    expect(nested?.responses[0]?.responseRange?.kvs[0]?.value).toEqual(b('2'));

    const miss = await call(
      kv,
      kv.txn,
      etcdserverpb.TxnRequest.fromPartial({
        compare: [{ key: b('txn/k'), target: etcdserverpb.Compare_CompareTarget.VALUE, result: etcdserverpb.Compare_CompareResult.EQUAL, value: b('nope') }],
        failure: [{ requestRange: { key: b('txn/k'), countOnly: true } }],
      }),
    );
    expect(miss.succeeded).toBe(false);
    expect(miss.responses[0]?.responseRange?.count).toBe(1n);
  });

  it('Compact, then a Range at a compacted revision fails with Compacted', async () => {
    const a = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('cmp'), value: b('1') }));
    const c = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('cmp'), value: b('2') }));
    const res = await call(kv, kv.compact, etcdserverpb.CompactionRequest.fromPartial({ revision: c.header!.revision, physical: true }));
    expect(res.header?.revision).toBe(c.header!.revision);
    await expectEtcdError(
      call(kv, kv.range, etcdserverpb.RangeRequest.fromPartial({ key: b('cmp'), revision: a.header!.revision })),
      EtcdErrors.Compacted,
    );
    await expectEtcdError(
      call(kv, kv.range, etcdserverpb.RangeRequest.fromPartial({ key: b('cmp'), revision: c.header!.revision + 1000n })),
      EtcdErrors.FutureRev,
    );
  });
});

describe('etcd’s errors on the wire match EtcdErrors', () => {
  it('Put with an empty key: EmptyKey', async () => {
    await expectEtcdError(call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ value: b('x') })), EtcdErrors.EmptyKey);
  });

  it('Txn that writes one key twice: DuplicateKey', async () => {
    await expectEtcdError(
      call(
        kv,
        kv.txn,
        etcdserverpb.TxnRequest.fromPartial({
          success: [{ requestPut: { key: b('dup'), value: b('1') } }, { requestPut: { key: b('dup'), value: b('2') } }],
        }),
      ),
      EtcdErrors.DuplicateKey,
    );
  });

  it('Txn with more than 128 ops: TooManyOps', async () => {
    const ops = Array.from({ length: 129 }, (_, i) => ({ requestPut: { key: b(`many/${i}`), value: b('v') } }));
    await expectEtcdError(call(kv, kv.txn, etcdserverpb.TxnRequest.fromPartial({ success: ops })), EtcdErrors.TooManyOps);
  });

  it('Put with an unknown lease and revoke of an unknown lease: LeaseNotFound', async () => {
    await expectEtcdError(
      call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('l'), value: b('v'), lease: 0x7fff_ffff_0000_0001n })),
      EtcdErrors.LeaseNotFound,
    );
    await expectEtcdError(call(lease, lease.leaseRevoke, { ID: 12345n }), EtcdErrors.LeaseNotFound);
  });

  it('ignore_value on a missing key: KeyNotFound', async () => {
    await expectEtcdError(
      call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('absent-key'), ignoreValue: true })),
      EtcdErrors.KeyNotFound,
    );
  });
});

describe('Lease, Maintenance, Cluster against etcd 3.4', () => {
  it('LeaseGrant with a chosen 64-bit ID, TimeToLive with keys, Revoke deletes them', async () => {
    const id = 0x7abc_def0_1234_5678n; // above 2^53: must survive as bigint
    const g = await call(lease, lease.leaseGrant, { TTL: 60n, ID: id });
    expect(g.ID).toBe(id);
    expect(g.TTL).toBe(60n);
    expect(g.error).toBe('');
    await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('leased'), value: b('v'), lease: id }));
    const ttl = await call(lease, lease.leaseTimeToLive, { ID: id, keys: true });
    expect(ttl.grantedTTL).toBe(60n);
    expect(ttl.TTL).toBeGreaterThan(0n);
    expect(ttl.keys).toEqual([b('leased')]);
    const list = await call(lease, lease.leaseLeases, {});
    expect(list.leases.map((l) => l.ID)).toContain(id);
    await expectEtcdError(call(lease, lease.leaseGrant, { TTL: 60n, ID: id }), EtcdErrors.LeaseExist);
    await call(lease, lease.leaseRevoke, { ID: id });
    const r = await call(kv, kv.range, etcdserverpb.RangeRequest.fromPartial({ key: b('leased') }));
    expect(r.kvs).toEqual([]);
  });

  it('LeaseKeepAlive stream echoes the lease and its TTL', async () => {
    const g = await call(lease, lease.leaseGrant, { TTL: 30n, ID: 0n });
    expect(g.ID).not.toBe(0n);
    const stream = lease.leaseKeepAlive();
    const got = new Promise<etcdserverpb.LeaseKeepAliveResponse>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
    });
    stream.write({ ID: g.ID });
    const res = await got;
    closeStream(stream);
    expect(res.ID).toBe(g.ID);
    expect(res.TTL).toBe(30n);
  });

  it('Status decodes version, leader and raft indexes', async () => {
    const st = await call(maint, maint.status, {});
    expect(st.version).toMatch(/^3\.4\./);
    expect(st.leader).toBe(st.header?.memberId);
    expect(st.raftIndex).toBeGreaterThan(0n);
    expect(st.raftTerm).toBeGreaterThan(0n);
    expect(st.dbSize).toBeGreaterThan(0n);
    expect(st.isLearner).toBe(false);
  });

  it('HashKV and Alarm answer', async () => {
    const h = await call(maint, maint.hashKv, { revision: 0n });
    expect(h.hash).not.toBe(0);
    expect(h.header?.revision).toBeGreaterThan(0n);
    const a = await call(maint, maint.alarm, { action: etcdserverpb.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: etcdserverpb.AlarmType.NONE });
    expect(a.alarms).toEqual([]);
  });

  it('MemberList has the one member with its URLs', async () => {
    const m = await call(cluster, cluster.memberList, { linearizable: false });
    expect(m.members).toHaveLength(1);
    const [me] = m.members;
    expect(me?.name).toBe('wire');
    expect(me?.ID).toBe(m.header?.memberId);
    expect(me?.clientURLs).toEqual([`http://${etcd.endpoint}`]);
    expect(me?.peerURLs[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('Watch against etcd 3.4', () => {
  it('creates a watcher, receives a put and a delete event with prev_kv, cancels', async () => {
    const stream = watch.watch();
    const responses: etcdserverpb.WatchResponse[] = [];
    const waiters: (() => void)[] = [];
    stream.on('data', (r: etcdserverpb.WatchResponse) => {
      responses.push(r);
      waiters.splice(0).forEach((w) => w());
    });
    const next = async (pred: (r: etcdserverpb.WatchResponse) => boolean) => {
      for (let i = 0; i < 50; i++) {
        const hit = responses.find(pred);
        if (hit) return hit;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      throw new Error(`no matching watch response; got ${JSON.stringify(responses.map((r) => etcdserverpb.WatchResponse.toJSON(r)))}`);
    };

    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('w/'), rangeEnd: b('w0'), prevKv: true, watchId: 7n } }));
    const created = await next((r) => r.created);
    expect(created.watchId).toBe(7n);

    const put = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('w/x'), value: b('hello') }));
    await call(kv, kv.deleteRange, etcdserverpb.DeleteRangeRequest.fromPartial({ key: b('w/x') }));
    const evPut = await next((r) => r.events.some((e) => e.type === mvccpb.Event_EventType.PUT));
    expect(evPut.watchId).toBe(7n);
    expect(evPut.events[0]?.kv?.value).toEqual(b('hello'));
    expect(evPut.events[0]?.kv?.modRevision).toBe(put.header!.revision);
    const evDel = await next((r) => r.events.some((e) => e.type === mvccpb.Event_EventType.DELETE));
    const del = evDel.events.find((e) => e.type === mvccpb.Event_EventType.DELETE);
    expect(del?.kv?.key).toEqual(b('w/x'));
    expect(del?.kv?.modRevision).toBe(put.header!.revision + 1n);
    expect(del?.prevKv?.value).toEqual(b('hello'));

    stream.write({ progressRequest: {} });
    const progress = await next((r) => !r.created && !r.canceled && r.events.length === 0);
    expect(progress.header?.revision).toBeGreaterThanOrEqual(put.header!.revision + 1n);

    stream.write(etcdserverpb.WatchRequest.fromPartial({ cancelRequest: { watchId: 7n } }));
    const canceled = await next((r) => r.canceled);
    expect(canceled.watchId).toBe(7n);
    closeStream(stream);
  });

  it('a watch from a compacted revision is canceled with compact_revision', async () => {
    const a = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('wc'), value: b('1') }));
    const c = await call(kv, kv.put, etcdserverpb.PutRequest.fromPartial({ key: b('wc'), value: b('2') }));
    await call(kv, kv.compact, { revision: c.header!.revision, physical: true });
    const stream = watch.watch();
    const res = new Promise<etcdserverpb.WatchResponse>((resolve, reject) => {
      stream.on('data', (r: etcdserverpb.WatchResponse) => r.canceled && resolve(r));
      stream.once('error', reject);
    });
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('wc'), startRevision: a.header!.revision } }));
    const r = await res;
    closeStream(stream);
    expect(r.compactRevision).toBe(c.header!.revision);
  });
});

describe('Lock and Election against etcd 3.4', () => {
  it('Lock returns an ownership key under the name; Unlock releases it', async () => {
    const g = await call(lease, lease.leaseGrant, { TTL: 30n, ID: 0n });
    const l = await call(lock, lock.lock, { name: b('mylock'), lease: g.ID });
    expect(l.key.toString().startsWith('mylock/')).toBe(true);
    expect(l.header?.revision).toBeGreaterThan(0n);
    await call(lock, lock.unlock, { key: l.key });
    const r = await call(kv, kv.range, etcdserverpb.RangeRequest.fromPartial({ key: l.key }));
    expect(r.kvs).toEqual([]);
  });

  it('Campaign makes us leader; Leader reports our value', async () => {
    const g = await call(lease, lease.leaseGrant, { TTL: 30n, ID: 0n });
    const c = await call(election, election.campaign, { name: b('elect'), lease: g.ID, value: b('me') });
    expect(c.leader?.name).toEqual(b('elect'));
    expect(c.leader?.lease).toBe(g.ID);
    const who = await call(election, election.leader, { name: b('elect') });
    expect(who.kv?.value).toEqual(b('me'));
    expect(who.kv?.key).toEqual(c.leader?.key);
    await call(election, election.resign, { leader: c.leader });
  });
});
