// Load generators shared by the benchmarks: closed-loop request workers, watch fan-out, lease
// keepalive streams, bulk loading, and the server-side figures read from /proc.
import { credentials, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { LeaseClient, WatchClient, type etcdserverpb } from '@raftkv/api';
import { readFileSync } from 'node:fs';
import { connect, type EtcdClient } from '@raftkv/testkit';
import type { CellMembers } from './member-probe.js';
import { latencySummary } from './stats.js';

/** One measured cell: the figure (ops/s, events/s, ms, bytes/key: the row says which), its latencies and failures. */
export interface Sample {
  value: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Requests that failed (not timed), events that never arrived, checks that did not hold. */
  errors: number;
  /** The side's members at the cell's start and end (key-value cells; not over TLS). */
  members?: CellMembers;
}

export const VALUE_256 = Buffer.alloc(256, 'v');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `inFlight` workers each send `op` when their previous one answered, for `seconds`; ops/s
 * counts answered requests, failed ones are counted as errors and not timed. Worker w uses
 * connection w mod clients.length.
 */
export async function closedLoop(clients: EtcdClient[], inFlight: number, seconds: number,
  op: (c: EtcdClient, i: number, worker: number) => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  let errors = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await op(client, n++, w);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
        // A server refusing fast would otherwise spin this loop.
        await sleep(1);
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  return { value: latencies.length / elapsed, ...latencySummary(latencies), errors };
}

/**
 * Options that give a grpc-js client a connection of its own: grpc-js shares one HTTP/2
 * connection among every client of the same target, credentials and options, so without them
 * "8 connections" were one (all of a row's requests in one socket's reads and writes).
 */
export const ownConnection = (i: number): Record<string, number> => ({ 'raftkv.bench.connection': i });

export function connections(endpoint: string, count: number, creds?: ChannelCredentials): EtcdClient[] {
  return Array.from({ length: count }, (_, i) => connect(endpoint, creds, ownConnection(i)));
}

/** Writes `keys` keys with `value` as txns of up to 100 puts (at most ~1 MiB each), 8 in flight; resolves with the wall time in ms. */
export async function loadKeys(client: EtcdClient, keys: number, value: Buffer = VALUE_256, prefix = 'load/'): Promise<number> {
  // Under both servers' default request limit (1.5 MiB) whatever the value size.
  const PER_TXN = Math.max(1, Math.min(100, Math.floor(1024 * 1024 / (value.length + 64))));
  const txns = Math.ceil(keys / PER_TXN);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let t = next++; t < txns; t = next++) {
      const success: etcdserverpb.RequestOp[] = [];
      for (let i = t * PER_TXN; i < Math.min(keys, (t + 1) * PER_TXN); i++) {
        success.push({ requestPut: { key: Buffer.from(`${prefix}${String(i).padStart(8, '0')}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
      }
      await client.txn({ success });
    }
  }));
  return performance.now() - t0;
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s. */
const TICKS_PER_SECOND = 100;

/** User + system CPU time a process has used so far, in seconds (Linux). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Warm-up puts go to `bw/w…`: byte 3 of their key tells their events from the measured ones (`bw/0`…`bw/99`). */
const WARMUP_KEY_MARK = 'w'.charCodeAt(0);

export interface WatchFanOutOptions {
  watchers: number;
  seconds: number;
  /** Events per second asked of the server in total (watchers × puts/s); the writer's rate follows. */
  eventBudget: number;
  /** Seconds of the same writing before the measured window; its events are not counted. */
  warmupSeconds?: number;
  creds?: ChannelCredentials;
}

/**
 * `watchers` watchers on one prefix over up to 200 streams (8 connections), then a writer at
 * eventBudget / watchers puts/s (at most 64 in flight): first for `warmupSeconds` on keys of
 * its own, whose events are not counted (JIT and buffers warmed, as the other rows are before
 * their cells), then for `seconds`. The figure is events delivered per second; latencies are
 * put sent → event received. Events still missing 5 s after the last put answered are errors.
 */
export async function watchFanOut(endpoint: string, o: WatchFanOutOptions): Promise<Sample> {
  const creds = o.creds ?? credentials.createInsecure();
  const clients = Array.from({ length: 8 }, (_, i) => new WatchClient(endpoint, creds, { 'grpc.max_receive_message_length': -1, ...ownConnection(i) }));
  const streamCount = Math.min(200, o.watchers);
  const streams: Array<ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>> = [];
  const delays: number[] = [];
  let events = 0;
  let warmupEvents = 0;
  let created = 0;
  let lastEventAt = 0;
  const kv = connect(endpoint, o.creds);
  try {
    for (let s = 0; s < streamCount; s++) {
      const stream = clients[s % clients.length]!.watch();
      stream.on('data', (r: etcdserverpb.WatchResponse) => {
        if (r.created) created++;
        if (r.events.length === 0) return;
        const now = performance.now();
        for (const ev of r.events) {
          if (ev.kv!.key[3] === WARMUP_KEY_MARK) {
            warmupEvents++;
            continue;
          }
          lastEventAt = now;
          events++;
          delays.push(now - Number(ev.kv!.value.toString()));
        }
      });
      stream.on('error', () => undefined);
      streams.push(stream);
    }
    for (let w = 0; w < o.watchers; w++) {
      streams[w % streamCount]!.write({ createRequest: { key: Buffer.from('bw/'), rangeEnd: Buffer.from('bw0'), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
    }
    const createdBy = performance.now() + 120_000;
    while (created < o.watchers && performance.now() < createdBy) await sleep(20);
    if (created < o.watchers) return { value: NaN, errors: o.watchers - created };
    const putsPerSec = Math.max(1, Math.floor(o.eventBudget / o.watchers));
    /** Writes at putsPerSec for `seconds`, waits for the answers (30 s at most) and the events (5 s at most). */
    const write = async (seconds: number, keyPrefix: string, delivered: () => number) => {
      const start = performance.now();
      const end = start + seconds * 1000;
      let sent = 0;
      let acked = 0;
      let failed = 0;
      const inFlight = () => sent - acked - failed;
      while (performance.now() < end) {
        const due = Math.floor(((performance.now() - start) / 1000) * putsPerSec);
        while (sent < due && inFlight() < 64) {
          sent++;
          kv.put({ key: Buffer.from(`${keyPrefix}${sent % 100}`), value: Buffer.from(String(performance.now())) })
            .then(() => { acked++; }, () => { failed++; });
        }
        await sleep(1);
      }
      const answersBy = performance.now() + 30_000;
      while (inFlight() > 0 && performance.now() < answersBy) await sleep(5);
      const expected = acked * o.watchers;
      const drainBy = performance.now() + 5000;
      while (delivered() < expected && performance.now() < drainBy) await sleep(5);
      return { start, end, failed: failed + inFlight(), missing: Math.max(0, expected - delivered()) };
    };
    if ((o.warmupSeconds ?? 0) > 0) await write(o.warmupSeconds!, 'bw/w', () => warmupEvents);
    // Puts unanswered 30 s after the writes stopped count as failed, events missing 5 s later too.
    const run = await write(o.seconds, 'bw/', () => events);
    const elapsed = (Math.max(lastEventAt, run.end) - run.start) / 1000;
    return { value: events / elapsed, ...latencySummary(delays), errors: run.failed + run.missing };
  } finally {
    for (const s of streams) s.end();
    for (const c of clients) c.close();
    kv.close();
  }
}

/** Grants leases (TTL 600 s) back to back with `inFlight` workers for `seconds`; the ids go to `granted`. */
export async function leaseGrants(clients: EtcdClient[], inFlight: number, seconds: number, granted: bigint[]): Promise<Sample> {
  return closedLoop(clients, inFlight, seconds, async (c) => {
    granted.push((await c.leaseGrant(0n, 600n)).ID);
  });
}

/**
 * Keeps `ids` alive over `streams` LeaseKeepAlive streams with `perStream` keepalives in
 * flight on each, for `seconds`. A stream answers in order, so each answer's latency is
 * taken against the oldest keepalive of its stream still unanswered.
 */
export async function leaseKeepAlives(endpoint: string, ids: readonly bigint[], streams: number, perStream: number,
  seconds: number, creds?: ChannelCredentials): Promise<Sample> {
  if (ids.length === 0) return { value: NaN, errors: 1 };
  const clients = Array.from({ length: 8 }, (_, i) => new LeaseClient(endpoint, creds ?? credentials.createInsecure(), ownConnection(i)));
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  try {
    await Promise.all(Array.from({ length: streams }, (_, s) => new Promise<void>((resolve) => {
      const stream = clients[s % clients.length]!.leaseKeepAlive();
      const sentAt: number[] = [];
      let head = 0;
      let closed = false;
      const finish = () => {
        if (closed) return;
        closed = true;
        clearTimeout(guard);
        stream.end();
        resolve();
      };
      const send = () => {
        sentAt.push(performance.now());
        stream.write({ ID: ids[next++ % ids.length]! });
      };
      stream.on('data', (r: etcdserverpb.LeaseKeepAliveResponse) => {
        latencies.push(performance.now() - sentAt[head++]!);
        if (r.TTL <= 0n) errors++;
        if (performance.now() < deadline) send();
        else if (head === sentAt.length) finish();
      });
      stream.on('error', () => {
        errors += sentAt.length - head;
        finish();
      });
      // A stream that stops answering must not hang the run: what it still owes is counted.
      const guard = setTimeout(() => { errors += sentAt.length - head; finish(); }, seconds * 1000 + 10_000);
      stream.on('close', () => clearTimeout(guard));
      for (let k = 0; k < perStream; k++) send();
    })));
  } finally {
    for (const c of clients) c.close();
  }
  const elapsed = (performance.now() - start) / 1000;
  return { value: latencies.length / elapsed, ...latencySummary(latencies), errors };
}
