// Benchmark (not a test): how long one heavy request stalls other clients, raftkv vs real etcd
// 3.4 in one run. Both servers get the same flags and the same data (BENCH_HEAVY_KEYS keys of
// 256-byte values, written twice so there is history to compact); then, for each heavy
// request, a prober issues serializable single-key gets back to back (one at a time) while the
// request runs, and we print the request's own duration and the worst and p99 get latency
// during it. The prober runs in a worker thread with its own gRPC connection, so decoding a
// huge response in this thread does not delay its timings. Servers alternate which goes first.
// Usage: pnpm bench:heavy   Knobs: BENCH_HEAVY_KEYS (200000), BENCH_HEAVY_REPEAT (3, read-only
// requests; the median of each figure is printed), BENCH_HEAVY_ONLY (comma list of row names),
// BENCH_RAFTKV_BIN (the raftkv binary to run instead of this build's).
import { credentials } from '@grpc/grpc-js';
import { MaintenanceClient, type etcdserverpb } from '@raftkv/api';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { connect, type EtcdClient } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import { median, percentile } from './matrix/stats.js';

const KEYS = Number(process.env['BENCH_HEAVY_KEYS'] ?? 200_000);
const REPEAT = Number(process.env['BENCH_HEAVY_REPEAT'] ?? 3);
const ONLY = process.env['BENCH_HEAVY_ONLY']?.split(',');
const MAX_TXN_OPS = 10_000;
/** The same flags for both: a txn of MAX_TXN_OPS ops with 256-byte values fits in a request. */
const FLAGS = ['--max-txn-ops', String(MAX_TXN_OPS), '--max-request-bytes', String(10 * 1024 * 1024)];
const PUTS_PER_LOAD_TXN = 100;
const LOAD_IN_FLIGHT = 8;
const DELETE_RANGE_KEYS = Math.min(10_000, Math.floor(KEYS / 4));
const PROBE_KEY = Buffer.from('probe');

const key = (i: number) => Buffer.from(`key/${String(i).padStart(7, '0')}`);
/** 256 bytes, distinct per key and pass and not in key order, so a sort by value does real work. */
function value(i: number, pass: number): Buffer {
  const v = Buffer.alloc(256, 'v');
  v.write(String((i * 2_654_435_761 + pass) % 4_294_967_291).padStart(10, '0'));
  return v;
}

// ------------------------------------------------------------------ prober (worker thread)

interface ProbeResult { latenciesMs: number[] }

function runProber(endpoint: string): void {
  const client = connect(endpoint);
  let running = false;
  let latencies: number[] = [];
  const loop = async () => {
    let first = true;
    while (running) {
      const t0 = performance.now();
      await client.range({ key: PROBE_KEY, serializable: true });
      latencies.push(performance.now() - t0);
      if (first) parentPort!.postMessage({ started: true });
      first = false;
    }
    parentPort!.postMessage({ latenciesMs: latencies } satisfies ProbeResult);
    latencies = [];
  };
  parentPort!.on('message', (m: { cmd: 'start' | 'stop' | 'exit' }) => {
    if (m.cmd === 'start') {
      running = true;
      void loop();
    } else if (m.cmd === 'stop') {
      running = false;
    } else {
      client.close();
      parentPort!.close();
    }
  });
}

class Prober {
  private readonly worker: Worker;
  constructor(endpoint: string) {
    this.worker = new Worker(fileURLToPath(import.meta.url), { workerData: { endpoint } });
  }

  private next<T>(pred: (m: Record<string, unknown>) => boolean): Promise<T> {
    return new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (!pred(m)) return;
        this.worker.off('message', on);
        resolve(m as T);
      };
      this.worker.on('message', on);
    });
  }

  /** Resolves once the first probe has completed (the loop is warm and running). */
  async start(): Promise<void> {
    const started = this.next(() => true);
    this.worker.postMessage({ cmd: 'start' });
    await started;
  }

  /** Stops after the probe in flight; every probe's latency since start. */
  async stop(): Promise<number[]> {
    const done = this.next<ProbeResult>((m) => 'latenciesMs' in m);
    this.worker.postMessage({ cmd: 'stop' });
    return (await done).latenciesMs;
  }

  async close(): Promise<void> {
    this.worker.postMessage({ cmd: 'exit' });
    await new Promise((r) => this.worker.once('exit', r));
  }
}

// ------------------------------------------------------------------ main thread

interface Subject {
  name: 'etcd' | 'raftkv';
  server: ServerProcess;
  client: EtcdClient;
  maintenance: MaintenanceClient;
  prober: Prober;
}

interface Cell { requestMs: number; worstGetMs: number; p99GetMs: number; gets: number }

async function load(s: Subject): Promise<void> {
  const txns = Math.ceil(KEYS / PUTS_PER_LOAD_TXN);
  for (const pass of [0, 1]) {
    let next = 0;
    const worker = async () => {
      for (let t = next++; t < txns; t = next++) {
        const success: etcdserverpb.RequestOp[] = [];
        for (let i = t * PUTS_PER_LOAD_TXN; i < Math.min(KEYS, (t + 1) * PUTS_PER_LOAD_TXN); i++) {
          success.push({ requestPut: { key: key(i), value: value(i, pass), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
        }
        await s.client.txn({ success });
      }
    };
    await Promise.all(Array.from({ length: LOAD_IN_FLIGHT }, worker));
  }
  await s.client.put({ key: PROBE_KEY, value: Buffer.from('p') });
}

function hash(s: Subject): Promise<etcdserverpb.HashResponse> {
  return new Promise((resolve, reject) => s.maintenance.hash({}, (err, res) => (err ? reject(err) : resolve(res))));
}

const ALL = { key: Buffer.from('key/'), rangeEnd: Buffer.from('key0') };

interface Heavy {
  name: string;
  readOnly: boolean;
  /** Untimed set-up before the prober starts. */
  prepare?: (s: Subject) => Promise<void>;
  /** Untimed, after the prober stopped. */
  after?: (s: Subject) => Promise<void>;
  run: (s: Subject) => Promise<unknown>;
  check: (res: unknown) => string;
}

function defragment(s: Subject): Promise<etcdserverpb.DefragmentResponse> {
  return new Promise((resolve, reject) => s.maintenance.defragment({}, (err, res) => (err ? reject(err) : resolve(res))));
}

async function dbSizeBytes(s: Subject): Promise<number> {
  return Number((await s.client.status()).dbSize);
}

const HEAVY: Heavy[] = [
  { name: 'Hash', readOnly: true, run: hash, check: () => 'ok' },
  { name: 'HashKV', readOnly: true, run: (s) => s.client.hashKV(0n), check: () => 'ok' },
  {
    name: 'Range all', readOnly: true, run: (s) => s.client.range({ ...ALL }),
    check: (r) => `${(r as etcdserverpb.RangeResponse).kvs.length} kvs`,
  },
  {
    name: 'Range all, sort by value DESCEND', readOnly: true,
    run: (s) => s.client.range({ ...ALL, sortOrder: 2, sortTarget: 4 }),
    check: (r) => `${(r as etcdserverpb.RangeResponse).kvs.length} kvs`,
  },
  {
    name: 'Range all, count_only', readOnly: true, run: (s) => s.client.range({ ...ALL, countOnly: true }),
    check: (r) => `count ${(r as etcdserverpb.RangeResponse).count}`,
  },
  {
    name: `Txn of ${MAX_TXN_OPS} ops (puts + deletes)`, readOnly: false,
    run: (s) => {
      const success: etcdserverpb.RequestOp[] = [];
      const half = Math.min(MAX_TXN_OPS / 2, Math.floor(KEYS / 4));
      for (let i = 0; i < half; i++) {
        success.push({ requestPut: { key: key(i), value: value(i, 2), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
        success.push({ requestDeleteRange: { key: key(KEYS - 1 - i), rangeEnd: Buffer.alloc(0), prevKv: false } });
      }
      return s.client.txn({ success });
    },
    check: (r) => `succeeded ${(r as etcdserverpb.TxnResponse).succeeded}`,
  },
  {
    name: 'Compact physical (all history)', readOnly: false,
    run: async (s) => {
      const { header } = await s.client.status();
      return s.client.compact({ revision: header!.revision, physical: true });
    },
    check: () => 'ok',
  },
  {
    name: `DeleteRange of ${DELETE_RANGE_KEYS} keys`, readOnly: false,
    run: (s) => s.client.deleteRange({ key: key(KEYS / 2), rangeEnd: key(KEYS / 2 + DELETE_RANGE_KEYS) }),
    check: (r) => `deleted ${(r as etcdserverpb.DeleteRangeResponse).deleted}`,
  },
  {
    // Set-up: the upper half of the keys deleted and all history compacted, so about half the
    // file is free pages for the defrag to drop.
    name: 'Defragment (half the keys deleted, compacted)', readOnly: false,
    prepare: async (s) => {
      await s.client.deleteRange({ key: key(Math.floor(KEYS / 2)), rangeEnd: Buffer.from('key0') });
      const { header } = await s.client.status();
      await s.client.compact({ revision: header!.revision, physical: true });
      console.error(`${s.name}: db size before defrag ${(await dbSizeBytes(s) / 2 ** 20).toFixed(1)} MiB`);
    },
    run: defragment,
    after: async (s) => {
      console.error(`${s.name}: db size after defrag ${(await dbSizeBytes(s) / 2 ** 20).toFixed(1)} MiB`);
      // raftkv logs how long commits were held for the swap.
      const logged = s.server.output().split('\n').filter((l) => l.includes('finished defragment')).at(-1);
      if (logged) console.error(`${s.name}: ${logged}`);
    },
    check: () => 'ok',
  },
  {
    // Last: it empties the key space (every key left, ~90,000 at the default size).
    name: 'DeleteRange of all keys', readOnly: false,
    run: (s) => s.client.deleteRange({ ...ALL }),
    check: (r) => `deleted ${(r as etcdserverpb.DeleteRangeResponse).deleted}`,
  },
];

async function measure(s: Subject, h: Heavy): Promise<Cell> {
  await h.prepare?.(s);
  await s.prober.start();
  const t0 = performance.now();
  const res = await h.run(s).catch((err: unknown) => {
    // Said here: the cleanup that follows stops the prober, whose error would hide this one.
    console.error(`${s.name}: ${h.name} failed:`, err);
    throw err;
  });
  const requestMs = performance.now() - t0;
  const latencies = await s.prober.stop();
  await h.after?.(s);
  const answer = h.check(res);
  if (answer.startsWith('succeeded false')) throw new Error(`${s.name}: ${h.name}: ${answer}`);
  latencies.sort((a, b) => a - b);
  return { requestMs, worstGetMs: latencies[latencies.length - 1] ?? NaN, p99GetMs: percentile(latencies, 99), gets: latencies.length };
}

async function idle(s: Subject): Promise<Cell> {
  await s.prober.start();
  await new Promise((r) => setTimeout(r, 1000));
  const latencies = (await s.prober.stop()).sort((a, b) => a - b);
  return { requestMs: 1000, worstGetMs: latencies[latencies.length - 1]!, p99GetMs: percentile(latencies, 99), gets: latencies.length };
}

function medianCell(cells: Cell[]): Cell {
  return {
    requestMs: median(cells.map((c) => c.requestMs)),
    worstGetMs: median(cells.map((c) => c.worstGetMs)),
    p99GetMs: median(cells.map((c) => c.p99GetMs)),
    gets: median(cells.map((c) => c.gets)),
  };
}

async function start(name: Subject['name']): Promise<Subject> {
  // BENCH_RAFTKV_BIN: another build of the binary, to compare builds under the same load.
  const server = await (name === 'etcd' ? startEtcd : startRaftkv)({ args: FLAGS, raftkvBin: process.env['BENCH_RAFTKV_BIN'] ?? raftkvBin });
  const opts = { 'grpc.max_receive_message_length': -1 };
  return {
    name, server, client: connect(server.endpoint),
    maintenance: new MaintenanceClient(server.endpoint, credentials.createInsecure(), opts),
    prober: new Prober(server.endpoint),
  };
}

async function main(): Promise<void> {
  const subjects: Subject[] = [];
  try {
    for (const name of ['etcd', 'raftkv'] as const) subjects.push(await start(name));
    for (const s of subjects) {
      const t0 = performance.now();
      await load(s);
      console.error(`${s.name}: loaded ${KEYS} keys twice in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const rows: Array<{ name: string; cells: Record<string, Cell> }> = [];
    const rounds = (h: Pick<Heavy, 'readOnly'>) => (h.readOnly ? REPEAT : 1);
    let flip = 0;
    const order = () => (flip++ % 2 === 0 ? subjects : [...subjects].reverse());
    const idleCells: Record<string, Cell[]> = { etcd: [], raftkv: [] };
    for (let r = 0; r < REPEAT; r++) for (const s of order()) idleCells[s.name]!.push(await idle(s));
    rows.push({ name: 'idle (1 s, no heavy request)', cells: { etcd: medianCell(idleCells['etcd']!), raftkv: medianCell(idleCells['raftkv']!) } });
    for (const h of HEAVY) {
      if (ONLY && !ONLY.some((o) => h.name.startsWith(o))) continue;
      const cells: Record<string, Cell[]> = { etcd: [], raftkv: [] };
      for (let r = 0; r < rounds(h); r++) {
        for (const s of order()) cells[s.name]!.push(await measure(s, h));
      }
      rows.push({ name: h.name, cells: { etcd: medianCell(cells['etcd']!), raftkv: medianCell(cells['raftkv']!) } });
      console.error(`${h.name}: done`);
    }
    const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
    console.log(`\n${KEYS} keys of 256 bytes (written twice), single member, same flags (${FLAGS.join(' ')}); ` +
      `median of ${REPEAT} runs for read-only requests; serializable gets one at a time during each request\n`);
    console.log('| request | etcd request ms | raftkv request ms | etcd worst / p99 get ms | raftkv worst / p99 get ms | worst get raftkv/etcd |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const { name, cells } of rows) {
      const e = cells['etcd']!;
      const k = cells['raftkv']!;
      console.log(`| ${name} | ${f(e.requestMs)} | ${f(k.requestMs)} | ${f(e.worstGetMs)} / ${f(e.p99GetMs)} | ` +
        `${f(k.worstGetMs)} / ${f(k.p99GetMs)} | ${(k.worstGetMs / e.worstGetMs).toFixed(1)} |`);
    }
  } finally {
    for (const s of subjects) {
      s.client.close();
      s.maintenance.close();
      await s.prober.close();
      await s.server.stop();
      removeDir(s.server.dataDir);
    }
  }
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  runProber((workerData as { endpoint: string }).endpoint);
}
