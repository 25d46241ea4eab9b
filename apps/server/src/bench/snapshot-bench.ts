// Benchmark (not a test): backups in etcd's snapshot format, raftkv beside real etcd 3.4 on
// this machine in one run. For each: load BENCH_KEYS keys, then `etcdctl snapshot save` (MiB/s
// of the file, and put latency while it runs: the save must not stop writes), then restore the
// file into a new data dir (`etcdctl snapshot restore` / `raftkv snapshot restore`) and start a
// member on it until it serves (time to serving).
// Usage: pnpm bench:snapshot   (BENCH_KEYS=100000 by default, 256-byte values; with
// BENCH_RAFTKV_BIN=<other worktree>/apps/server/bin/raftkv that build is measured too, as
// "raftkv-base", for a before/after in one run). etcdctl runs with its default flags.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  connect, putRequest, raftkvNodeArgs, removeDir, requireBinary, startEtcd, startRaftkv, tempDir, type EtcdClient, type ServerProcess,
} from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const BASE_BIN = process.env['BENCH_RAFTKV_BIN'];
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

type Kind = 'etcd' | 'raftkv' | 'raftkv-base';

async function measure(kind: Kind, work: string): Promise<Row> {
  const start = kind === 'etcd' ? startEtcd : startRaftkv;
  const bin = kind === 'raftkv-base' ? BASE_BIN! : raftkvBin;
  const server: ServerProcess = await start({ raftkvBin: bin });
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
      // Default flags: etcdctl 3.4's snapshot save has no deadline unless --command-timeout is given.
      const r = await run(requireBinary('etcdctl'), ['--endpoints', server.endpoint, 'snapshot', 'save', file], { env: { ...process.env, ETCDCTL_API: '3' } })
        .then(() => ({ code: 0, stderr: '' }), (err: { code?: number; stderr?: string }) => ({ code: err.code ?? 1, stderr: err.stderr ?? String(err) }));
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
  else await run(process.execPath, [...raftkvNodeArgs(bin), 'snapshot', 'restore', file, '--data-dir', dataDir]);
  const restoreSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const restored = await start({ raftkvBin: bin, dataDir, readyTimeoutMs: 300_000 });
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
    const kinds: Kind[] = ['etcd', 'raftkv', ...(BASE_BIN ? ['raftkv-base' as const] : [])];
    const rows = new Map<Kind, Row>();
    for (const kind of kinds) rows.set(kind, await measure(kind, work));
    const mibs = (r: Row) => r.fileMiB / r.saveSeconds;
    console.log(`\nsingle member, ${KEYS} keys of 256 bytes, one put loop running during the save\n`);
    console.log(`| | ${kinds.join(' | ')} | ${kinds.slice(1).map((k) => `${k}/etcd`).join(' | ')} |`);
    console.log(`|---|${kinds.map(() => '---:').join('|')}|${kinds.slice(1).map(() => '---:').join('|')}|`);
    const line = (name: string, f: (r: Row) => number, digits = 2) => {
      const v = kinds.map((k) => f(rows.get(k)!));
      console.log(`| ${name} | ${v.map((x) => x.toFixed(digits)).join(' | ')} | ${v.slice(1).map((x) => (x / v[0]!).toFixed(2)).join(' | ')} |`);
    };
    line('snapshot file MiB', (r) => r.fileMiB);
    line('snapshot save s (etcdctl, default flags)', (r) => r.saveSeconds);
    line('snapshot save MiB/s', mibs, 1);
    line('puts acknowledged during the save', (r) => r.putsDuringSave, 0);
    line('put p99 ms during the save', (r) => r.putP99DuringSaveMs);
    line('restore s (snapshot restore command)', (r) => r.restoreSeconds);
    line('start on restored dir until serving s', (r) => r.startSeconds);
  } finally {
    removeDir(work);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
