// Auth requests etcdctl cannot send, over gRPC, raftkv beside etcd 3.4.23: the same status code
// and message (or the same response) for each. And the one etcd crashes on.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient, WatchClient, etcdserverpb } from '@raftkv/api';
import { rangeRequest, startPair, type ServerPair } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Outcome = string;

function outcome<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown, show: (res: Res) => string = () => 'OK'): Promise<Outcome> {
  return new Promise((resolve) => fn((err, res) => resolve(err ? `${err.code} ${err.details}` : show(res))));
}

/** A watch create on a fresh stream: its first response, as text. */
function watchCreate(endpoint: string, md: Metadata, key: string): Promise<Outcome> {
  const client = new WatchClient(endpoint, credentials.createInsecure());
  return new Promise((resolve) => {
    const stream = client.watch(md);
    stream.once('data', (r: etcdserverpb.WatchResponse) => {
      resolve(`created=${r.created} canceled=${r.canceled} id=${r.watchId} reason=${r.cancelReason}`);
      stream.cancel();
      client.close();
    });
    stream.once('error', (err: ServiceError) => resolve(`${err.code} ${err.details}`));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from(key) } }));
  });
}

const EMPTY = Buffer.alloc(0);

describe('Auth over gRPC, beside etcd', () => {
  let pair: ServerPair | undefined;
  beforeAll(async () => {
    pair = await startPair({ args: ['--bcrypt-cost', '4'] });
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  // One client of each kind per server, closed at the end.
  const clients = new Map<string, { auth: AuthClient; kv: KVClient }>();
  const of = (e: string) => {
    if (!clients.has(e)) clients.set(e, { auth: new AuthClient(e, credentials.createInsecure()), kv: new KVClient(e, credentials.createInsecure()) });
    return clients.get(e)!;
  };
  const authOf = (e: string) => of(e).auth;
  const kvOf = (e: string) => of(e).kv;
  afterAll(() => {
    for (const c of clients.values()) { c.auth.close(); c.kv.close(); }
  });

  async function both(run: (endpoint: string) => Promise<Outcome>): Promise<{ etcd: Outcome; raftkv: Outcome }> {
    const [etcd, raftkv] = await Promise.all([run(pair!.etcd.endpoint), run(pair!.raftkv.endpoint)]);
    return { etcd: etcd!, raftkv: raftkv! };
  }

  it('answers what etcd answers, request by request', async () => {
    const bad = new Metadata();
    bad.set('token', 'notatoken.1');
    const viaAuthorization = new Metadata();
    viaAuthorization.set('authorization', 'notatoken.1');
    const none = new Metadata();
    const steps: Array<[string, (endpoint: string) => Promise<Outcome>]> = [
      ['UserAdd with an empty name', (e) => outcome((cb) => authOf(e).userAdd({ name: '', password: 'x', options: undefined, hashedPassword: '' }, cb))],
      ['RoleAdd with an empty name', (e) => outcome((cb) => authOf(e).roleAdd({ name: '' }, cb))],
      ['AuthStatus (etcd 3.5)', (e) => outcome((cb) => authOf(e).authStatus({}, cb))],
      ['Authenticate with auth off', (e) => outcome((cb) => authOf(e).authenticate({ name: 'x', password: 'y' }, cb))],
      ['UserAdd root', (e) => outcome((cb) => authOf(e).userAdd({ name: 'root', password: 'pw', options: undefined, hashedPassword: '' }, cb))],
      ['UserGrantRole root root', (e) => outcome((cb) => authOf(e).userGrantRole({ user: 'root', role: 'root' }, cb))],
      ['a bad token on Range, auth off', (e) => outcome((cb) => kvOf(e).range(rangeRequest({ key: Buffer.from('k') }), bad, cb))],
      ['a bad token in `authorization`, auth off', (e) => outcome((cb) => kvOf(e).range(rangeRequest({ key: Buffer.from('k') }), viaAuthorization, cb))],
      ['a bad token on a watch create, auth off', (e) => watchCreate(e, bad, 'k')],
      ['AuthEnable', (e) => outcome((cb) => authOf(e).authEnable({}, cb))],
      ['AuthEnable again without a token', (e) => outcome((cb) => authOf(e).authEnable({}, cb))],
      ['Authenticate root, empty password', (e) => outcome((cb) => authOf(e).authenticate({ name: 'root', password: '' }, cb))],
      ['a watch create without a token, auth on', (e) => watchCreate(e, none, 'k')],
      ['a bad token on a watch create, auth on', (e) => watchCreate(e, bad, 'k')],
      ['Range with a bad token, auth on', (e) => outcome((cb) => kvOf(e).range(rangeRequest({ key: Buffer.from('k') }), bad, cb))],
      ['RoleRevokePermission of a missing role, no token', (e) => outcome((cb) => authOf(e).roleRevokePermission({ role: 'r', key: EMPTY, rangeEnd: EMPTY }, cb))],
    ];
    for (const [name, run] of steps) {
      const got = await both(run);
      expect(got.raftkv, name).toBe(got.etcd);
      if (process.env["RAFTKV_PRINT_TRANSCRIPT"]) console.log(`${name}: ${got.raftkv}`);
    }
  }, 120_000);

  it('the HTTP/JSON gateway authenticates and passes the Authorization header as the token, as etcd\'s', async () => {
    // Runs after the first test: root (password pw) exists and auth is on, on both servers.
    const post = async (endpoint: string, path: string, body: unknown, token?: string) => {
      const res = await fetch(`http://${endpoint}${path}`, {
        method: 'POST', body: JSON.stringify(body), headers: token === undefined ? {} : { Authorization: token },
      });
      const text = (await res.text()).replace(/"(cluster_id|member_id|raft_term)":"\d+"/g, '"$1":"0"');
      return { status: res.status, text };
    };
    const run = async (endpoint: string) => {
      const auth = await post(endpoint, '/v3/auth/authenticate', { name: 'root', password: 'pw' });
      const token = (JSON.parse(auth.text) as { token: string }).token;
      return [
        { status: auth.status, tokenShape: /^[a-zA-Z]{16}\.\d+$/.test(token) },
        await post(endpoint, '/v3/kv/put', { key: 'Zm9v', value: 'YmFy' }, token),
        await post(endpoint, '/v3/kv/put', { key: 'Zm9v', value: 'YmFy' }),
        await post(endpoint, '/v3/kv/range', { key: 'Zm9v' }, 'notatoken.1'),
        await post(endpoint, '/v3/auth/authenticate', { name: 'root', password: 'wrong' }),
      ];
    };
    const [etcd, raftkv] = await Promise.all([run(pair!.etcd.endpoint), run(pair!.raftkv.endpoint)]);
    expect(raftkv![0]).toEqual({ status: 200, tokenShape: true });
    expect(raftkv!.slice(2).map((r) => (r as { status: number }).status)).toEqual([400, 401, 400]);
    // The put's revision differs (etcd's history here is not raftkv's): compare the rest.
    const norm = (r: unknown[]) => r.map((x) => JSON.stringify(x).replace(/\\"revision\\":\\"\d+\\"/, 'REV'));
    expect(norm(raftkv!)).toEqual(norm(etcd!));
  }, 30_000);

  it('refuses RoleGrantPermission without a permission for a role that exists (etcd 3.4 crashes applying it) with etcd 3.5\'s error', async () => {
    const e = pair!.raftkv.endpoint;
    const md = new Metadata();
    const auth = authOf(e);
    const { token } = await new Promise<etcdserverpb.AuthenticateResponse>((resolve, reject) => auth.authenticate({ name: 'root', password: 'pw' }, (err, r) => (err ? reject(err) : resolve(r))));
    md.set('token', token);
    // As etcd, a missing role is found first.
    expect(await outcome((cb) => auth.roleGrantPermission({ name: 'nosuch', perm: undefined }, md, cb))).toBe('9 etcdserver: role name not found');
    expect(await outcome((cb) => auth.roleAdd({ name: 'r' }, md, cb))).toBe('OK');
    expect(await outcome((cb) => auth.roleGrantPermission({ name: 'r', perm: undefined }, md, cb))).toBe('3 etcdserver: permission not given');
    expect(await outcome((cb) => auth.roleGet({ role: 'r' }, md, cb), (r: etcdserverpb.AuthRoleGetResponse) => `perms ${r.perm.length}`)).toBe('perms 0');
  }, 30_000);
});
