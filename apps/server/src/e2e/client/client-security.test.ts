// @raftkv/client with TLS (mutual, client certificates) and username/password auth, against
// raftkv and etcd 3.4.23 (same body); the Lock service over TLS and under auth (the member's own
// client relays the caller's token, so a caller without permission is refused, as by etcd).
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, etcdserverpb, KVClient, LockClient } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailedError, Client, Mutex, PermissionDeniedError, Session, UnavailableError } from '@raftkv/client';
import { etcdctl, freePort, removeDir, startEtcd, startRaftkv, type ServerProcess, type StartOptions } from '@raftkv/testkit';
import { Pki } from '../../security/test-support/pki.js';
import { KINDS, sleep, type Kind } from './servers.js';

const start = (kind: Kind, opts: StartOptions): Promise<ServerProcess> => (kind === 'raftkv' ? startRaftkv(opts) : startEtcd(opts));

describe.each(KINDS)('@raftkv/client over mutual TLS against %s', (kind) => {
  let pki: Pki;
  let server: ServerProcess;
  let url: string;
  beforeAll(async () => {
    pki = new Pki();
    const s = pki.issue('server', 'server');
    pki.issue('client', 'client');
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    server = await start(kind, { port, args: ['--listen-client-urls', url, '--advertise-client-urls', url,
      '--cert-file', s.certFile, '--key-file', s.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (server) removeDir(server.dataDir);
    pki?.remove();
  });

  it('puts, watches and locks with a client certificate', async () => {
    const client = new Client({ endpoints: [url], tls: { ca: pki.file('raftkv-test-ca.crt'), cert: pki.file('client.crt'), key: pki.file('client.key') } });
    try {
      const w = client.watch('tls/', { prefix: true });
      await w.ready;
      await client.put('tls/k', 'v');
      expect((await client.get('tls/k'))?.value.toString()).toBe('v');
      expect((await w.events().next()).value?.kv.key.toString()).toBe('tls/k');
      // The Lock service: on raftkv the member reaches itself over its TLS listener.
      const lease = await client.grant(10);
      const lock = new LockClient(url.replace('https://', ''), credentials.createSsl(pki.file('raftkv-test-ca.crt'), pki.file('client.key'), pki.file('client.crt')));
      const key = await new Promise<Buffer>((resolve, reject) => lock.lock({ name: Buffer.from('tls-lock'), lease: lease.id }, (err, res) => (err ? reject(err) : resolve(res.key))));
      expect(key.toString()).toBe(`tls-lock/${lease.id.toString(16)}`);
      lock.close();
      await lease.revoke();
    } finally {
      client.close();
    }
  });

  it('is refused without a client certificate', async () => {
    const client = new Client({ endpoints: [url], tls: { ca: pki.file('raftkv-test-ca.crt') }, retryTimeoutMs: 500 });
    try {
      await expect(client.get('tls/k')).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      client.close();
    }
  });
});

const outcomes = new Map<Kind, unknown[]>();

describe.each(KINDS)('@raftkv/client with username and password against %s', (kind) => {
  let server: ServerProcess;
  const steps: unknown[] = [];
  beforeAll(async () => {
    // Simple tokens expire after 1 s unused: the client must log in again by itself.
    server = await start(kind, { args: ['--auth-token-ttl', '1'] });
    for (const args of [
      ['user', 'add', 'root:rootpw'], ['user', 'add', 'app:apppw'], ['role', 'add', 'app'],
      ['role', 'grant-permission', 'app', 'readwrite', 'app/', '--prefix'], ['user', 'grant-role', 'app', 'app'], ['auth', 'enable'],
    ]) {
      const r = await etcdctl(server.endpoint, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (server) removeDir(server.dataDir);
    outcomes.set(kind, steps);
  });

  it('works with the user’s permissions and logs in again when the token expires', async () => {
    const client = new Client({ endpoints: [server.endpoint], auth: { username: 'app', password: 'apppw' } });
    try {
      await client.put('app/k', 'v1');
      const stale = await login(server.endpoint, 'app', 'apppw');
      await expect(client.put('other', 'x')).rejects.toBeInstanceOf(PermissionDeniedError);
      await sleep(2500);
      // Tokens of that age are refused now (checked with one taken beside the client's) ...
      expect(await rangeWithToken(server.endpoint, stale)).toBe('etcdserver: invalid auth token');
      // ... and the client logged in again by itself.
      expect((await client.get('app/k'))?.value.toString()).toBe('v1');
      // A Mutex under the user's prefix: txn, lease and watch with the token.
      const session = await Session.create(client, { ttl: 5 });
      const m = new Mutex(session, 'app/lock');
      await m.lock();
      await m.unlock();
      await session.close();
    } finally {
      client.close();
    }
  });

  it('refuses a wrong password', async () => {
    const client = new Client({ endpoints: [server.endpoint], auth: { username: 'app', password: 'wrong' } });
    try {
      await expect(client.get('app/k')).rejects.toBeInstanceOf(AuthFailedError);
    } finally {
      client.close();
    }
  });

  it('the Lock service runs with the caller’s permissions', async () => {
    const root = new Client({ endpoints: [server.endpoint], auth: { username: 'root', password: 'rootpw' } });
    try {
      const lease = await root.grant(10);
      const authed = await login(server.endpoint, 'app', 'apppw');
      const lock = new LockClient(server.endpoint, credentials.createInsecure());
      const md = new Metadata();
      md.set('token', authed);
      const call = (name: string) => new Promise<unknown>((resolve) => lock.lock({ name: Buffer.from(name), lease: lease.id }, md,
        (err: ServiceError | null, res) => resolve(err ? { code: err.code, details: err.details } : { key: res.key.toString().replace(lease.id.toString(16), 'LEASE') })));
      steps.push(await call('app/svc-lock'));
      steps.push(await call('other-lock'));
      expect(steps[0]).toEqual({ key: 'app/svc-lock/LEASE' });
      expect(JSON.stringify(steps[1])).toContain('permission denied');
      lock.close();
      await lease.revoke();
    } finally {
      root.close();
    }
  });
});

/** A Range with `token`: 'ok' or the error's details. */
async function rangeWithToken(endpoint: string, token: string): Promise<string> {
  const kv = new KVClient(endpoint, credentials.createInsecure());
  const md = new Metadata();
  md.set('token', token);
  try {
    return await new Promise<string>((resolve) => kv.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('app/k') }), md,
      (err: ServiceError | null) => resolve(err ? err.details : 'ok')));
  } finally {
    kv.close();
  }
}

/** A token for user:password (the Auth service). */
async function login(endpoint: string, name: string, password: string): Promise<string> {
  const auth = new AuthClient(endpoint, credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) => auth.authenticate({ name, password }, (err, res) => (err ? reject(err) : resolve(res.token))));
  } finally {
    auth.close();
  }
}

describe('Lock service under auth', () => {
  it('answers as etcd', () => {
    expect(outcomes.get('etcd')).toHaveLength(2);
    expect(outcomes.get('raftkv')).toEqual(outcomes.get('etcd'));
  });
});
