// A seeded fuzz of raw bytes at the door's port: random bytes, HTTP/2 prefaces followed by
// random or mutated frames, mutated HTTP/1.1 requests, each delivered in random pieces. The
// door must answer or close every connection, never crash, and a well-behaved gRPC and HTTP
// client working meanwhile must see no failure.
//
// Replay: FRONT_DOOR_FUZZ_SEED=<seed> [FRONT_DOOR_FUZZ_RUNS=<n>] npx vitest run src/front-door/front-door-fuzz.test.ts
import { credentials, Server } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import fc from 'fast-check';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notImplemented, unary } from '../grpc/unary.js';
import { openFrontDoor, type FrontDoor } from './front-door.js';
import { encodeHeaderBlock } from './header-block.js';
import { grpcServerOptions, resolveLimits } from './limits.js';

const SEED = Number(process.env['FRONT_DOOR_FUZZ_SEED'] ?? 20261206);
const RUNS = Number(process.env['FRONT_DOOR_FUZZ_RUNS'] ?? 150);
/** The door's handshake and header timeouts here: every stalled input ends within a second or so. */
const TIMEOUT_MS = 300;
const LIMITS = resolveLimits({
  handshakeTimeoutMs: TIMEOUT_MS, headersTimeoutMs: TIMEOUT_MS, requestTimeoutMs: TIMEOUT_MS, idleTimeoutMs: TIMEOUT_MS,
  keepaliveIntervalMs: 1_000, keepaliveTimeoutMs: 1_000,
});

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, stream: number, payload: Buffer, length = payload.length): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

/** A frame with random fields; sometimes its length field lies. */
const randomFrame = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 })),
  flags: fc.integer({ min: 0, max: 255 }),
  stream: fc.oneof(fc.constantFrom(0, 1, 3, 5), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  payload: bytes(64),
  lie: fc.option(fc.integer({ min: 0, max: 2 ** 24 - 1 }), { freq: 8 }),
}).map((f) => frame(f.type, f.flags, f.stream, f.payload, f.lie ?? f.payload.length));

const grpcRequest = (authority: string): Buffer => Buffer.concat([
  frame(4, 0, 0, Buffer.alloc(0)), frame(4, 1, 0, Buffer.alloc(0)),
  frame(1, 0x4, 1, encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.Maintenance/Status'],
    [':authority', authority], ['content-type', 'application/grpc'], ['te', 'trailers']].map(([name, value]) => ({ name: name!, value: value!, neverIndex: false })))),
  frame(0, 1, 1, Buffer.alloc(5)),
]);

/** Flips, overwrites or cuts some bytes of `base`. */
const mutated = (base: Buffer) => fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 })
  .chain((edits) => fc.nat({ max: base.length }).map((cut) => {
    const out = Buffer.from(base);
    for (const e of edits) out[e.at % out.length] = e.value;
    return out.subarray(0, Math.max(cut, Math.floor(base.length / 2)));
  }));

const input = fc.oneof(
  bytes(2_000),
  fc.array(randomFrame, { maxLength: 12 }).map((frames) => Buffer.concat([PREFACE, ...frames])),
  fc.constantFrom('127.0.0.1:2379', 'http://127.0.0.1:2379', 'unix:///tmp/x').chain((a) => mutated(Buffer.concat([PREFACE, grpcRequest(a)]))),
  fc.constantFrom('GET /version HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{}{}')
    .chain((text) => mutated(Buffer.from(text, 'latin1'))),
  fc.tuple(fc.array(randomFrame, { maxLength: 4 }), bytes(200)).map(([frames, tail]) => Buffer.concat([PREFACE, grpcRequest('h:1'), ...frames, tail])),
);

/** Sends `data` in pieces of the given sizes; resolves once the door answered (any byte) or closed, or after `maxMs`. */
function deliver(port: number, data: Buffer, pieces: number[], endAfter: boolean, maxMs: number): Promise<'answered' | 'closed' | 'silent'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    let settled = false;
    const settle = (how: 'answered' | 'closed' | 'silent'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => settle('silent'), maxMs);
    s.on('data', () => settle('answered'));
    s.on('close', () => settle('closed'));
    s.on('error', () => {});
    s.on('connect', async () => {
      let at = 0;
      for (let i = 0; at < data.length && !s.destroyed; i++) {
        const n = Math.max(1, pieces[i % pieces.length]!);
        s.write(data.subarray(at, at + n));
        at += n;
        await new Promise((r) => setImmediate(r));
      }
      if (endAfter && !s.destroyed) s.end();
    });
  });
}

describe(`front door fuzz (seed ${SEED}, ${RUNS} runs)`, () => {
  let server: Server;
  let door: FrontDoor;
  let port: number;
  beforeAll(async () => {
    server = new Server(grpcServerOptions(LIMITS));
    server.addService(etcdserverpb.MaintenanceService, {
      status: unary(() => ({
        header: { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n }, version: '3.4.23', dbSize: 1n, dbSizeInUse: 1n, leader: 2n,
        raftIndex: 9n, raftTerm: 3n, raftAppliedIndex: 9n, errors: [], isLearner: false, storageVersion: '', dbSizeQuota: 0n, downgradeInfo: undefined,
      })),
      hashKv: notImplemented('Maintenance.HashKV'), alarm: notImplemented('Maintenance.Alarm'), hash: notImplemented('Maintenance.Hash'),
      defragment: notImplemented('Maintenance.Defragment'), snapshot: (call) => call.destroy(new Error('no')),
      moveLeader: notImplemented('Maintenance.MoveLeader'), downgrade: notImplemented('Maintenance.Downgrade'),
    } as etcdserverpb.MaintenanceServer);
    door = await openFrontDoor({
      grpcServer: server, clientUrls: [new URL('http://127.0.0.1:0')],
      limits: LIMITS,
    });
    port = Number(door.endpoints[0]!.split(':')[1]);
  });
  afterAll(async () => {
    await door.close();
    server.forceShutdown();
  });

  it('answers or closes every connection, never crashes, and a concurrent well-behaved client keeps working', async () => {
    console.log(`[front-door fuzz] seed ${SEED}, ${RUNS} runs (replay: FRONT_DOOR_FUZZ_SEED=${SEED})`);
    // The well-behaved clients: one long-lived gRPC channel (URL-form authority, so through the
    // relay) and HTTP/1.1 requests, in a loop for the whole run.
    const grpc = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.default_authority': `http://127.0.0.1:${port}` });
    let stop = false;
    const failures: string[] = [];
    let served = 0;
    const good = (async () => {
      while (!stop) {
        try {
          const res = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) => grpc.status({}, (err, r) => (err ? reject(err) : resolve(r))));
          if (res.version !== '3.4.23') failures.push(`gRPC answered ${res.version}`);
          const http = await fetch(`http://127.0.0.1:${port}/version`);
          if (http.status !== 200) failures.push(`HTTP /version answered ${http.status}`);
          await http.text();
          served++;
        } catch (err) {
          failures.push(String(err));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const outcomes = { answered: 0, closed: 0, silent: 0 };
    try {
      await fc.assert(fc.asyncProperty(input, fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }), fc.boolean(),
        async (data, pieces, endAfter) => {
          const how = await deliver(port, data, pieces, endAfter, 5 * TIMEOUT_MS + 2_000);
          outcomes[how]++;
          expect(how).not.toBe('silent');
        }), { seed: SEED, numRuns: RUNS });
    } finally {
      stop = true;
      await good;
      grpc.close();
    }
    console.log(`[front-door fuzz] ${RUNS} inputs: ${outcomes.answered} answered, ${outcomes.closed} closed without an answer; ` +
      `well-behaved client rounds meanwhile: ${served}`);
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);
    // Every connection ends: the fuzz's once the client left (those Node's HTTP/2 stopped reading
    // after a connection error at the next keepalive ping), the good client's once it closed.
    const deadline = Date.now() + 30_000;
    while (door.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(door.openConnections).toBe(0);
  }, 600_000);
});
