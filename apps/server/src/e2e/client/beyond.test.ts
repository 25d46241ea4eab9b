// Beyond etcd's clients, against raftkv and etcd 3.4.23: service registry and live discovery, the
// grpc-js resolver balancing over registered instances, typed keyspaces, the configuration watcher.
import { credentials, makeGenericClientConstructor, Server, ServerCredentials, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client, installResolver, SchemaError, ServiceRegistry, typedKeyspace, watchConfig } from '@raftkv/client';
import { removeDir, type ServerProcess } from '@raftkv/testkit';
import { eventually, KINDS, startOne } from './servers.js';

const raw = (b: Buffer): Buffer => b;
const echoService = {
  who: { path: '/test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} as const;
const EchoClient = makeGenericClientConstructor(echoService, 'test.Echo');

/** A gRPC server on a free loopback port answering its own name. */
async function echoServer(name: string): Promise<{ server: Server; address: string }> {
  const server = new Server();
  server.addService(echoService, { who: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from(name)) } as unknown as UntypedServiceImplementation);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { server, address: `127.0.0.1:${port}` };
}

describe.each(KINDS)('registry, resolver, typed keyspaces and config against %s', (kind) => {
  let server: ServerProcess;
  let client: Client;
  beforeAll(async () => {
    server = await startOne(kind);
    client = new Client({ endpoints: [server.endpoint] });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('discovers registered instances live, and registers again after a lost lease', async () => {
    const registry = new ServiceRegistry(client);
    const api = registry.discover('api');
    await api.ready;
    expect(api.snapshot.size).toBe(0);
    const a = await registry.register('api', { id: 'a', address: '10.0.0.1:80' }, { ttl: 5 });
    const b = await registry.register('api', { id: 'b', address: '10.0.0.2:80', metadata: { zone: 'z1' } }, { ttl: 5 });
    await eventually('both seen', async () => (api.snapshot.size === 2 ? true : undefined));
    expect(api.snapshot.get('b')).toEqual({ id: 'b', address: '10.0.0.2:80', metadata: { zone: 'z1' } });
    await b.close();
    await eventually('b gone', async () => (api.snapshot.has('b') ? undefined : true));
    // Its lease revoked behind its back: the registration notices and comes back.
    const first = a.leaseId!;
    await client.revoke(first);
    await eventually('a registered again', async () => (a.reregistrations === 1 && api.snapshot.has('a') ? true : undefined));
    expect(a.leaseId).not.toBe(first);
    const snapshots = api[Symbol.asyncIterator]();
    expect([...((await snapshots.next()).value as Map<string, unknown>).keys()]).toEqual(['a']);
    await a.close();
    api.close();
  });

  it('a grpc-js channel to raftkv:///echo balances over the live instances', async () => {
    const registry = new ServiceRegistry(client, { prefix: `svc-${kind}/` });
    installResolver(registry);
    const one = await echoServer('one');
    const two = await echoServer('two');
    const r1 = await registry.register('echo', { id: 'one', address: one.address });
    const r2 = await registry.register('echo', { id: 'two', address: two.address });
    const echo = new EchoClient('raftkv:///echo', credentials.createInsecure());
    const who = () => new Promise<string>((res, rej) =>
      (echo as unknown as { who(r: Buffer, cb: (e: ServiceError | null, b: Buffer) => void): void }).who(Buffer.alloc(0), (e, b) => (e ? rej(e) : res(b.toString()))));
    try {
      const names = await eventually('both instances answer', async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++) seen.add(await who());
        return seen.size === 2 ? seen : undefined;
      });
      expect([...names].sort()).toEqual(['one', 'two']);
      await r1.close();
      await eventually('only two answers', async () => {
        for (let i = 0; i < 6; i++) if ((await who()) !== 'two') return undefined;
        return true;
      });
    } finally {
      echo.close();
      await r2.close();
      one.server.forceShutdown();
      two.server.forceShutdown();
    }
  });

  it('typed keyspaces validate on the way in and out', async () => {
    const users = typedKeyspace(client, 'users/', z.object({ name: z.string(), age: z.number().int() }));
    await users.put('u1', { name: 'Ada', age: 36 });
    expect(await users.get('u1')).toEqual({ name: 'Ada', age: 36 });
    await expect(users.put('u2', { name: 'Bob', age: 1.5 })).rejects.toBeInstanceOf(SchemaError);
    expect(await client.get('users/u2')).toBeUndefined();
    await client.put('users/bad', '{"name": 7}');
    await expect(users.get('bad')).rejects.toBeInstanceOf(SchemaError);
    const invalid: string[] = [];
    const live = users.watch((key) => invalid.push(key));
    await live.ready;
    expect([...live.snapshot.keys()]).toEqual(['u1']);
    expect(invalid).toEqual(['bad']);
    await users.put('u3', { name: 'Cy', age: 3 });
    await eventually('u3 seen', async () => (live.snapshot.get('u3')?.name === 'Cy' ? true : undefined));
    live.close();
  });

  it('the config watcher keeps the last valid configuration', async () => {
    await client.put('config/app/maxConns', '10');
    await client.put('config/app/mode', '"a"');
    const invalid: unknown[] = [];
    const cfg = await watchConfig(client, 'config/app/', z.object({ maxConns: z.number().int().positive(), mode: z.enum(['a', 'b']) }), { onInvalid: (e) => invalid.push(e) });
    expect(cfg.current).toEqual({ maxConns: 10, mode: 'a' });
    const changes: Array<[number, number]> = [];
    cfg.onChange((next, prev) => changes.push([prev.maxConns, next.maxConns]));
    await client.put('config/app/maxConns', '20');
    await eventually('new value', async () => (cfg.current.maxConns === 20 ? true : undefined));
    await client.put('config/app/mode', '"zzz"');
    await eventually('refused', async () => (invalid.length > 0 ? true : undefined));
    expect(cfg.current).toEqual({ maxConns: 20, mode: 'a' });
    expect(changes).toEqual([[10, 20]]);
    cfg.close();
  });
});
