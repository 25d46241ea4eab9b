// Benchmark (not a test): watch fan-out and lease keepalives, raftkv vs real etcd 3.4 in one run.
//   watch: W watchers over S streams on one prefix, a writer at a steady rate; events/s
//          delivered, p50/p99 put-to-event delay, server memory.
//   lease: L leases kept alive over S streams; keepalives/s, server CPU per keepalive, memory.
// Usage: pnpm bench:watch-lease  (BENCH_SECONDS, BENCH_WATCHERS=10000,100000, BENCH_LEASES)
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { LeaseClient, WatchClient, type etcdserverpb } from '@raftkv/api';
import { readFileSync } from 'node:fs';
import { connect } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const WATCHER_COUNTS = (process.env['BENCH_WATCHERS'] ?? '10000,100000').split(',').map(Number);
const LEASES = Number(process.env['BENCH_LEASES'] ?? 100_000);
const STREAMS = 200;
/** Events per second the writer aims at in total (watchers x puts/s), so the client keeps up. */
const EVENT_BUDGET = Number(process.env['BENCH_EVENTS_PER_SEC'] ?? 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface WatchCell { watchers: number; putsPerSec: number; eventsPerSec: number; p50Ms: number; p99Ms: number; rssMiB: number }

async function watchBench(server: ServerProcess, watchers: number): Promise<WatchCell> {
  const clients = Array.from({ length: 8 }, () => new WatchClient(server.endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }));
  const streams: Array<ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>> = [];
  const delays: number[] = [];
  let events = 0;
  let created = 0;
  for (let s = 0; s < STREAMS; s++) {
    const stream = clients[s % clients.length]!.watch();
    stream.on('data', (r: etcdserverpb.WatchResponse) => {
      if (r.created) created++;
      const now = performance.now();
      for (const ev of r.events) {
        events++;
        if ((events & 63) === 0) delays.push(now - Number(ev.kv!.value.toString()));
      }
    });
    stream.on('error', () => undefined);
    streams.push(stream);
  }
  for (let w = 0; w < watchers; w++) {
    streams[w % STREAMS]!.write({ createRequest: { key: Buffer.from('bw/'), rangeEnd: Buffer.from('bw0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
  }
  const createdBy = performance.now() + 120_000;
  while (created < watchers && performance.now() < createdBy) await sleep(50);
  const rssAfterCreate = rssMiB(server.child.pid!);
  const kv = connect(server.endpoint);
  const putsPerSec = Math.max(1, Math.floor(EVENT_BUDGET / watchers));
  events = 0;
  delays.length = 0;
  const start = performance.now();
  let puts = 0;
  while (performance.now() - start < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * putsPerSec);
    while (puts < due) {
      puts++;
      void kv.put({ key: Buffer.from(`bw/${puts % 100}`), value: Buffer.from(String(performance.now())) });
    }
    await sleep(2);
  }
  await sleep(1000); // let the last events arrive
  const elapsed = (performance.now() - start) / 1000;
  const rss = Math.max(rssAfterCreate, rssMiB(server.child.pid!));
  for (const s of streams) s.end();
  for (const c of clients) c.close();
  kv.close();
  delays.sort((a, b) => a - b);
  return { watchers, putsPerSec, eventsPerSec: events / elapsed, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), rssMiB: rss };
}

interface LeaseCell { leases: number; keepalivesPerSec: number; cpuMsPer1k: number; rssMiB: number; grantsPerSec: number }

async function leaseBench(server: ServerProcess): Promise<LeaseCell> {
  const clients = Array.from({ length: 8 }, () => new LeaseClient(server.endpoint, credentials.createInsecure()));
  const ids: bigint[] = [];
  const grantStart = performance.now();
  const GRANT_CONCURRENCY = 128;
  let next = 0;
  await Promise.all(Array.from({ length: GRANT_CONCURRENCY }, async (_, w) => {
    const client = clients[w % clients.length]!;
    while (next < LEASES) {
      next++;
      const res = await new Promise<etcdserverpb.LeaseGrantResponse>((resolve, reject) =>
        client.leaseGrant({ ID: 0n, TTL: 600n }, (err, r) => (err ? reject(err) : resolve(r))));
      ids.push(res.ID);
    }
  }));
  const grantsPerSec = LEASES / ((performance.now() - grantStart) / 1000);
  const streams = Array.from({ length: STREAMS }, (_, s) => clients[s % clients.length]!.leaseKeepAlive());
  let answered = 0;
  for (const s of streams) {
    s.on('data', () => { answered++; });
    s.on('error', () => undefined);
  }
  // Each stream keeps its share of the leases alive, with a bounded number in flight.
  const perStream = streams.map((_, s) => ids.filter((_, i) => i % STREAMS === s));
  const cpu0 = cpuSeconds(server.child.pid!);
  const start = performance.now();
  answered = 0;
  let sent = 0;
  const WINDOW = 256;
  while (performance.now() - start < SECONDS * 1000) {
    for (let s = 0; s < STREAMS; s++) {
      const mine = perStream[s]!;
      for (let k = 0; k < 8 && sent - answered < WINDOW * STREAMS; k++) {
        streams[s]!.write({ ID: mine[(sent + k) % mine.length]! });
        sent++;
      }
    }
    await sleep(1);
  }
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(server.child.pid!) - cpu0;
  const rss = rssMiB(server.child.pid!);
  for (const s of streams) s.end();
  for (const c of clients) c.close();
  return { leases: LEASES, keepalivesPerSec: answered / elapsed, cpuMsPer1k: (cpu * 1000) / (answered / 1000), rssMiB: rss, grantsPerSec };
}

async function main(): Promise<void> {
  const watch: Record<string, WatchCell[]> = {};
  const lease: Record<string, LeaseCell> = {};
  for (const [name, start] of [['etcd', startEtcd], ['raftkv', startRaftkv]] as const) {
    for (const w of WATCHER_COUNTS) {
      const server = await start({ raftkvBin });
      try {
        (watch[name] ??= []).push(await watchBench(server, w));
      } finally {
        await server.stop();
        removeDir(server.dataDir);
      }
    }
    const server = await start({ raftkvBin });
    try {
      lease[name] = await leaseBench(server);
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  }
  console.log(`\nwatch: ${STREAMS} streams, one prefix, ${SECONDS}s of writes at ${EVENT_BUDGET} events/s in total\n`);
  console.log('| watchers | puts/s | server | events/s | put→event p50 / p99 ms | server RSS MiB |');
  console.log('|---:|---:|---|---:|---:|---:|');
  for (let i = 0; i < WATCHER_COUNTS.length; i++) {
    for (const name of ['etcd', 'raftkv']) {
      const c = watch[name]![i]!;
      console.log(`| ${c.watchers} | ${c.putsPerSec} | ${name} | ${c.eventsPerSec.toFixed(0)} | ${c.p50Ms.toFixed(1)} / ${c.p99Ms.toFixed(1)} | ${c.rssMiB.toFixed(0)} |`);
    }
  }
  console.log(`\nlease: ${LEASES} leases (TTL 600 s), kept alive over ${STREAMS} streams for ${SECONDS}s\n`);
  console.log('| server | grants/s | keepalives/s | server CPU ms per 1k keepalives | server RSS MiB |');
  console.log('|---|---:|---:|---:|---:|');
  for (const name of ['etcd', 'raftkv']) {
    const c = lease[name]!;
    console.log(`| ${name} | ${c.grantsPerSec.toFixed(0)} | ${c.keepalivesPerSec.toFixed(0)} | ${c.cpuMsPer1k.toFixed(1)} | ${c.rssMiB.toFixed(0)} |`);
  }
  const ratio = lease['raftkv']!.keepalivesPerSec / lease['etcd']!.keepalivesPerSec;
  console.log(`\nraftkv/etcd keepalives/s: ${ratio.toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
