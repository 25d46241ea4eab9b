import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../processes/children.js';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { firstOrigin, originByProcess, originByRemoteAddress, type OriginResolver } from './connection-origin.js';
import { dial } from './loopback-fixtures.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A listener on 127.0.0.1 that hands each accepted socket to the test. */
async function listener(): Promise<{ port: number; next: () => Promise<Socket> }> {
  const waiting: ((s: Socket) => void)[] = [];
  const ready: Socket[] = [];
  const server: Server = createServer({ pauseOnConnect: true }, (s) => {
    cleanup.push(() => s.destroy());
    const w = waiting.shift();
    if (w) w(s);
    else ready.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    next: () => new Promise((resolve) => {
      const s = ready.shift();
      if (s) resolve(s);
      else waiting.push(resolve);
    }),
  };
}

/** A separate process that dials `port` and holds the connection until killed. */
function childDialer(port: number): ChildProcess {
  const script = `require('node:net').connect(${port}, '127.0.0.1').on('error', () => {}); setInterval(() => {}, 1000);`;
  // Tracked: it dies with this worker even if the test fails before its cleanup.
  const child = spawnTracked(process.execPath, ['-e', script], { stdio: 'ignore' });
  cleanup.push(() => child.kill('SIGKILL'));
  return child;
}

describe('loopback source addresses', () => {
  it('a client bound to 127.0.0.3 reaches a listener on 127.0.0.1 and is seen as 127.0.0.3', async () => {
    const l = await listener();
    const client = await dial(l.port, '127.0.0.3');
    cleanup.push(() => client.destroy());
    const accepted = await l.next();
    expect(client.localAddress).toBe('127.0.0.3');
    expect(accepted.remoteAddress).toBe('127.0.0.3');
    expect(accepted.remotePort).toBe(client.localPort);
  });
});

describe('originByRemoteAddress', () => {
  it('names connections by source address and leaves others unknown', async () => {
    const l = await listener();
    const resolve = originByRemoteAddress(new Map([['127.0.0.2', 'member-0'], ['127.0.0.4', 'member-2']]));
    const cases: [string, string | undefined][] = [
      ['127.0.0.2', 'member-0'], ['127.0.0.4', 'member-2'], ['127.0.0.3', undefined], ['127.0.0.1', undefined],
    ];
    for (const [from, expected] of cases) {
      const client = await dial(l.port, from);
      cleanup.push(() => client.destroy());
      expect(await resolve(await l.next())).toBe(expected);
    }
  });
});

describe('originByProcess', () => {
  it('names a connection dialed by this process by its pid', async () => {
    const l = await listener();
    const resolve = originByProcess(new Map([[process.pid, 'me']]));
    const client = await dial(l.port);
    cleanup.push(() => client.destroy());
    expect(await resolve(await l.next())).toBe('me');
  });

  it('tells another process apart from this one, and follows changes to the map', async () => {
    const l = await listener();
    const pids = new Map<number, string>([[process.pid, 'me']]);
    const resolve = originByProcess(pids);
    const child = childDialer(l.port);
    const fromChild = await l.next();
    expect(await resolve(fromChild)).toBeUndefined();
    pids.set(child.pid!, 'child');
    expect(await resolve(fromChild)).toBe('child');
  });

  it('answers undefined when no pid is listed or the dialer has gone', async () => {
    const l = await listener();
    const client = await dial(l.port);
    const accepted = await l.next();
    expect(await originByProcess(new Map())(accepted)).toBeUndefined();
    client.destroy();
    await new Promise((resolve) => client.once('close', resolve));
    expect(await originByProcess(new Map([[process.pid, 'me']]))(accepted)).toBeUndefined();
  });
});

describe('firstOrigin', () => {
  it('takes the first defined answer, skipping failures', async () => {
    const l = await listener();
    const client = await dial(l.port);
    cleanup.push(() => client.destroy());
    const s = await l.next();
    const fails: OriginResolver = async () => { throw new Error('boom'); };
    const none: OriginResolver = async () => undefined;
    const a: OriginResolver = async () => 'a';
    const b: OriginResolver = async () => 'b';
    expect(await firstOrigin(fails, none, a, b)(s)).toBe('a');
    expect(await firstOrigin(none)(s)).toBeUndefined();
  });
});
