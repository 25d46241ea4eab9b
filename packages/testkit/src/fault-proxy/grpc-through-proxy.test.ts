// The peer transport speaks gRPC (HTTP/2) through these proxies: a held connection must come
// back intact after the heal, and a dropped one must let grpc-js reconnect.
import {
  Server, ServerCredentials, credentials, makeGenericClientConstructor, status,
  type Client, type ServiceDefinition, type ServiceError,
} from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';
import { pending, heldAtProxy, until } from './loopback-fixtures.js';

const identity = (b: Buffer): Buffer => b;
const service: ServiceDefinition = {
  echo: {
    path: '/faultproxytest.Echo/Echo', requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  },
};

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(): Promise<{ proxy: FaultProxy; echo: (text: string, deadlineMs?: number) => Promise<string> }> {
  const server = new Server();
  server.addService(service, {
    echo: (call: { request: Buffer }, cb: (err: null, res: Buffer) => void) => cb(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0',
    ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  cleanup.push(() => server.forceShutdown());
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port } });
  cleanup.push(() => proxy.close());
  const Ctor = makeGenericClientConstructor(service, 'Echo');
  type EchoClient = Client &
    { echo: (req: Buffer, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Buffer) => void) => void };
  const client = new Ctor(`127.0.0.1:${proxy.port}`, credentials.createInsecure()) as unknown as EchoClient;
  cleanup.push(() => client.close());
  const echo = (text: string, deadlineMs = 10_000): Promise<string> => new Promise((resolve, reject) => {
    client.echo(Buffer.from(text), { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res!.toString())));
  });
  return { proxy, echo };
}

describe('gRPC through a FaultProxy', () => {
  it('a call made during a blackhole completes on the same connection after the heal', async () => {
    const { proxy, echo } = await setup();
    expect(await echo('warm')).toBe('warm');
    const forwarded = proxy.stats.bytesToTarget;
    proxy.blackhole();
    const held = echo('held');
    // The request reached the proxy and sits there unread: the call cannot have completed.
    await until(() => heldAtProxy(proxy) > 0, 'the request held at the proxy');
    expect(await pending(held)).toBe('pending');
    expect(proxy.stats.bytesToTarget).toBe(forwarded);
    proxy.pass();
    expect(await held).toBe('held');
    // One TCP connection throughout: the HTTP/2 session survived the hold.
    expect(proxy.stats.connectionsAccepted).toBe(1);
  });

  it('a call times out while held, and the channel works again after the heal', async () => {
    const { proxy, echo } = await setup();
    expect(await echo('warm')).toBe('warm');
    proxy.blackhole();
    await expect(echo('late', 100)).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    proxy.pass();
    expect(await echo('after')).toBe('after');
  });

  it('grpc-js reconnects after a drop once the proxy passes again', async () => {
    const { proxy, echo } = await setup();
    expect(await echo('warm')).toBe('warm');
    proxy.drop();
    await expect(echo('during', 300)).rejects.toMatchObject({
      code: expect.toSatisfy((c: number) => c === status.UNAVAILABLE || c === status.DEADLINE_EXCEEDED) });
    proxy.pass();
    expect(await echo('after')).toBe('after');
    expect(proxy.stats.connectionsAccepted).toBeGreaterThanOrEqual(2);
  });
});
