// Auth tokens in a three-member cluster, raftkv beside etcd 3.4.23: a token issued by one member
// works on every member (simple tokens are recorded by every member when it applies the
// Authenticate entry; JWTs are verified with the key every member holds), and keeps working
// after the leader is killed and another is elected. Also: a revoked role stops the token's
// user on every member at once.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient, type etcdserverpb } from '@raftkv/api';
import { etcdctl, putRequest, rangeRequest, startCluster, startPair, type Cluster, type ServerKind, type ServerPair } from '@raftkv/testkit';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const keyDir = mkdtempSync(join(tmpdir(), 'auth-cluster-keys-'));
const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
writeFileSync(join(keyDir, 'jwt.key'), pair.privateKey.export({ type: 'pkcs1', format: 'pem' }));
writeFileSync(join(keyDir, 'jwt.pub'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

const TOKEN_FLAGS = {
  simple: ['--auth-token', 'simple'],
  jwt: ['--auth-token', `jwt,pub-key=${join(keyDir, 'jwt.pub')},priv-key=${join(keyDir, 'jwt.key')},sign-method=RS256,ttl=10m`],
};

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

/** What a member may answer for a while right after an election; not about auth. */
const TRANSIENT = /leader changed|request timed out|no leader/;

/** A put and a get with `token` on `endpoint`: 'ok' or the error's message (transient ones retried). */
async function useToken(endpoint: string, token: string, key: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const r = await useTokenOnce(endpoint, token, key);
    if (!TRANSIENT.test(r) || attempt === 5) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function useTokenOnce(endpoint: string, token: string, key: string): Promise<string> {
  const kv = new KVClient(endpoint, credentials.createInsecure());
  const md = new Metadata();
  md.set('token', token);
  try {
    await unary<etcdserverpb.PutResponse>((cb) => kv.put(putRequest({ key: Buffer.from(key), value: Buffer.from('v') }), md, cb));
    const r = await unary<etcdserverpb.RangeResponse>((cb) => kv.range(rangeRequest({ key: Buffer.from(key) }), md, cb));
    return r.kvs.length === 1 ? 'ok' : 'missing';
  } catch (err) {
    return (err as ServiceError).details;
  } finally {
    kv.close();
  }
}

async function authenticate(endpoint: string, name: string, password: string): Promise<string> {
  const auth = new AuthClient(endpoint, credentials.createInsecure());
  try {
    return (await unary<etcdserverpb.AuthenticateResponse>((cb) => auth.authenticate({ name, password }, cb))).token;
  } finally {
    auth.close();
  }
}

const CASES: Array<[ServerKind, keyof typeof TOKEN_FLAGS]> = [['raftkv', 'simple'], ['etcd', 'simple'], ['raftkv', 'jwt'], ['etcd', 'jwt']];

describe.each(CASES)('%s, three members, %s tokens', (kind, tokenType) => {
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.close();
  });

  it('a token from one member works on all, across the leader\'s death; revoking the role stops it everywhere', async () => {
    cluster = await startCluster(kind, { size: 3, args: ['--bcrypt-cost', '4', ...TOKEN_FLAGS[tokenType]] });
    const leader = await cluster.waitForLeader();
    const setup = [
      ['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['user', 'add', 'app:apppw'],
      ['role', 'add', 'app'], ['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'], ['user', 'grant-role', 'app', 'app'],
    ];
    for (const args of setup) expect((await etcdctl(leader.endpoint, args)).code).toBe(0);
    expect((await etcdctl(leader.endpoint, ['auth', 'enable'])).stdout).toBe('Authentication Enabled\n');

    // Issued by a follower, used on every member.
    const followers = cluster.members.filter((m) => m !== leader);
    const token = await authenticate(followers[0]!.endpoint, 'app', 'apppw');
    expect(token.length).toBeGreaterThan(0);
    if (tokenType === 'simple') expect(token).toMatch(/^[a-zA-Z]{16}\.\d+$/);
    else expect(token.split('.')).toHaveLength(3);
    for (const [i, m] of cluster.members.entries()) expect(await useToken(m.endpoint, token, `app/${i}`)).toBe('ok');
    expect(await useToken(followers[1]!.endpoint, token, 'other')).toBe('etcdserver: permission denied');

    await leader.kill();
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    for (const m of followers) expect(await useToken(m.endpoint, token, `app/after-${m.name}`)).toBe('ok');

    // The auth store changes (a new revision): the role is gone on both live members at once.
    // A simple token speaks for the current revision; a JWT for the one it was signed at, so
    // etcd answers it with "revision of auth store is old" (clients then authenticate again).
    expect((await etcdctl(next.endpoint, ['--user', 'root:rootpw', 'user', 'revoke-role', 'app', 'app'])).code).toBe(0);
    const refusal = tokenType === 'simple' ? 'etcdserver: permission denied' : 'etcdserver: revision of auth store is old';
    for (const m of followers) expect(await useToken(m.endpoint, token, 'app/revoked')).toBe(refusal);
    const fresh = await authenticate(followers[1]!.endpoint, 'app', 'apppw');
    expect(await useToken(followers[1]!.endpoint, fresh, 'app/revoked')).toBe('etcdserver: permission denied');
    expect(await useToken(followers[0]!.endpoint, 'forged.12', 'app/x')).toBe('etcdserver: invalid auth token');
  }, 120_000);
});

describe('JWT lifetime, beside etcd', () => {
  let pair: ServerPair | undefined;
  afterAll(async () => {
    await pair?.stop();
  });

  it('a JWT past its ttl is an invalid token on both; a fresh one works', async () => {
    const flags = ['--bcrypt-cost', '4', '--auth-token', `jwt,pub-key=${join(keyDir, 'jwt.pub')},priv-key=${join(keyDir, 'jwt.key')},sign-method=RS256,ttl=2s`];
    pair = await startPair({ args: flags });
    const run = async (endpoint: string): Promise<string[]> => {
      for (const args of [['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['auth', 'enable']]) {
        expect((await etcdctl(endpoint, args)).code).toBe(0);
      }
      const token = await authenticate(endpoint, 'root', 'rootpw');
      const before = await useToken(endpoint, token, 'k1');
      // exp is now + ttl in whole seconds (etcd truncates): a 2 s token lives more than 1 s, so
      // the first use is inside it even on a slow machine (1 s tokens could lapse at once, and
      // did on etcd's side in CI), and it is past for sure after three.
      await new Promise((resolve) => setTimeout(resolve, 3_100));
      const after = await useToken(endpoint, token, 'k2');
      const fresh = await useToken(endpoint, await authenticate(endpoint, 'root', 'rootpw'), 'k3');
      return [before, after, fresh];
    };
    const [etcd, raftkv] = await Promise.all([run(pair.etcd.endpoint), run(pair.raftkv.endpoint)]);
    expect(raftkv).toEqual(['ok', 'etcdserver: invalid auth token', 'ok']);
    expect(raftkv).toEqual(etcd);
  }, 60_000);
});
