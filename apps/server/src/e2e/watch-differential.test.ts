// Differential test of the Watch service: the same watch requests and the same random writes
// against real etcd 3.4 and raftkv; every watcher's events must be the same, and so must the
// created / canceled / compacted responses. Response boundaries are not compared (etcd may
// batch catch-up revisions differently); events and control responses are, in order.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { WatchClient, etcdserverpb } from '@raftkv/api';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, putRequest, txnRequest, type EtcdClient } from '@raftkv/testkit';
import { normaliseResponse } from '@raftkv/testkit';
import { type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';

const ROUNDS = Number(process.env['RAFTKV_WATCH_DIFF_ROUNDS'] ?? 3);
const KEYS = ['w/a', 'w/b', 'w/c/1', 'w/c/2', 'x'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds; fails after a generous deadline (a wait on an event, not a timing assertion). */
async function until(what: string, done: () => boolean, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in ${limitMs} ms`);
    await sleep(10);
  }
}

interface Recorder { stream: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>; seen: Map<string, unknown[]> }

function record(client: WatchClient): Recorder {
  const stream = client.watch();
  const seen = new Map<string, unknown[]>();
  stream.on('data', (r: etcdserverpb.WatchResponse) => {
    const n = normaliseResponse(r) as Record<string, unknown>;
    const id = String(n['watchId']);
    const list = seen.get(id) ?? [];
    if (r.events.length > 0) {
      for (const ev of n['events'] as unknown[]) list.push({ event: ev });
    } else {
      // A control response: created / canceled / compacted (header revision kept for these).
      list.push({ created: r.created, canceled: r.canceled, compactRevision: String(r.compactRevision), cancelReason: r.cancelReason });
    }
    seen.set(id, list);
  });
  stream.on('error', () => undefined);
  return { stream, seen };
}

function createRequest(c: Partial<etcdserverpb.WatchCreateRequest>): etcdserverpb.WatchRequest {
  return {
    createRequest: {
      key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0), startRevision: 0n, progressNotify: false, filters: [],
      prevKv: false, watchId: 0n, fragment: false, ...c,
    },
  };
}

describe('Watch differential against etcd 3.4', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  let clients: EtcdClient[];
  let watchClients: WatchClient[];
  beforeAll(async () => {
    pair = await startPair();
    ({ etcd, raftkv } = pair);
    clients = [connect(etcd.endpoint), connect(raftkv.endpoint)];
    watchClients = [etcd, raftkv].map((s) => new WatchClient(s.endpoint, credentials.createInsecure()));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients ?? []) c.close();
    for (const w of watchClients ?? []) w.close();
    await pair?.stop();
  });

  for (let round = 0; round < ROUNDS; round++) {
    it(`round ${round}: every watcher sees what etcd's sees`, async () => {
      const rnd = new Random(100 + round);
      const writes: Array<(c: EtcdClient) => Promise<unknown>> = [];
      const write = (i: number) => {
        // Every random choice is made here, once, so both servers get the very same write.
        const key = Buffer.from(rnd.pick(KEYS));
        const other = Buffer.from(rnd.pick(KEYS.filter((k) => k !== key.toString())));
        const rangeEnd = rnd.bool(0.3) ? Buffer.from('w0') : Buffer.alloc(0);
        switch (rnd.int(4)) {
          case 0: case 1: return (c: EtcdClient) => c.put({ key, value: Buffer.from(`v${round}.${i}`) });
          case 2: return (c: EtcdClient) => c.deleteRange({ key, rangeEnd });
          default: return (c: EtcdClient) => c.txn(txnRequest({ success: [
            { requestPut: putRequest({ key, value: Buffer.from(`t${i}`) }) },
            { requestPut: putRequest({ key: other, value: Buffer.from(`u${i}`) }) },
          ] }));
        }
      };
      for (let i = 0; i < 40; i++) writes.push(write(i));
      const before = 15;
      // History first, the same on both.
      const base = await Promise.all(clients.map(async (c) => Number((await c.status()).header!.revision)));
      expect(base[1]).toBe(base[0]);
      for (const w of writes.slice(0, before)) for (const c of clients) await w(c);
      const compactAt = base[0]! + 3;
      if (round === 0) for (const c of clients) await c.compact({ revision: BigInt(compactAt) });

      const watchers: etcdserverpb.WatchRequest[] = [
        createRequest({ key: Buffer.from('w/'), rangeEnd: Buffer.from('w0'), startRevision: BigInt(base[0]! + 1), prevKv: true, watchId: 1n }),
        createRequest({ key: Buffer.from('w/a'), watchId: 2n }),
        createRequest({ key: Buffer.from('w/c/'), rangeEnd: Buffer.from('w/c0'), startRevision: BigInt(base[0]! + 5), filters: [etcdserverpb.WatchCreateRequest_FilterType.NODELETE], watchId: 3n }),
        createRequest({ key: Buffer.from('\0'), rangeEnd: Buffer.from('\0'), filters: [etcdserverpb.WatchCreateRequest_FilterType.NOPUT], prevKv: true, watchId: 4n }),
        createRequest({ key: Buffer.from('x'), startRevision: 1n, watchId: 5n }), // compacted in round 0
        createRequest({ key: Buffer.from('w/b'), watchId: 1n }), // a duplicate id
      ];
      const recorders = watchClients.map((w) => record(w));
      for (const r of recorders) for (const req of watchers) r.stream.write(req);
      // Every watch request answered on both before the writes: created (ids 1-5), or refused
      // (the duplicate id, answered as created and canceled under id -1, as etcd does).
      const answered = (r: Recorder) => ['1', '2', '3', '4', '5', '-1'].every((id) => (r.seen.get(id) ?? []).some((x) => !('event' in (x as object))));
      await until('every watch request answered', () => recorders.every(answered));
      for (const w of writes.slice(before)) for (const c of clients) await w(c);
      for (const r of recorders) r.stream.write({ cancelRequest: { watchId: 2n } });
      // The cancel is answered before the next write on both: otherwise whether watch 2 sees that
      // write is a race between two connections (it once did on etcd and not on raftkv).
      await until('watch 2 canceled', () => recorders.every((r) => (r.seen.get('2') ?? []).some((x) => (x as { canceled?: boolean }).canceled === true)));
      await clients[0]!.put({ key: Buffer.from('w/a'), value: Buffer.from('after-cancel') });
      await clients[1]!.put({ key: Buffer.from('w/a'), value: Buffer.from('after-cancel') });
      // A last write that watcher 4 (every key, deletes only) sees: once it arrived, so did
      // everything before it.
      for (const c of clients) {
        await c.put({ key: Buffer.from('w/zz-end'), value: Buffer.from('end') });
        await c.deleteRange({ key: Buffer.from('w/zz-end') });
      }
      await until('the last delete seen by watcher 4', () => recorders.every((r) => JSON.stringify(r.seen.get('4') ?? []).includes('w/zz-end')));
      // Other watchers of the stream may be a batch behind watcher 4: give them until they agree
      // (the comparison below says what differs if they never do).
      const snapshot = () => recorders.map((r) => JSON.stringify(Object.fromEntries([...r.seen].sort())));
      await until('the watchers to agree', () => { const [a, b] = snapshot(); return a === b; }, 5_000).catch(() => undefined);
      for (const r of recorders) r.stream.end();
      const [want, got] = recorders.map((r) => Object.fromEntries([...r.seen].sort()));
      expect(Object.keys(want!).length).toBeGreaterThan(3);
      expect(got).toEqual(want);
    }, 60_000);
  }
});
