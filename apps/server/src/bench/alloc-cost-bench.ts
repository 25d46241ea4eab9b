// Benchmark (not a test): heap allocated per operation in the server, and GCs per 10,000
// operations, for one or more raftkv builds in turn; with the top allocation sites. Bytes
// allocated (garbage included) and scavenge counts do not depend on how busy the machine is, so
// they show an allocation change that CPU time on a shared machine cannot resolve.
// Rows: put x128 (256-byte values over 10,000 keys), linearizable get x128, txn of 100 puts x8;
// each warmed with 3,000 of its own operations before its sampled window (see alloc-probe.ts).
// Usage: node apps/server/dist/bench/alloc-cost-bench.js [bin/raftkv ...]   (default this build)
//   BENCH_OPS (default 10000), BENCH_ROWS (put,get,txn), BENCH_TOP (sites shown, default 15),
//   BENCH_VALUE_BYTES (the values put, default 256), BENCH_CONNECTIONS (own: 8 connections, the default; shared: one),
//   ALLOC_PROBE_NO_INLINE=1 (sites without TurboFan inlining), RAFTKV_UNBUNDLED=1 (sites by file and
//   line: in the bundle a module is one line).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir, startRaftkv, type EtcdClient } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { benchClients, connectionsFromEnv, countedOps } from './cost-sides.js';
import { VALUE_256 } from './matrix/workloads.js';

const OPS = Number(process.env['BENCH_OPS'] ?? 10_000);
const ROWS = (process.env['BENCH_ROWS'] ?? 'put,get,txn').split(',');
const VALUE = process.env['BENCH_VALUE_BYTES'] ? Buffer.alloc(Number(process.env['BENCH_VALUE_BYTES']), 'v') : VALUE_256;
const TOP = Number(process.env['BENCH_TOP'] ?? 15);
const PROBE = fileURLToPath(new URL('./alloc-probe.js', import.meta.url));
const k = (s: string) => Buffer.from(s);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ProfileNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfileNode[] }

async function until(path: string): Promise<void> {
  while (!existsSync(path)) await sleep(10);
}

/** Allocation sites (top frame) of a sampling heap profile, bytes each, and the total. */
function sites(head: ProfileNode): { total: number; bySite: Map<string, number> } {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode): void => {
    if (n.selfSize > 0) {
      const f = n.callFrame;
      const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  return { total, bySite };
}

async function measure(bin: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alloc-probe-'));
  process.env['ALLOC_PROBE_BIN'] = bin;
  process.env['ALLOC_PROBE_DIR'] = dir;
  const server = await startRaftkv({ raftkvBin: PROBE });
  const pid = server.child.pid!;
  const clients: EtcdClient[] = benchClients(server.endpoint, connectionsFromEnv());
  let window = 0;
  const row = async (name: string, inFlight: number, count: number, op: (c: EtcdClient, i: number) => Promise<unknown>) => {
    await countedOps(clients, inFlight, Math.min(count, 3000), op);
    process.kill(pid, 'SIGUSR2');
    await until(join(dir, `${pid}.started`));
    await countedOps(clients, inFlight, count, op);
    process.kill(pid, 'SIGUSR2');
    const base = join(dir, `${pid}-${window++}`);
    await until(`${base}.done`);
    const gcs = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { minor: number; major: number };
    const { total, bySite } = sites((JSON.parse(readFileSync(`${base}.heapprofile`, 'utf8')) as { head: ProfileNode }).head);
    console.log(`${name}: ${(total / count).toFixed(0)} B/op allocated · scavenges per 10,000 ops ${(gcs.minor * 10_000 / count).toFixed(1)} · mark-compacts ${gcs.major}`);
    for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      console.log(`  ${(bytes / count).toFixed(0).padStart(7)} B/op  ${site}`);
    }
  };
  try {
    console.log(`== ${bin}`);
    await countedOps(clients, 16, 2000, (c, i) => c.put({ key: k(`bench/${i % 10_000}`), value: VALUE }));
    await clients[0]!.put({ key: k('bench/get'), value: VALUE });
    if (ROWS.includes('put')) await row('put x128', 128, OPS, (c, i) => c.put({ key: k(`bench/${(i * 7919) % 10_000}`), value: VALUE }));
    if (ROWS.includes('get')) await row('get linearizable x128', 128, OPS, (c) => c.range({ key: k('bench/get') }));
    if (ROWS.includes('txn')) {
      await row('txn of 100 puts x8', 8, Math.ceil(OPS / 20), (c, i) => c.txn({ success: Array.from({ length: 100 }, (_, j) => ({
        requestPut: { key: k(`load/${i}/${j}`), value: VALUE, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
      })) }));
    }
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    removeDir(server.dataDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

const bins = process.argv.slice(2);
for (const bin of bins.length > 0 ? bins : [raftkvBin]) await measure(bin);
