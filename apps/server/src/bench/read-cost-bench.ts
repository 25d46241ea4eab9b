// Benchmark (not a test): the server's CPU time per read and per delivered watch event, for etcd
// and two builds of raftkv, interleaved runs. On a shared 2-core machine ops/s swing with other
// people's work; CPU time per operation moves far less, and it is what bounds throughput once the
// cores are busy. Rows: linearizable and serializable single-key gets, a 100-key range (16 in
// flight), watch fan-out (events delivered to W watchers on one prefix), lease keepalives.
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/read-cost-bench.js
//   BENCH_ROUNDS (default 3), BENCH_OPS (default 10000 per read row), BENCH_WATCHERS (default 1000,20000),
//   BENCH_EVENTS (events per watch row, default 200000), BENCH_SIDES (default etcd,before,after),
//   BENCH_ROWS (only rows whose name contains one of these words, e.g. get,range),
//   BENCH_CONNECTIONS (own: each of the 8 KV, 8 watch and 8 lease clients on its own connection,
//   the default; shared: grpc-js's one connection per set of options, as before wave 10).
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { LeaseClient, WatchClient, type etcdserverpb } from '@raftkv/api';
import type { EtcdClient } from '@raftkv/testkit';
import { channelOptions, connectionsFromEnv, countedOps, describeConnections, interleavedRounds, startReadSide } from './cost-sides.js';
import { latencySummary, median } from './matrix/stats.js';
import { cpuSeconds, VALUE_256 as VALUE } from './matrix/workloads.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const OPS = Number(process.env['BENCH_OPS'] ?? 10_000);
const WATCHERS = (process.env['BENCH_WATCHERS'] ?? '1000,20000').split(',').map(Number);
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200_000);
const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
/** Only rows whose name contains one of these words (default all). */
const ROWS = process.env['BENCH_ROWS']?.split(',');
const wanted = (row: string) => ROWS === undefined || ROWS.some((w) => row.includes(w));
const CONNECTIONS = connectionsFromEnv();
/** Where the watch and the lease clients' connection numbers start: apart from the 8 KV clients' (0-7). */
const WATCH_CLIENTS_FROM = 8;
const LEASE_CLIENTS_FROM = 16;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `clientCpuUs`: this bench process's own CPU per op. The client shares the two cores, so a server
 * whose answers cost the client more (more frames, more wake-ups) is slower at the same server CPU.
 */
interface Cell { cpuUs: number; clientCpuUs: number; perSec: number; p50Ms: number; p99Ms: number }

/** This process's CPU seconds so far (user + system, all threads). */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** `count` ops, `inFlight` at a time; server CPU per op, ops/s and latencies. */
async function ops(pid: number, clients: EtcdClient[], inFlight: number, count: number,
  op: (c: EtcdClient, i: number) => Promise<unknown>): Promise<Cell> {
  const cpu0 = cpuSeconds(pid);
  const own0 = ownCpuSeconds();
  const { seconds, latencies } = await countedOps(clients, inFlight, count, op);
  const clientCpuUs = ((ownCpuSeconds() - own0) / count) * 1e6;
  return { cpuUs: ((cpuSeconds(pid) - cpu0) / count) * 1e6, clientCpuUs, perSec: count / seconds, ...latencySummary(latencies) };
}

/** W watchers on one prefix over min(200, W) streams; puts (8 in flight) until `events` events arrived; CPU per event. */
async function watchCost(pid: number, endpoint: string, kv: EtcdClient, watchers: number, events: number): Promise<Cell> {
  const clients = Array.from({ length: 8 }, (_, i) => new WatchClient(endpoint, credentials.createInsecure(),
    { 'grpc.max_receive_message_length': -1, ...channelOptions(CONNECTIONS, WATCH_CLIENTS_FROM + i) }));
  const streams: Array<ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>> = [];
  const delays: number[] = [];
  let got = 0;
  let created = 0;
  try {
    for (let s = 0; s < Math.min(200, watchers); s++) {
      const stream = clients[s % clients.length]!.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => {
        if (r.created) created++;
        const now = performance.now();
        for (const ev of r.events) {
          got++;
          delays.push(now - Number(ev.kv!.value.toString()));
        }
      });
      stream.on('error', () => undefined);
      streams.push(stream);
    }
    for (let w = 0; w < watchers; w++) {
      streams[w % streams.length]!.write({ createRequest: { key: Buffer.from('bw/'), rangeEnd: Buffer.from('bw0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
    }
    while (created < watchers) await sleep(10);
    const puts = Math.max(1, Math.ceil(events / watchers));
    const expected = puts * watchers;
    // At most 8 puts in flight, and at most ~2 puts' worth of events undelivered: measures delivery, not queueing.
    const window = Math.max(1, Math.min(8, Math.floor((2 * Math.max(watchers, 1000)) / watchers)));
    let sent = 0;
    let acked = 0;
    const cpu0 = cpuSeconds(pid);
    const own0 = ownCpuSeconds();
    const t0 = performance.now();
    while (sent < puts) {
      while (sent < puts && sent - Math.floor(got / watchers) < window && sent - acked < 8) {
        sent++;
        void kv.put({ key: Buffer.from(`bw/${sent % 100}`), value: Buffer.from(String(performance.now())) }).then(() => { acked++; });
      }
      await sleep(0);
    }
    const deadline = performance.now() + 60_000;
    while (got < expected && performance.now() < deadline) await sleep(1);
    const secs = (performance.now() - t0) / 1000;
    if (got < expected) throw new Error(`watch ${watchers}: ${got} of ${expected} events`);
    const clientCpuUs = ((ownCpuSeconds() - own0) / expected) * 1e6;
    return { cpuUs: ((cpuSeconds(pid) - cpu0) / expected) * 1e6, clientCpuUs, perSec: expected / secs, ...latencySummary(delays) };
  } finally {
    for (const s of streams) s.end();
    for (const c of clients) c.close();
  }
}

/** 16 keepalive streams, 8 in flight each, `count` keepalives in all. */
async function keepaliveCost(pid: number, endpoint: string, ids: bigint[], count: number): Promise<Cell> {
  const clients = Array.from({ length: 8 }, (_, i) => new LeaseClient(endpoint, credentials.createInsecure(), channelOptions(CONNECTIONS, LEASE_CLIENTS_FROM + i)));
  const lat: number[] = [];
  let next = 0;
  const cpu0 = cpuSeconds(pid);
  const own0 = ownCpuSeconds();
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: 16 }, (_, s) => new Promise<void>((resolve, reject) => {
      const stream = clients[s % clients.length]!.leaseKeepAlive();
      const sentAt: number[] = [];
      let answered = 0;
      const send = () => {
        if (next >= count) return false;
        next++;
        sentAt.push(performance.now());
        stream.write({ ID: ids[next % ids.length]! });
        return true;
      };
      stream.on('data', () => {
        lat.push(performance.now() - sentAt[answered++]!);
        if (!send() && answered === sentAt.length) {
          stream.end();
          resolve();
        }
      });
      stream.on('error', reject);
      for (let i = 0; i < 8; i++) if (!send()) break;
      if (sentAt.length === 0) resolve();
    })));
  } finally {
    for (const c of clients) c.close();
  }
  const secs = (performance.now() - t0) / 1000;
  const clientCpuUs = ((ownCpuSeconds() - own0) / count) * 1e6;
  return { cpuUs: ((cpuSeconds(pid) - cpu0) / count) * 1e6, clientCpuUs, perSec: count / secs, ...latencySummary(lat) };
}

async function measure(side: string): Promise<Map<string, Cell>> {
  const { server, pid, clients, stop } = await startReadSide(side, CONNECTIONS, 1000);
  const out = new Map<string, Cell>();
  try {
    const k = (s: string) => Buffer.from(s);
    const cell = async (row: string, run: () => Promise<Cell>) => {
      if (wanted(row)) out.set(row, await run());
    };
    for (const n of [16, 128]) {
      await cell(`get linearizable x${n}`, () => ops(pid, clients, n, OPS, (c) => c.range({ key: k('bench/get') })));
      await cell(`get serializable x${n}`, () => ops(pid, clients, n, OPS, (c) => c.range({ key: k('bench/get'), serializable: true })));
    }
    await cell('range 100 keys x16', () => ops(pid, clients, 16, Math.ceil(OPS / 4), async (c) => {
      const r = await c.range({ key: k('range/'), rangeEnd: k('range0') });
      if (r.kvs.length !== 100) throw new Error(`range returned ${r.kvs.length} keys`);
    }));
    await cell('lease keepalive x128', async () => {
      const ids: bigint[] = [];
      for (let i = 0; i < 128; i++) ids.push((await clients[i % 8]!.leaseGrant(0n, 600n)).ID);
      return await keepaliveCost(pid, server.endpoint, ids, OPS);
    });
    for (const w of WATCHERS) await cell(`watch ${w} watchers`, () => watchCost(pid, server.endpoint, clients[0]!, w, EVENTS));
  } finally {
    await stop();
  }
  return out;
}

async function main(): Promise<void> {
  const runs = await interleavedRounds(SIDES, ROUNDS, measure, (round, side, r) => {
    console.log(`round ${round + 1} ${side}: ${[...r].map(([row, c]) => `${row} ${c.cpuUs.toFixed(1)} µs (client ${c.clientCpuUs.toFixed(1)}) ${c.perSec.toFixed(0)}/s p99 ${c.p99Ms.toFixed(1)}`).join('; ')}`);
  });
  const rows = [...runs.get(SIDES[0]!)![0]!.keys()];
  console.log(`\n${describeConnections(CONNECTIONS)}; medians of ${ROUNDS} interleaved rounds; server CPU µs per op (per event for watch rows) · the client's CPU µs per op · ops/s · p50/p99 ms`);
  console.log(`| row | ${SIDES.map((s) => `${s} µs | ${s} client µs | ${s} /s | ${s} p50/p99`).join(' | ')} |`);
  console.log(`|---|${SIDES.map(() => '---:|---:|---:|---:').join('|')}|`);
  for (const row of rows) {
    const cells = SIDES.map((s) => {
      const cs = runs.get(s)!.map((m) => m.get(row)!);
      const m = (f: (c: Cell) => number) => median(cs.map(f));
      return `${m((c) => c.cpuUs).toFixed(1)} | ${m((c) => c.clientCpuUs).toFixed(1)} | ${m((c) => c.perSec).toFixed(0)} | ${m((c) => c.p50Ms).toFixed(1)} / ${m((c) => c.p99Ms).toFixed(1)}`;
    });
    console.log(`| ${row} | ${cells.join(' | ')} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
