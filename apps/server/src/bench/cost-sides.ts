// What the cost benchmarks (read-cost-bench, write-cost-bench, load-cost-bench) share: the sides
// they interleave, and a closed loop of a fixed number of operations.
import { readdirSync, readFileSync } from 'node:fs';
import { startEtcd, startRaftkv, type EtcdClient, type ServerProcess, type StartOptions } from '@raftkv/testkit';
import { describeBinary, raftkvBin } from '../raftkv-binary.js';

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
