// Benchmark (not a test): where the slow events of the matrix's watch rows come from. The same
// load as the matrix's `watch W watchers` row (W watchers on one prefix over min(200, W) streams
// on 8 connections, a writer at BUDGET / W puts/s with at most 64 in flight, on a fresh server),
// but each put's times are kept: sent, answered, its first and its last event received. It prints
// what the matrix cannot tell apart:
// - the p99 of all events, and of the events of puts sent after the first COLD_MS (a fresh
//   process's first puts run cold code: if only the first puts are late, the tail is start-up);
// - how much of the worst 1% of events belong to puts of the first COLD_MS;
// - the put's own answer (the write path) against its events (the write path plus fan-out);
// - the spread from a put's first to its last event (fan-out and the client's decoding);
// - the client's event-loop delay (p99): the client shares the 2 cores, and a late client
//   makes every side's events late.
// Usage: BENCH_RAFTKV_BIN_BEFORE=/other/checkout/apps/server/bin/raftkv node apps/server/dist/bench/watch-tail-bench.js
//   BENCH_SIDES (default etcd,before,after), BENCH_ROUNDS (default 3), BENCH_WATCHERS (default 1000),
//   BENCH_EVENT_BUDGET (events/s asked, default 100000), BENCH_SECONDS (default 5), BENCH_COLD_MS (default 500).
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { WatchClient, type etcdserverpb } from '@raftkv/api';
import { connect, removeDir } from '@raftkv/testkit';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { interleavedRounds, startSide } from './cost-sides.js';
import { median } from './matrix/stats.js';
import { cpuSeconds } from './matrix/workloads.js';

const SIDES = (process.env['BENCH_SIDES'] ?? 'etcd,before,after').split(',');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const WATCHERS = Number(process.env['BENCH_WATCHERS'] ?? 1000);
const BUDGET = Number(process.env['BENCH_EVENT_BUDGET'] ?? 100_000);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const COLD_MS = Number(process.env['BENCH_COLD_MS'] ?? 500);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Tail {
  p50: number; p99: number; warmP99: number; coldShareOfWorst: number;
  ackP99: number; spreadP99: number; clientLagP99: number; cpuUsPerEvent: number; missing: number;
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function measure(side: string): Promise<Tail> {
  const server = await startSide(side);
  const endpoint = server.endpoint;
  const clients = Array.from({ length: 8 }, () => new WatchClient(endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }));
  const kv = connect(endpoint);
  const streams: Array<ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>> = [];
  const sentAt: number[] = [];
  const ackAt: number[] = [];
  const firstAt: number[] = [];
  const lastAt: number[] = [];
  const delays: number[] = [];
  const delayPut: number[] = [];
  let created = 0;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  try {
    for (let s = 0; s < Math.min(200, WATCHERS); s++) {
      const stream = clients[s % clients.length]!.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => {
        if (r.created) created++;
        if (r.events.length === 0) return;
        const now = performance.now();
        for (const ev of r.events) {
          // The value is the put's number: its send time is in sentAt.
          const i = Number(ev.kv!.value.toString());
          delays.push(now - sentAt[i]!);
          delayPut.push(i);
          firstAt[i] ??= now;
          lastAt[i] = now;
        }
      });
      stream.on('error', () => undefined);
      streams.push(stream);
    }
    for (let w = 0; w < WATCHERS; w++) {
      streams[w % streams.length]!.write({ createRequest: { key: Buffer.from('bw/'), rangeEnd: Buffer.from('bw0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
    }
    const createdBy = performance.now() + 120_000;
    while (created < WATCHERS && performance.now() < createdBy) await sleep(20);
    const putsPerSec = Math.max(1, Math.floor(BUDGET / WATCHERS));
    const cpu0 = cpuSeconds(server.child.pid!);
    lag.enable();
    const start = performance.now();
    let sent = 0;
    let answered = 0;
    while (performance.now() < start + SECONDS * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * putsPerSec);
      while (sent < due && sent - answered < 64) {
        const i = sent++;
        sentAt[i] = performance.now();
        void kv.put({ key: Buffer.from(`bw/${i % 100}`), value: Buffer.from(String(i)) }).then(() => { ackAt[i] = performance.now(); }, () => undefined)
          .finally(() => { answered++; });
      }
      await sleep(1);
    }
    const by = performance.now() + 30_000;
    while ((answered < sent || delays.length < sent * WATCHERS) && performance.now() < by) await sleep(5);
    lag.disable();
    const cpuUsPerEvent = ((cpuSeconds(server.child.pid!) - cpu0) * 1e6) / Math.max(1, delays.length);
    const coldPut = (i: number) => sentAt[i]! - start < COLD_MS;
    const worst = delays.map((_, k) => k).sort((a, b) => delays[b]! - delays[a]!).slice(0, Math.ceil(delays.length / 100));
    return {
      p50: quantile(delays, 0.5),
      p99: quantile(delays, 0.99),
      warmP99: quantile(delays.filter((_, k) => !coldPut(delayPut[k]!)), 0.99),
      coldShareOfWorst: worst.filter((k) => coldPut(delayPut[k]!)).length / Math.max(1, worst.length),
      ackP99: quantile(ackAt.map((t, i) => t - sentAt[i]!).filter((d) => !Number.isNaN(d)), 0.99),
      spreadP99: quantile(lastAt.map((t, i) => t - firstAt[i]!).filter((d) => !Number.isNaN(d)), 0.99),
      clientLagP99: lag.percentile(99) / 1e6,
      cpuUsPerEvent,
      missing: sent * WATCHERS - delays.length,
    };
  } finally {
    for (const s of streams) s.end();
    for (const c of clients) c.close();
    kv.close();
    await server.stop();
    removeDir(server.dataDir);
  }
}

const fmt = (t: Tail): string => `events p50 ${t.p50.toFixed(2)} p99 ${t.p99.toFixed(1)} ms, p99 after ${COLD_MS} ms ${t.warmP99.toFixed(1)}, ` +
  `worst 1% from the first ${COLD_MS} ms ${(t.coldShareOfWorst * 100).toFixed(0)}%, put answer p99 ${t.ackP99.toFixed(1)}, ` +
  `first->last event p99 ${t.spreadP99.toFixed(1)}, client loop delay p99 ${t.clientLagP99.toFixed(1)} ms, ${t.cpuUsPerEvent.toFixed(1)} µs/event` +
  (t.missing > 0 ? `, ${t.missing} events missing` : '');

const runs = await interleavedRounds(SIDES, ROUNDS, measure, (round, side, t) => console.log(`round ${round + 1} ${side}: ${fmt(t)}`));
console.log(`\nmedians of ${ROUNDS} interleaved rounds, ${WATCHERS} watchers, ${BUDGET} events/s asked, ${SECONDS} s`);
console.log('| side | p50 ms | p99 ms | p99 after cold ms | worst 1% cold | put p99 ms | first→last p99 ms | client lag p99 ms | µs/event |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [side, ts] of runs) {
  const m = (f: (t: Tail) => number) => median(ts.map(f));
  console.log(`| ${side} | ${m((t) => t.p50).toFixed(2)} | ${m((t) => t.p99).toFixed(1)} | ${m((t) => t.warmP99).toFixed(1)} | ${(m((t) => t.coldShareOfWorst) * 100).toFixed(0)}% | ` +
    `${m((t) => t.ackP99).toFixed(1)} | ${m((t) => t.spreadP99).toFixed(1)} | ${m((t) => t.clientLagP99).toFixed(1)} | ${m((t) => t.cpuUsPerEvent).toFixed(1)} |`);
}
