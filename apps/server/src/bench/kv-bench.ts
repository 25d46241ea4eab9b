// Benchmark (not a test): puts/s with p50/p99 at 1, 16 and 128 requests in flight, and
// linearizable single-key gets/s, for raftkv and real etcd 3.4 on this machine in one run.
// Usage: pnpm bench   (BENCH_SECONDS=5 per cell by default; BENCH_TLS=1: clients over https,
// certificates made by openssl for the run)
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, freePort, tempDir, type EtcdClient } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

const TLS = process.env['BENCH_TLS'] === '1';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const VALUE = Buffer.alloc(256, 'v');
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 3);

interface Cell { opsPerSec: number; p50Ms: number; p99Ms: number }

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(clients: EtcdClient[], inFlight: number, op: (c: EtcdClient, i: number) => Promise<unknown>, seconds = SECONDS): Promise<Cell> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await op(client, n++);
      latencies.push(performance.now() - t0);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** A CA and a server certificate for 127.0.0.1 (BENCH_TLS). */
function makeCerts(): { dir: string; ca: string; cert: string; key: string } {
  const dir = tempDir('bench-tls-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=bench-ca');
  writeFileSync(join(dir, 's.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 's.key', '-out', 's.csr', '-subj', '/CN=bench');
  ssl('x509', '-req', '-in', 's.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 's.crt', '-days', '1', '-extfile', 's.ext');
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 's.crt'), key: join(dir, 's.key') };
}

async function measure(server: ServerProcess, creds?: ChannelCredentials): Promise<Record<string, Cell>> {
  const clients = Array.from({ length: 8 }, () => connect(server.endpoint, creds));
  const out: Record<string, Cell> = {};
  try {
    // Warm up (JIT, connections, backend growth) before measuring, the same for both servers.
    await load(clients, 16, (c, i) => c.put({ key: Buffer.from(`warm/${i % 1000}`), value: VALUE }), WARMUP_SECONDS);
    for (const inFlight of [1, 16, 128]) {
      out[`put x${inFlight}`] = await load(clients, inFlight, (c, i) => c.put({ key: Buffer.from(`bench/${i % 10000}`), value: VALUE }));
    }
    await clients[0]!.put({ key: Buffer.from('bench/get'), value: VALUE });
    out['get x16 (linearizable)'] = await load(clients, 16, (c) => c.range({ key: Buffer.from('bench/get') }));
  } finally {
    for (const c of clients) c.close();
  }
  return out;
}

async function main(): Promise<void> {
  const results: Record<string, Record<string, Cell>> = {};
  const certs = TLS ? makeCerts() : undefined;
  for (const [name, start] of [['etcd', startEtcd], ['raftkv', startRaftkv]] as const) {
    let server: ServerProcess;
    if (certs) {
      const port = await freePort();
      const url = `https://127.0.0.1:${port}`;
      server = await start({ raftkvBin, port, args: ['--listen-client-urls', url, '--advertise-client-urls', url, '--cert-file', certs.cert, '--key-file', certs.key] });
    } else {
      server = await start({ raftkvBin });
    }
    try {
      results[name] = await measure(server, certs ? credentials.createSsl(readFileSync(certs.ca)) : undefined);
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  }
  if (certs) removeDir(certs.dir);
  const rows = Object.keys(results['etcd']!);
  const f = (n: number, d = 0) => n.toFixed(d).padStart(8);
  console.log(`\nsingle member, ${SECONDS}s per cell, 256-byte values, 8 gRPC connections${TLS ? ' over TLS (https client URL)' : ''}\n`);
  console.log('| workload | etcd ops/s | raftkv ops/s | raftkv/etcd | etcd p50/p99 ms | raftkv p50/p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const e = results['etcd']![row]!;
    const r = results['raftkv']![row]!;
    console.log(`| ${row} | ${f(e.opsPerSec)} | ${f(r.opsPerSec)} | ${(r.opsPerSec / e.opsPerSec).toFixed(2)} | ${e.p50Ms.toFixed(2)} / ${e.p99Ms.toFixed(2)} | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
