import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dial, pending, read, recordingServer, heldAtProxy, until, type ReadOutcome } from './loopback-fixtures.js';
import type { FaultProxy } from './fault-proxy.js';
import { Partition, type PartitionOptions } from './partition.js';

const MEMBER_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Three echoing "members" behind a Partition, each dialing from its own loopback address. */
async function cluster(opts: Omit<PartitionOptions, 'members'> = {}): Promise<Partition> {
  const targets = await Promise.all(MEMBER_ADDRESSES.map(() => recordingServer({ echo: true })));
  cleanup.push(() => Promise.all(targets.map((t) => t.close())));
  const net = await Partition.start({
    ...opts,
    members: targets.map((t, i) => ({ target: { host: '127.0.0.1', port: t.port }, origin: { address: MEMBER_ADDRESSES[i]! } })),
  });
  cleanup.push(() => net.close());
  return net;
}

interface Probe { socket?: Socket; proxy: FaultProxy; outcome: Promise<ReadOutcome | { kind: 'refused' }> }

/** Member `from` dials member `to`'s peer URL and sends a ping; the outcome is the echo, a reset, or never. */
async function probe(net: Partition, from: number | string, to: number): Promise<Probe> {
  const address = typeof from === 'number' ? MEMBER_ADDRESSES[from]! : from;
  let socket: Socket;
  try {
    socket = await dial(net.proxies[to]!.port, address);
  } catch (err) {
    // A drop can reset a connection before the dialer's connect callback runs.
    expect(err).toMatchObject({ code: 'ECONNRESET' });
    return { proxy: net.proxies[to]!, outcome: Promise.resolve({ kind: 'reset', code: 'ECONNRESET' }) };
  }
  socket.on('error', () => {});
  cleanup.push(() => socket.destroy());
  socket.write('ping');
  return { socket, proxy: net.proxies[to]!, outcome: read(socket, 4) };
}

/** Waits until the probe's ping sits unread at the proxy (held), then whether it is still unanswered. */
async function held(p: Probe): Promise<unknown> {
  await until(() => heldAtProxy(p.proxy, p.socket!.localPort) >= 4, 'the ping held at the proxy');
  return pending(p.outcome);
}

const PING: ReadOutcome = { kind: 'data', data: Buffer.from('ping') };
const RESET: ReadOutcome = { kind: 'reset', code: 'ECONNRESET' };

/** Probes every ordered pair at once; a link expected cut must hold its ping (see `held`). */
async function matrix(net: Partition): Promise<Map<string, Probe>> {
  const probes = new Map<string, Probe>();
  for (let i = 0; i < net.size; i++) {
    for (let j = 0; j < net.size; j++) if (i !== j) probes.set(`${i}>${j}`, await probe(net, i, j));
  }
  return probes;
}

async function expectLinks(probes: Map<string, Probe>, cut: string[], cutOutcome: 'held' | 'reset'): Promise<void> {
  const outcomes = new Map<string, unknown>();
  await Promise.all([...probes].map(async ([link, p]) => {
    if (cut.includes(link) && cutOutcome === 'held') outcomes.set(link, await held(p));
    else outcomes.set(link, await p.outcome);
  }));
  const expected = new Map([...probes.keys()].map((link) =>
    [link, cut.includes(link) ? (cutOutcome === 'held' ? 'pending' : RESET) : PING]));
  expect(outcomes).toEqual(expected);
}

describe('Partition', () => {
  it('isolate cuts one member off both ways; heal delivers what was held and lets new connections through', async () => {
    const net = await cluster();
    net.isolate(0);
    const probes = await matrix(net);
    await expectLinks(probes, ['0>1', '0>2', '1>0', '2>0'], 'held');
    expect(net.isCut(0, 1) && net.isCut(1, 0) && !net.isCut(1, 2)).toBe(true);

    net.heal();
    for (const link of ['0>1', '0>2', '1>0', '2>0']) expect(await probes.get(link)!.outcome).toEqual(PING);
    await expectLinks(await matrix(net), [], 'held');
    expect(net.proxies[1]!.stats.connectionsByOrigin.get(Partition.label(0))).toBe(2);
  });

  it('partition splits into groups, with resets when cut is drop', async () => {
    const net = await cluster({ cut: 'drop' });
    net.partition([[0, 1], [2]]);
    await expectLinks(await matrix(net), ['0>2', '1>2', '2>0', '2>1'], 'reset');
    // A later partition replaces the earlier one.
    net.partition([[0], [1, 2]]);
    await expectLinks(await matrix(net), ['0>1', '0>2', '1>0', '2>0'], 'reset');
  });

  it('cutLink cuts only the connections one member dials to another', async () => {
    const net = await cluster();
    net.cutLink(0, 1);
    await expectLinks(await matrix(net), ['0>1'], 'held');
    net.healLink(0, 1);
    await expectLinks(await matrix(net), [], 'held');
  });

  it('resets connections from unknown origins by default, and passes them when asked', async () => {
    const strict = await cluster();
    expect(await (await probe(strict, '127.0.0.9', 0)).outcome).toEqual(RESET);
    const lenient = await cluster({ unknownOrigins: 'pass' });
    expect(await (await probe(lenient, '127.0.0.9', 0)).outcome).toEqual(PING);
  });

  it('recognises members by pid, and follows a member restart', async () => {
    const target = await recordingServer({ echo: true });
    const other = await recordingServer({ echo: true });
    cleanup.push(() => target.close(), () => other.close());
    const net = await Partition.start({ members: [
      { target: { host: '127.0.0.1', port: target.port }, origin: { pid: 0 } },
      { target: { host: '127.0.0.1', port: other.port }, origin: { pid: 0 } },
    ] });
    cleanup.push(() => net.close());
    // Member 1 "is" this test process: its dials to member 0 are recognised by pid.
    net.setMemberPid(1, process.pid);
    expect(await (await probe(net, '127.0.0.1', 0)).outcome).toEqual(PING);
    net.isolate(1);
    expect(await held(await probe(net, '127.0.0.1', 0))).toBe('pending');
    // After a "restart" under another pid, this process is no longer member 1: unknown, reset.
    net.setMemberPid(1, 2 ** 22 + 1);
    net.heal();
    expect(await (await probe(net, '127.0.0.1', 0)).outcome).toEqual(RESET);
    expect(net.proxies[0]!.stats.connectionsByOrigin).toEqual(new Map([[Partition.label(1), 2], ['', 1]]));
  });

  it('rejects bad member numbers and groups', async () => {
    const net = await cluster();
    expect(() => net.isolate(3)).toThrow(RangeError);
    expect(() => net.cutLink(-1, 0)).toThrow(RangeError);
    expect(() => net.partition([[0, 1]])).toThrow(RangeError);
    expect(() => net.partition([[0, 1], [1, 2]])).toThrow(RangeError);
    expect(() => net.peerUrl(1.5)).toThrow(RangeError);
    expect(net.peerUrl(2)).toBe(`http://127.0.0.1:${net.proxies[2]!.port}`);
    await expect(Partition.start({ members: [] })).rejects.toThrow(RangeError);
  });
});
