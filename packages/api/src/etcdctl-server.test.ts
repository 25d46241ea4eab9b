// The other direction of wire compatibility: the real etcdctl 3.4 (Go client) talks to
// a grpc-js server built from our service definitions. Proves that our decoding of
// etcd's request bytes and our encoding of responses and errors are what etcd clients
// expect.
import { execFile, spawnSync } from 'node:child_process';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdErrors, KVService, etcdserverpb, mvccpb, type KVServer } from './index.js';

const CLUSTER_ID = 0xfedc_ba98_7654_3210n; // above 2^53: a rounding bug would show
const MEMBER_ID = 0x8e9e_05c5_2164_694dn;

// A deliberately tiny KV: one map, a revision counter, just enough for etcdctl.
let revision = 1n;
const store = new Map<string, mvccpb.KeyValue>();
const seen: etcdserverpb.PutRequest[] = [];
const header = () => etcdserverpb.ResponseHeader.fromPartial({ clusterId: CLUSTER_ID, memberId: MEMBER_ID, revision, raftTerm: 3n });

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void;
const unimplemented: Handler<unknown, never> = (_call, cb) => cb({ code: status.UNIMPLEMENTED, details: 'not in this test' });

const kv: KVServer = {
  put(call, cb) {
    const req = call.request;
    seen.push(req);
    if (req.key.length === 0) return cb(EtcdErrors.EmptyKey.toServiceError());
    const k = req.key.toString('latin1');
    const prev = store.get(k);
    revision += 1n;
    store.set(k, {
      key: req.key,
      value: req.value,
      createRevision: prev?.createRevision ?? revision,
      modRevision: revision,
      version: (prev?.version ?? 0n) + 1n,
      lease: req.lease,
    });
    cb(null, etcdserverpb.PutResponse.fromPartial({ header: header(), prevKv: req.prevKv ? prev : undefined }));
  },
  range(call, cb) {
    const req = call.request;
    if (req.revision > 0n && req.revision < revision) return cb(EtcdErrors.Compacted.toServiceError());
    if (req.revision > revision) return cb(EtcdErrors.FutureRev.toServiceError());
    const hit = store.get(req.key.toString('latin1'));
    const kvs = hit ? [hit] : [];
    cb(null, etcdserverpb.RangeResponse.fromPartial({ header: header(), kvs, count: BigInt(kvs.length) }));
  },
  deleteRange: unimplemented,
  txn: unimplemented,
  compact: unimplemented,
};

let server: Server;
let endpoint = '';

function etcdctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'etcdctl',
      [`--endpoints=${endpoint}`, '--dial-timeout=5s', '--command-timeout=5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const probe = spawnSync('etcdctl', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'etcdctl is not on PATH: this test needs the real etcd 3.4 client (Debian: apt-get install -y etcd-client). ' +
        String(probe.error ?? probe.stderr),
    );
  }
  server = new Server();
  server.addService(KVService, kv);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  endpoint = `127.0.0.1:${port}`;
});

afterAll(() => {
  server?.forceShutdown();
});

describe('etcdctl 3.4 against a server built on @raftkv/api', () => {
  it('put: our server decodes etcdctl’s PutRequest', async () => {
    const r = await etcdctl('put', 'greeting', 'hello world');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('OK');
    expect(seen.at(-1)?.key.toString()).toBe('greeting');
    expect(seen.at(-1)?.value.toString()).toBe('hello world');
    expect(seen.at(-1)?.lease).toBe(0n);
  });

  it('put --prev-kv then get -w json: etcdctl decodes our responses, uint64 IDs exact', async () => {
    const p = await etcdctl('put', 'greeting', 'again', '--prev-kv');
    expect(p.stdout).toBe('OK\ngreeting\nhello world\n');
    const g = await etcdctl('get', 'greeting', '-w', 'json');
    expect(g.code).toBe(0);
    // Compare the 64-bit numbers as text: JSON.parse would round them.
    expect(g.stdout).toContain(`"cluster_id":${CLUSTER_ID}`);
    expect(g.stdout).toContain(`"member_id":${MEMBER_ID}`);
    const json = JSON.parse(g.stdout) as { header: { revision: number; raft_term: number }; kvs: { key: string; value: string; version: number; create_revision: number; mod_revision: number }[]; count: number };
    expect(json.header.revision).toBe(Number(revision));
    expect(json.header.raft_term).toBe(3);
    expect(json.count).toBe(1);
    expect(json.kvs).toEqual([
      {
        key: Buffer.from('greeting').toString('base64'),
        value: Buffer.from('again').toString('base64'),
        create_revision: 2,
        mod_revision: 3,
        version: 2,
      },
    ]);
  });

  it.each([
    ['--rev=1', EtcdErrors.Compacted],
    ['--rev=999', EtcdErrors.FutureRev],
  ])('get %s: etcdctl reports our EtcdError message', async (flag, want) => {
    const r = await etcdctl('get', 'greeting', flag);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`code = OutOfRange desc = ${want.message}`);
    expect(r.stderr).toContain(`Error: ${want.message}`);
  });

  it('an unimplemented method surfaces as the gRPC status, not a hang', async () => {
    const r = await etcdctl('del', 'greeting');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unimplemented|not in this test/);
  });
});
