// Benchmark (not a test): put and get throughput with auth on (a user limited to a prefix by a
// role, a simple token on every request), and Authenticate calls per second (bcrypt at the
// default cost 10), for raftkv and real etcd 3.4 on this machine in one run, as a ratio.
// Usage: pnpm bench:auth   (BENCH_SECONDS=5 per cell by default)
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient } from '@raftkv/api';
import { etcdctl, putRequest, rangeRequest, removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 2);
const VALUE = Buffer.alloc(256, 'v');
const CONNECTIONS = 8;

interface Cell { opsPerSec: number; p50Ms: number; p99Ms: number }

function unary<Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

async function load(inFlight: number, op: (worker: number, i: number) => Promise<unknown>, seconds = SECONDS): Promise<Cell> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await op(w, n++);
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { opsPerSec: latencies.length / elapsed, p50Ms: pct(50), p99Ms: pct(99) };
}

async function measure(server: ServerProcess): Promise<Record<string, Cell>> {
  for (const args of [
    ['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['user', 'add', 'bench:benchpw'],
    ['role', 'add', 'bench'], ['role', 'grant-permission', 'bench', 'readwrite', '--prefix', 'bench/'],
    ['role', 'grant-permission', 'bench', 'readwrite', '--prefix', 'warm/'], ['user', 'grant-role', 'bench', 'bench'],
    ['auth', 'enable'],
  ]) {
    const r = await etcdctl(server.endpoint, args);
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
  const kvs = Array.from({ length: CONNECTIONS }, () => new KVClient(server.endpoint, credentials.createInsecure()));
  const auths = Array.from({ length: CONNECTIONS }, () => new AuthClient(server.endpoint, credentials.createInsecure()));
  try {
    const { token } = await unary<{ token: string }>((cb) => auths[0]!.authenticate({ name: 'bench', password: 'benchpw' }, cb));
    const md = new Metadata();
    md.set('token', token);
    const put = (w: number, key: string) => unary((cb) => kvs[w % CONNECTIONS]!.put(putRequest({ key: Buffer.from(key), value: VALUE }), md, cb));
    const out: Record<string, Cell> = {};
    await load(16, (w, i) => put(w, `warm/${i % 1000}`), WARMUP_SECONDS);
    for (const inFlight of [1, 16, 128]) out[`put x${inFlight}`] = await load(inFlight, (w, i) => put(w, `bench/${i % 10000}`));
    await put(0, 'bench/get');
    out['get x16 (linearizable)'] = await load(16, (w) => unary((cb) => kvs[w % CONNECTIONS]!.range(rangeRequest({ key: Buffer.from('bench/get') }), md, cb)));
    out['authenticate x16 (bcrypt cost 10)'] = await load(16, (w) => unary((cb) => auths[w % CONNECTIONS]!.authenticate({ name: 'bench', password: 'benchpw' }, cb)));
    return out;
  } finally {
    for (const c of [...kvs, ...auths]) c.close();
  }
}

async function main(): Promise<void> {
  const results: Record<string, Record<string, Cell>> = {};
  for (const [name, start] of [['etcd', startEtcd], ['raftkv', startRaftkv]] as const) {
    const server = await start({ raftkvBin });
    try {
      results[name] = await measure(server);
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  }
  const f = (n: number) => n.toFixed(0).padStart(8);
  console.log(`\nsingle member, auth on (simple token, one role with two prefix permissions), ${SECONDS}s per cell, 256-byte values, ${CONNECTIONS} gRPC connections\n`);
  console.log('| workload | etcd ops/s | raftkv ops/s | raftkv/etcd | etcd p50/p99 ms | raftkv p50/p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const row of Object.keys(results['etcd']!)) {
    const e = results['etcd']![row]!;
    const r = results['raftkv']![row]!;
    console.log(`| ${row} | ${f(e.opsPerSec)} | ${f(r.opsPerSec)} | ${(r.opsPerSec / e.opsPerSec).toFixed(2)} | ${e.p50Ms.toFixed(2)} / ${e.p99Ms.toFixed(2)} | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
