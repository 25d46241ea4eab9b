import http2 from 'node:http2';
import net from 'node:net';
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import { LEAN_GRPC_SERVER_OPTIONS, shutdownGrpcServer } from './server-shutdown.js';

// A server-streaming method whose calls never end, as a Watch stream nobody cancels.
const watchLike = {
  path: '/t.Test/Forever', originalName: 'forever', requestStream: false, responseStream: true,
  requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
} as const;

interface Served { server: Server; port: number; openCalls: () => number; cleanup: () => void }

/** A channelz-off server with one method; `injected`: reached through a connection injector, as the front door does. */
async function serve(injected: boolean): Promise<Served> {
  const server = new Server(LEAN_GRPC_SERVER_OPTIONS);
  let calls = 0;
  server.addService({ forever: watchLike }, { forever: (_call: ServerWritableStream<Buffer, Buffer>) => { calls++; } });
  if (!injected) {
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    return { server, port, openCalls: () => calls, cleanup: () => undefined };
  }
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listener = net.createServer((socket) => injector.injectConnection(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return { server, port: (listener.address() as net.AddressInfo).port, openCalls: () => calls, cleanup: () => listener.close() };
}

/** Opens a call of the never-ending method; resolves once the server runs its handler. */
async function openStream(served: Served): Promise<{ session: http2.ClientHttp2Session; closed: Promise<void> }> {
  const session = http2.connect(`http://127.0.0.1:${served.port}`);
  session.on('error', () => undefined);
  const req = session.request({ ':method': 'POST', ':path': watchLike.path, 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => undefined);
  req.resume();
  req.end(Buffer.from([0, 0, 0, 0, 0]));
  const closed = new Promise<void>((resolve) => session.on('close', resolve));
  const before = served.openCalls();
  for (let i = 0; i < 200 && served.openCalls() === before; i++) await new Promise((r) => setTimeout(r, 10));
  expect(served.openCalls()).toBe(before + 1);
  return { session, closed };
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timed out'> =>
  Promise.race([p, new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), ms).unref())]);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('shutdownGrpcServer with channelz off', () => {
  for (const injected of [false, true]) {
    test(`ends a never-ending stream after the grace time and resolves (${injected ? 'connection injector' : 'bound port'})`, async () => {
      const served = await serve(injected);
      cleanups.push(served.cleanup);
      const { session, closed } = await openStream(served);
      cleanups.push(() => session.destroy());
      const started = Date.now();
      expect(await within(shutdownGrpcServer(served.server, 100), 5_000)).toBeUndefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
      expect(await within(closed, 2_000)).toBeUndefined();
    });
  }

  test('resolves at once when no call is open', async () => {
    const served = await serve(true);
    cleanups.push(served.cleanup);
    const started = Date.now();
    expect(await within(shutdownGrpcServer(served.server, 5_000), 2_000)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  // Why the helper exists: should grpc-js's forceShutdown ever end these sessions itself, this
  // fails, and the helper's own session loop can go.
  test("grpc-js's forceShutdown alone leaves a channelz-off session with an open stream open", async () => {
    const served = await serve(true);
    cleanups.push(served.cleanup);
    const { session, closed } = await openStream(served);
    cleanups.push(() => session.destroy());
    let shutDown = false;
    served.server.tryShutdown(() => { shutDown = true; });
    served.server.forceShutdown();
    expect(await within(closed, 500)).toBe('timed out');
    expect(shutDown).toBe(false);
  });
});
