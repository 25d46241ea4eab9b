// What the cost benchmarks (read-cost-bench, write-cost-bench, load-cost-bench, overlap-bench...)
// share: the sides they interleave, their clients' connections, the read rows' set-up, and a closed
// loop of a fixed number of operations.
import { readdirSync, readFileSync } from 'node:fs';
import { connect, removeDir, startEtcd, startRaftkv, type EtcdClient, type ServerProcess, type StartOptions } from '@raftkv/testkit';
import { describeBinary, raftkvBin } from '../raftkv-binary.js';
import { ownConnection, VALUE_256 } from './matrix/workloads.js';

/**
 * Starts one side: `etcd`, `after` (this build), `before` (BENCH_RAFTKV_BIN_BEFORE), or the path
 * of another raftkv binary (a side with a slash in it: a build, or a wrapper that sets flags).
 * `dataDir` restarts a side on the data of an earlier start.
 */
export async function startSide(side: string, dataDir?: string): Promise<ServerProcess> {
  const opts: StartOptions = dataDir === undefined ? {} : { dataDir };
  if (side === 'etcd') return await startEtcd(opts);
  const bin = side.includes('/') ? side : side === 'before' ? process.env['BENCH_RAFTKV_BIN_BEFORE'] : raftkvBin;
  if (!bin) throw new Error('set BENCH_RAFTKV_BIN_BEFORE to the other build\'s bin/raftkv (or leave "before" out of BENCH_SIDES)');
  describeOnce(bin);
  return await startRaftkv({ ...opts, raftkvBin: bin });
}

const described = new Set<string>();

/** Prints, once per binary, whether it runs its bundle: a stale bundle changes what a side costs. */
export function describeOnce(bin: string): void {
  if (described.has(bin)) return;
  described.add(bin);
  console.error(`raftkv side: ${describeBinary(bin)}`);
}

/**
 * How a bench's clients reach the server. `own`: each client on an HTTP/2 connection of its own,
 * as the matrix's rows (5da2b6b) and as separate client processes would. `shared`: all of them on
 * one, grpc-js's default for clients of one target, credentials and options (what the cost benches
 * measured before wave 10; overlap-bench studies that case too).
 */
export type Connections = 'own' | 'shared';

/** BENCH_CONNECTIONS: `own` (the default) or `shared`. */
export function connectionsFromEnv(): Connections {
  const v = process.env['BENCH_CONNECTIONS'] ?? 'own';
  if (v !== 'own' && v !== 'shared') throw new Error(`BENCH_CONNECTIONS must be "own" or "shared", not "${v}"`);
  return v;
}

/**
 * Channel options of client `i`: a connection of its own (`own`; give each group of clients its
 * own range of `i`, or two groups with equal options share), or none (`shared`).
 */
export function channelOptions(connections: Connections, i: number): Record<string, number> {
  return connections === 'own' ? ownConnection(i) : {};
}

/** For a bench's summary line. */
export function describeConnections(connections: Connections, count = 8): string {
  return connections === 'own' ? `${count} clients on ${count} connections` : `${count} clients on one connection`;
}

/** `count` clients of `endpoint` (KV, lease, maintenance: `connect`'s), numbered 0 to count - 1 for `channelOptions`. */
export function benchClients(endpoint: string, connections: Connections, count = 8): EtcdClient[] {
  return Array.from({ length: count }, (_, i) => connect(endpoint, undefined, channelOptions(connections, i)));
}

/** A side started for the read rows, with its clients. */
export interface ReadSide {
  readonly server: ServerProcess;
  readonly pid: number;
  /** 8 clients, on connections as asked. */
  readonly clients: EtcdClient[];
  /** Closes the clients, stops the server and removes its data. */
  stop(): Promise<void>;
}

/**
 * Starts `side` ready for the read rows: 8 clients; 3000 warm-up puts (16 in flight, connections
 * and JIT) over `warmUpKeys` keys under `bench/`, 256-byte values; then the keys the reads read
 * (`putReadKeys`).
 */
export async function startReadSide(side: string, connections: Connections, warmUpKeys: number): Promise<ReadSide> {
  const server = await startSide(side);
  const clients = benchClients(server.endpoint, connections);
  const stop = async () => {
    for (const c of clients) c.close();
    await server.stop();
    removeDir(server.dataDir);
  };
  try {
    await countedOps(clients, 16, 3000, (c, i) => c.put({ key: Buffer.from(`bench/${(i * 7919) % warmUpKeys}`), value: VALUE_256 }));
    await putReadKeys(clients[0]!, VALUE_256);
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, pid: server.child.pid!, clients, stop };
}

/** Writes what the read rows read: `bench/get` and the 100 keys under `range/`, each holding `value`. */
export async function putReadKeys(client: EtcdClient, value: Buffer): Promise<void> {
  await client.put({ key: Buffer.from('bench/get'), value });
  await client.txn({ success: Array.from({ length: 100 }, (_, i) => ({
    requestPut: { key: Buffer.from(`range/${String(i).padStart(3, '0')}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
  })) });
}

/** Runs `count` operations, `inFlight` at a time over `clients`; the wall seconds and each one's latency (ms). */
export async function countedOps(clients: EtcdClient[], inFlight: number, count: number,
  op: (c: EtcdClient, i: number) => Promise<unknown>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let n = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    const c = clients[w % clients.length]!;
    for (let i = n++; i < count; i = n++) {
      const s = performance.now();
      await op(c, i);
      latencies.push(performance.now() - s);
    }
  }));
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

/**
 * Measures every side `rounds` times, in order in even rounds and reversed in odd ones, so no
 * side always runs first on a cold machine; `onRun` sees each result as it comes. Each side's
 * results, in round order.
 */
export async function interleavedRounds<T>(sides: readonly string[], rounds: number, measure: (side: string) => Promise<T>,
  onRun: (round: number, side: string, result: T) => void): Promise<Map<string, T[]>> {
  const runs = new Map<string, T[]>(sides.map((s) => [s, []]));
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const r = await measure(side);
      runs.get(side)!.push(r);
      onRun(round, side, r);
    }
  }
  return runs;
}

/** Clock ticks per second of /proc/<pid>/task/<tid>/stat times (USER_HZ). */
const TICKS_PER_SECOND = 100;

export interface ThreadTimes { total: number; main: number; ctx: number }

/** CPU seconds per thread of `pid` and their context switches. */
export function threadTimes(pid: number): ThreadTimes {
  let total = 0;
  let main = 0;
  let ctx = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
      total += cpu;
      if (tid === String(pid)) main = cpu;
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of st.matchAll(/ctxt_switches:\s+(\d+)/g)) ctx += Number(m[1]);
    } catch {
      // the thread ended between readdir and read
    }
  }
  return { total, main, ctx };
}
