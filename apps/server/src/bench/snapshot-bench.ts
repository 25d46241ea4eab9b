// Benchmark (not a test): backups in etcd's snapshot format, raftkv beside real etcd 3.4 on
// this machine in one run. For each: load BENCH_KEYS keys, then `etcdctl snapshot save` (MiB/s
// of the file, and put latency while it runs: the save must not stop writes), then restore the
// file into a new data dir (`etcdctl snapshot restore` / `raftkv snapshot restore`) and start a
// member on it until it serves (time to serving).
// Usage: pnpm bench:snapshot   (BENCH_KEYS=100000 by default, 256-byte values)
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  connect, etcdctl, putRequest, raftkvNodeArgs, removeDir, requireBinary, startEtcd, startRaftkv, tempDir, type EtcdClient, type ServerProcess,
} from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const VALUE = Buffer.alloc(256, 'v');
const run = promisify(execFile);

interface Row {
  fileMiB: number;
  saveSeconds: number;
  putsDuringSave: number;
  putP99DuringSaveMs: number;
  restoreSeconds: number;
  startSeconds: number;
}

async function load(c: EtcdClient): Promise<void> {
  const txns = Math.ceil(KEYS / 100);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let t = next++; t < txns; t = next++) {
      const success = Array.from({ length: Math.min(100, KEYS - t * 100) }, (_, j) => ({
        requestPut: putRequest({ key: Buffer.from(`key/${String(t * 100 + j).padStart(8, '0')}`), value: VALUE }),
      }));
      await c.txn({ success });
    }
  }));
}

async function measure(kind: 'etcd' | 'raftkv', work: string): Promise<Row> {
  const start = kind === 'etcd' ? startEtcd : startRaftkv;
  const server: ServerProcess = await start({ raftkvBin });
  const file = join(work, `${kind}.db`);
  let row: Omit<Row, 'restoreSeconds' | 'startSeconds'>;
  try {
    const c = connect(server.endpoint);
    try {
      await load(c);
      // Puts in a loop while the snapshot is saved: how many, and how slow at worst.
      let saving = true;
      const latencies: number[] = [];
      const writer = (async () => {
        for (let i = 0; saving; i++) {
          const t0 = performance.now();
          await c.put({ key: Buffer.from(`during/${i % 1000}`), value: VALUE });
          latencies.push(performance.now() - t0);
        }
      })();
      const t0 = performance.now();
      const r = await etcdctl(server.endpoint, ['--command-timeout', '600s', 'snapshot', 'save', file]);
      const saveSeconds = (performance.now() - t0) / 1000;
      saving = false;
      await writer;
      if (r.code !== 0) throw new Error(`${kind}: snapshot save: ${r.stderr}`);
      latencies.sort((a, b) => a - b);
      row = {
        fileMiB: statSync(file).size / (1 << 20),
        saveSeconds,
        putsDuringSave: latencies.length,
        putP99DuringSaveMs: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
      };
    } finally {
      c.close();
    }
  } finally {
    await server.stop();
    removeDir(server.dataDir);
  }
  const dataDir = join(work, `${kind}-restored`);
  const t1 = performance.now();
  if (kind === 'etcd') await run(requireBinary('etcdctl'), ['snapshot', 'restore', file, '--data-dir', dataDir], { env: { ...process.env, ETCDCTL_API: '3' } });
  else await run(process.execPath, [...raftkvNodeArgs(raftkvBin), 'snapshot', 'restore', file, '--data-dir', dataDir]);
  const restoreSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const restored = await start({ raftkvBin, dataDir, readyTimeoutMs: 300_000 });
  const startSeconds = (performance.now() - t2) / 1000;
  try {
    const c = connect(restored.endpoint);
    try {
      const n = Number((await c.range({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0'), countOnly: true })).count);
      if (n !== KEYS) throw new Error(`${kind}: restored member has ${n} keys, wanted ${KEYS}`);
    } finally {
      c.close();
    }
  } finally {
    await restored.stop();
    removeDir(dataDir);
  }
  return { ...row, restoreSeconds, startSeconds };
}

async function main(): Promise<void> {
  const work = tempDir('snapshot-bench-');
  try {
    const etcd = await measure('etcd', work);
    const raftkv = await measure('raftkv', work);
    const mibs = (r: Row) => r.fileMiB / r.saveSeconds;
    console.log(`\nsingle member, ${KEYS} keys of 256 bytes, one put loop running during the save\n`);
    console.log('| | etcd 3.4 | raftkv | raftkv/etcd |');
    console.log('|---|---:|---:|---:|');
    const line = (name: string, e: number, r: number, digits = 2) => console.log(`| ${name} | ${e.toFixed(digits)} | ${r.toFixed(digits)} | ${(r / e).toFixed(2)} |`);
    line('snapshot file MiB', etcd.fileMiB, raftkv.fileMiB);
    line('snapshot save s (etcdctl)', etcd.saveSeconds, raftkv.saveSeconds);
    line('snapshot save MiB/s', mibs(etcd), mibs(raftkv), 1);
    line('puts acknowledged during the save', etcd.putsDuringSave, raftkv.putsDuringSave, 0);
    line('put p99 ms during the save', etcd.putP99DuringSaveMs, raftkv.putP99DuringSaveMs);
    line('restore s (snapshot restore command)', etcd.restoreSeconds, raftkv.restoreSeconds);
    line('start on restored dir until serving s', etcd.startSeconds, raftkv.startSeconds);
  } finally {
    removeDir(work);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
