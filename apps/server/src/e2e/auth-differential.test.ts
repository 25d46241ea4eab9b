// Seeded differential test of permission checks: random roles (keys, ranges, prefixes, from-key;
// READ, WRITE, READWRITE) and random requests of a user holding them (Range, serializable Range,
// Put with and without prev_kv, DeleteRange, Txn with compares and both branches, Watch create),
// raftkv beside etcd 3.4.23. Every answer must match: the code and message, and for a read the
// keys it returned. A failing round prints its seed.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient, WatchClient, etcdserverpb } from '@raftkv/api';
import { deleteRangeRequest, putRequest, Random, rangeRequest, startSubjects, txnRequest, TOPOLOGIES, type Subjects } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SEED = Number(process.env['RAFTKV_AUTH_DIFF_SEED'] ?? 20261206);
const ROUNDS = Number(process.env['RAFTKV_AUTH_DIFF_ROUNDS'] ?? 20);
const REQUESTS_PER_ROUND = 40;
/** Keys from a small alphabet, so that permissions and requests overlap, touch and nest often. */
const KEYS = ['', 'a', 'a\0', 'aa', 'ab', 'b', 'b/', 'b/x', 'b0', 'c', 'cz', 'z'];
const { READ, WRITE, READWRITE } = { READ: 0, WRITE: 1, READWRITE: 2 };

const b = (s: string) => Buffer.from(s, 'latin1');
const show = (x: Buffer) => JSON.stringify(x.toString('latin1'));

/** A range end for `key`: none (one key), "\0" (from the key on), the prefix's end, or another key. */
function rangeEndFor(rnd: Random, key: string): Buffer {
  switch (rnd.int(4)) {
    case 0: return Buffer.alloc(0);
    case 1: return Buffer.from([0]);
    case 2: return prefixEnd(b(key));
    default: return b(rnd.pick(KEYS));
  }
}

function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

interface Servers { kv: KVClient; auth: AuthClient; watch: WatchClient; endpoint: string }

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown, show: (res: Res) => string = () => 'OK'): Promise<string> {
  return new Promise((resolve) => fn((err, res) => resolve(err ? `${err.code} ${err.details}` : show(res))));
}

function watchCreate(s: Servers, md: Metadata, key: Buffer, rangeEnd: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const stream = s.watch.watch(md);
    stream.once('data', (r: etcdserverpb.WatchResponse) => {
      resolve(r.canceled ? `canceled: ${r.cancelReason}` : `created`);
      stream.cancel();
    });
    stream.once('error', (err: ServiceError) => resolve(`${err.code} ${err.details}`));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key, rangeEnd } }));
  });
}

type Request = { label: string; run: (s: Servers, md: Metadata) => Promise<string> };

function randomRequest(rnd: Random): Request {
  const key = b(rnd.pick(KEYS));
  const rangeEnd = rangeEndFor(rnd, key.toString('latin1'));
  const keysOf = (r: etcdserverpb.RangeResponse) => `OK ${r.kvs.map((kv) => show(kv.key)).join(',')}`;
  const op = (): etcdserverpb.RequestOp => {
    const k = b(rnd.pick(KEYS));
    switch (rnd.int(3)) {
      case 0: return { requestRange: rangeRequest({ key: k, rangeEnd: rangeEndFor(rnd, k.toString('latin1')) }) };
      case 1: return { requestPut: putRequest({ key: k, value: b('t') }) };
      default: return { requestDeleteRange: deleteRangeRequest({ key: k, rangeEnd: rangeEndFor(rnd, k.toString('latin1')), prevKv: rnd.bool() }) };
    }
  };
  switch (rnd.int(7)) {
    case 0: return { label: `Range ${show(key)} ${show(rangeEnd)}`, run: (s, md) => unary((cb) => s.kv.range(rangeRequest({ key, rangeEnd }), md, cb), keysOf) };
    case 1: return { label: `Range serializable ${show(key)} ${show(rangeEnd)}`, run: (s, md) => unary((cb) => s.kv.range(rangeRequest({ key, rangeEnd, serializable: true }), md, cb), keysOf) };
    case 2: {
      const prevKv = rnd.bool();
      return { label: `Put ${show(key)} prevKv=${prevKv}`, run: (s, md) => unary((cb) => s.kv.put(putRequest({ key, value: b('v'), prevKv }), md, cb)) };
    }
    case 3: {
      const prevKv = rnd.bool();
      return { label: `DeleteRange ${show(key)} ${show(rangeEnd)} prevKv=${prevKv}`, run: (s, md) => unary((cb) => s.kv.deleteRange(deleteRangeRequest({ key, rangeEnd, prevKv }), md, cb)) };
    }
    case 4: case 5: {
      const compare = rnd.bool() ? [{ result: 0, target: 0, key, rangeEnd: rnd.bool() ? rangeEnd : Buffer.alloc(0), version: 0n } as etcdserverpb.Compare] : [];
      const success = Array.from({ length: rnd.int(3) }, op);
      const failure = Array.from({ length: rnd.int(3) }, op);
      const req = txnRequest({ compare, success, failure });
      return { label: `Txn ${JSON.stringify(etcdserverpb.TxnRequest.toJSON(req))}`, run: (s, md) => unary((cb) => s.kv.txn(req, md, cb), (r: etcdserverpb.TxnResponse) => `OK succeeded=${r.succeeded}`) };
    }
    default: return { label: `Watch ${show(key)} ${show(rangeEnd)}`, run: (s, md) => watchCreate(s, md, key, rangeEnd) };
  }
}

function randomPermission(rnd: Random): etcdserverpb.AuthRoleGrantPermissionRequest['perm'] {
  const key = rnd.pick(KEYS);
  return { permType: rnd.pick([READ, WRITE, READWRITE]), key: b(key), rangeEnd: rangeEndFor(rnd, key) };
}

describe.each(TOPOLOGIES)('permission checks, randomised, beside etcd (raftkv: %s)', (topology) => {
  let pair: Subjects | undefined;
  const servers: { etcd?: Servers; raftkv?: Servers } = {};
  const admin = new Metadata();
  const tokens: { etcd: Metadata; raftkv: Metadata } = { etcd: new Metadata(), raftkv: new Metadata() };
  const sides = ['etcd', 'raftkv'] as const;

  beforeAll(async () => {
    pair = await startSubjects(topology, { args: ['--bcrypt-cost', '4'] });
    for (const side of sides) {
      const endpoint = pair[side].endpoint;
      const creds = credentials.createInsecure();
      servers[side] = { endpoint, kv: new KVClient(endpoint, creds), auth: new AuthClient(endpoint, creds), watch: new WatchClient(endpoint, creds) };
    }
  }, 60_000);
  afterAll(async () => {
    for (const s of Object.values(servers)) { s.kv.close(); s.auth.close(); s.watch.close(); }
    await pair?.stop();
  });

  /** The same call on both servers (each with its own token), in turn. */
  async function both(run: (s: Servers, md: Metadata) => Promise<string>, md: (side: 'etcd' | 'raftkv') => Metadata): Promise<[string, string]> {
    const e = await run(servers.etcd!, md('etcd'));
    const r = await run(servers.raftkv!, md('raftkv'));
    return [e, r];
  }

  it(`answers as etcd for ${ROUNDS} rounds of random roles and requests (seed ${SEED})`, async () => {
    const setup: Array<(s: Servers, md: Metadata) => Promise<string>> = [
      (s) => unary((cb) => s.auth.userAdd({ name: 'root', password: 'rootpw', options: undefined, hashedPassword: '' }, cb)),
      (s) => unary((cb) => s.auth.userGrantRole({ user: 'root', role: 'root' }, cb)),
      (s) => unary((cb) => s.auth.userAdd({ name: 'u', password: 'upw', options: undefined, hashedPassword: '' }, cb)),
      (s) => unary((cb) => s.auth.authEnable({}, cb)),
    ];
    for (const step of setup) expect(await both(step, () => admin)).toEqual(['OK', 'OK']);
    const rootTokens = { etcd: new Metadata(), raftkv: new Metadata() };
    for (const side of sides) {
      const token = await new Promise<string>((resolve, reject) => servers[side]!.auth.authenticate({ name: 'root', password: 'rootpw' }, (err, r) => (err ? reject(err) : resolve(r.token))));
      rootTokens[side].set('token', token);
      const user = await new Promise<string>((resolve, reject) => servers[side]!.auth.authenticate({ name: 'u', password: 'upw' }, (err, r) => (err ? reject(err) : resolve(r.token))));
      tokens[side].set('token', user);
    }
    let compared = 0;
    const outcomes = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const rnd = new Random(SEED + round);
      // A fresh role each round: the old one deleted (the user loses it), a new one granted.
      const perms = Array.from({ length: 1 + rnd.int(4) }, () => randomPermission(rnd));
      const roleSetup: Array<(s: Servers, md: Metadata) => Promise<string>> = [
        (s, md) => unary((cb) => s.auth.roleDelete({ role: 'r' }, md, cb)),
        (s, md) => unary((cb) => s.auth.roleAdd({ name: 'r' }, md, cb)),
        ...perms.map((perm) => (s: Servers, md: Metadata) => unary((cb) => s.auth.roleGrantPermission({ name: 'r', perm }, md, cb))),
        (s, md) => unary((cb) => s.auth.userGrantRole({ user: 'u', role: 'r' }, md, cb)),
      ];
      for (const step of roleSetup) {
        const [e, r] = await both(step, (side) => rootTokens[side]);
        expect(r, `round ${round} (seed ${SEED + round}) role setup`).toBe(e);
      }
      const granted = perms.map((p) => `${['READ', 'WRITE', 'READWRITE'][p!.permType]} ${show(p!.key)} ${show(p!.rangeEnd)}`).join('; ');
      for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
        const req = randomRequest(rnd);
        const [e, r] = await both(req.run, (side) => tokens[side]);
        expect(r, `round ${round} (seed ${SEED + round}), granted [${granted}], request ${i}: ${req.label}`).toBe(e);
        outcomes.add(e.replace(/^OK.*/, 'OK'));
        compared++;
      }
    }
    expect(compared).toBe(ROUNDS * REQUESTS_PER_ROUND);
    // The rounds reached both sides of the checks.
    expect([...outcomes]).toEqual(expect.arrayContaining(['OK', '7 etcdserver: permission denied']));
  }, 300_000);
});
