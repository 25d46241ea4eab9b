import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { originByRemoteAddress } from './connection-origin.js';
import { FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
import { dial, pending, read, recordingServer, heldAtProxy, until, type RecordingServer } from './loopback-fixtures.js';
import { freePort } from '../processes/ports.js';
import { Random } from '../random.js';

// Long enough for a loopback round trip on a loaded machine to show up if it were going to.

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(opts: { echo?: boolean } & Partial<FaultProxyOptions> = {}):
    Promise<{ target: RecordingServer; proxy: FaultProxy; open: (localAddress?: string) => Promise<Socket> }> {
  const target = await recordingServer({ echo: opts.echo ?? true });
  cleanup.push(() => target.close());
  const proxy = await FaultProxy.start({ ...opts, target: { host: '127.0.0.1', port: target.port } });
  cleanup.push(() => proxy.close());
  const open = async (localAddress?: string): Promise<Socket> => {
    const s = await dial(proxy.port, localAddress);
    s.on('error', () => {});
    cleanup.push(() => s.destroy());
    return s;
  };
  return { target, proxy, open };
}

/** A new connection is reset: at connect (on loopback the reset can beat the connect callback) or at its first read. */
async function expectResetOnDial(port: number, localAddress?: string): Promise<void> {
  let s: Socket;
  try {
    s = await dial(port, localAddress);
  } catch (err) {
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    return;
  }
  s.on('error', () => {});
  cleanup.push(() => s.destroy());
  s.write('never');
  expect(await read(s, 1)).toEqual({ kind: 'reset', code: 'ECONNRESET' });
}

async function echoes(s: Socket, text: string): Promise<void> {
  s.write(text);
  expect(await read(s, text.length)).toEqual({ kind: 'data', data: Buffer.from(text) });
}

describe('FaultProxy pass', () => {
  it('forwards 1 MiB both ways intact and counts it', async () => {
    const { target, proxy, open } = await setup();
    const s = await open();
    const payload = randomBytes(1024 * 1024);
    s.write(payload);
    const back = await read(s, payload.length);
    expect(back.kind).toBe('data');
    expect(back.kind === 'data' && back.data.equals(payload)).toBe(true);
    expect(target.received().equals(payload)).toBe(true);
    expect(proxy.stats).toMatchObject({
      connectionsAccepted: 1, connectionsOpen: 1, connectionsReset: 0,
      bytesToTarget: payload.length, bytesFromTarget: payload.length,
    });
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
  });

  it('passes a half-close on, and forgets the connection when both sides have ended', async () => {
    const { target, proxy, open } = await setup();
    const s = await open();
    await echoes(s, 'before-fin');
    s.end();
    // The echo server answers a FIN with its own; it must come back through the proxy.
    expect(await read(s, 1)).toEqual({ kind: 'end', data: Buffer.alloc(0) });
    expect(target.ended).toBe(1);
    await until(() => proxy.stats.connectionsOpen === 0, 'the proxied connection to be forgotten');
  });

  it('listens on the requested port', async () => {
    const port = await freePort();
    const { proxy, open } = await setup({ listenPort: port });
    expect(proxy.port).toBe(port);
    await echoes(await open(), 'x');
  });
});

describe('FaultProxy blackhole', () => {
  it('holds bytes of open and new connections without closing them, and delivers them in order on pass', async () => {
    const { target, proxy, open } = await setup();
    const a = await open();
    await echoes(a, 'hello');
    proxy.blackhole();

    expect(a.write('held-a')).toBe(true); // the dialer's write succeeds
    const b = await open(); // a new connection is accepted, as the network would carry the SYN
    b.write('held-b');
    const aReply = read(a, 'held-a'.length);
    const bReply = read(b, 'held-b'.length);
    // Both writes arrived at the proxy and sit unread: held, so no echo can have come back.
    await until(() => heldAtProxy(proxy) === 12, 'both writes held at the proxy');
    expect(await pending(aReply)).toBe('pending');
    expect(await pending(bReply)).toBe('pending');
    expect(target.received().toString()).toBe('hello');
    expect(target.accepted).toBe(1); // the target is not even dialed for b
    expect(a.destroyed || b.destroyed).toBe(false);
    expect(proxy.stats).toMatchObject({ bytesToTarget: 5, connectionsOpen: 2, connectionsReset: 0 });

    proxy.pass();
    expect(await aReply).toEqual({ kind: 'data', data: Buffer.from('held-a') });
    expect(await bReply).toEqual({ kind: 'data', data: Buffer.from('held-b') });
    await echoes(await open(), 'new-after-pass');
    expect(target.accepted).toBe(3);
  });

  it('holds a FIN back until the mode lets traffic through', async () => {
    const { target, proxy, open } = await setup();
    const s = await open();
    await echoes(s, 'x');
    proxy.blackhole();
    s.write('last');
    s.end();
    // 'last' sits unread at the proxy, and the FIN behind it: the proxy cannot have seen it.
    await until(() => heldAtProxy(proxy, s.localPort) >= 4, "'last' held at the proxy");
    expect(target.ended).toBe(0);
    expect(target.received().toString()).toBe('x');
    proxy.pass();
    await until(() => target.ended === 1, 'the held FIN to reach the target');
    expect(target.received().toString()).toBe('xlast');
  });

  it('holds a large write with backpressure and delivers every byte afterwards', async () => {
    const { target, proxy, open } = await setup({ echo: false, limits: { maxQueuedBytesPerDirection: 64 * 1024 } });
    const s = await open();
    s.write('a');
    await until(() => target.received().length === 1, 'the first byte');
    proxy.blackhole();
    const payload = randomBytes(8 * 1024 * 1024);
    // More than the socket buffers take: the dialer's write is buffered by Node, not refused.
    expect(s.write(payload)).toBe(false);
    await until(() => heldAtProxy(proxy, s.localPort) > 0, 'the payload held at the proxy');
    expect(target.received().length).toBe(1);
    proxy.pass();
    await until(() => target.received().length === 1 + payload.length, 'all 8 MiB to arrive', 10_000);
    expect(target.received().subarray(1).equals(payload)).toBe(true);
  });
});

describe('FaultProxy drop', () => {
  it('resets open connections and new ones, and recovers on pass', async () => {
    const { target, proxy, open } = await setup();
    const a = await open();
    await echoes(a, 'ok');
    const aOutcome = read(a, 1);
    proxy.drop();
    expect(await aOutcome).toEqual({ kind: 'reset', code: 'ECONNRESET' });

    // Accepted by the kernel, then reset before any byte moves.
    await expectResetOnDial(proxy.port);
    expect(target.received().toString()).toBe('ok');
    expect(proxy.stats.connectionsReset).toBe(2);

    proxy.pass();
    await echoes(await open(), 'again');
  });

  it('resets the dialer when the target refuses', async () => {
    const closedPort = await freePort();
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: closedPort } });
    cleanup.push(() => proxy.close());
    await expectResetOnDial(proxy.port);
    await until(() => proxy.stats.connectionsOpen === 0, 'the connection to be forgotten');
    expect(proxy.stats).toMatchObject({ connectionsReset: 1 });
  });

  it('resets connections over maxConnections', async () => {
    const { proxy, open } = await setup({ limits: { maxConnections: 2 } });
    const a = await open();
    const b = await open();
    await echoes(a, 'a');
    await echoes(b, 'b');
    await expectResetOnDial(proxy.port);
    await echoes(a, 'still');
    expect(proxy.stats).toMatchObject({ connectionsAccepted: 3, connectionsOpen: 2, connectionsReset: 1 });
  });
});

describe('FaultProxy delay', () => {
  it('adds latency to each direction and keeps the byte order', async () => {
    const { proxy, open } = await setup();
    const s = await open();
    proxy.delay(60);
    const parts = Array.from({ length: 40 }, (_, i) => `<${i}>`);
    const expected = parts.join('');
    const reply = read(s, expected.length);
    const t0 = Date.now();
    for (const p of parts) {
      s.write(p);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await reply).toEqual({ kind: 'data', data: Buffer.from(expected) });
    // 60 ms each way; a generous lower bound only (no upper bound on a shared machine).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  });

  it('never lets a later chunk overtake an earlier one when the delay shrinks', async () => {
    const { target, proxy, open } = await setup({ echo: false });
    const s = await open();
    proxy.delay(300);
    s.write('first,');
    await until(() => proxy.stats.bytesQueued === 'first,'.length, 'the proxy to have read and queued the first chunk');
    expect(target.received().length).toBe(0);
    proxy.pass();
    s.write('second');
    await until(() => target.received().length === 'first,second'.length, 'both chunks');
    expect(target.received().toString()).toBe('first,second');
  });

  it('rejects modes out of range', async () => {
    const { proxy } = await setup();
    expect(() => proxy.delay(-1)).toThrow(RangeError);
    expect(() => proxy.delay(60_001)).toThrow(RangeError);
    expect(() => proxy.delay(Number.NaN)).toThrow(RangeError);
    expect(() => proxy.lossy(1.5, () => 0)).toThrow(RangeError);
  });
});

describe('FaultProxy lossy', () => {
  it('cuts connections exactly as its seeded random decides', async () => {
    const { proxy, open } = await setup();
    const rng = new Random(42);
    proxy.lossy(0.5, () => rng.next());
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const s = await open();
      s.write('p');
      outcomes.push((await read(s, 1)).kind);
    }
    // One draw per chunk read: the dialer's byte, then (if kept) the echo on the way back.
    const replay = new Random(42);
    const expected = Array.from({ length: 12 }, () =>
      replay.next() < 0.5 || replay.next() < 0.5 ? 'reset' : 'data');
    expect(outcomes).toEqual(expected);
    expect(outcomes).toContain('reset');
    expect(outcomes).toContain('data');
  });

  it('cuts nothing at probability 0 and everything at 1', async () => {
    const { proxy, open } = await setup();
    proxy.lossy(0, () => 0);
    await echoes(await open(), 'kept');
    proxy.lossy(1, () => 0.999);
    const s = await open();
    s.write('x');
    expect(await read(s, 1)).toEqual({ kind: 'reset', code: 'ECONNRESET' });
  });
});

describe('FaultProxy per-origin modes', () => {
  it('applies a mode to connections from one source address only', async () => {
    const origins = new Map([['127.0.0.2', 'member-1'], ['127.0.0.3', 'member-2']]);
    const { target, proxy, open } = await setup({ resolveOrigin: originByRemoteAddress(origins) });
    const one = await open('127.0.0.2');
    const two = await open('127.0.0.3');
    await echoes(one, 'one');
    await echoes(two, 'two');

    proxy.setOriginMode('member-1', { kind: 'blackhole' });
    one.write('held');
    const oneReply = read(one, 4);
    await echoes(two, 'two-still-works');
    await echoes(await open('127.0.0.1'), 'unknown-origin-passes');
    await until(() => heldAtProxy(proxy, one.localPort) >= 4, "member-1's write held at the proxy");
    expect(await pending(oneReply)).toBe('pending');

    proxy.setOriginMode('member-1', undefined);
    expect(await oneReply).toEqual({ kind: 'data', data: Buffer.from('held') });
    expect(proxy.stats.connectionsByOrigin).toEqual(new Map([['member-1', 1], ['member-2', 1], ['', 1]]));
    expect(target.accepted).toBe(3);
  });

  it('gives unknown origins their own mode when configured', async () => {
    const origins = new Map([['127.0.0.2', 'member-1']]);
    const { proxy, open } = await setup({
      resolveOrigin: originByRemoteAddress(origins), unknownOriginMode: { kind: 'drop' } });
    await echoes(await open('127.0.0.2'), 'known');
    await expectResetOnDial(proxy.port, '127.0.0.9');
    expect(proxy.stats.connectionsByOrigin).toEqual(new Map([['member-1', 1], ['', 1]]));
  });
});

describe('FaultProxy close', () => {
  it('resets every connection and stops listening', async () => {
    const { proxy, open } = await setup();
    const s = await open();
    await echoes(s, 'x');
    const outcome = read(s, 1);
    const port = proxy.port;
    await proxy.close();
    expect(await outcome).toEqual({ kind: 'reset', code: 'ECONNRESET' });
    await expect(dial(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.close(); // idempotent
  });
});
