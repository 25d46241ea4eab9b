// The conversion of an LMDB copy to etcd's bbolt snapshot, on a worker thread: a dry run over
// the copy gives the layout the meta pages at the front of the file must name, then the pages
// are built and handed to the parent as they come, in file order (see export.ts).
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { BoltWriter, type BoltSink } from '@raftkv/bbolt';
import { BackendSnapshotFile } from '@raftkv/mvcc';
import { writeEtcdBuckets } from './etcd-buckets.js';
import type { FromExportWorker, ToExportWorker } from './export.js';

const port = parentPort!;
const { lmdbPath, credits: initialCredits } = workerData as { lmdbPath: string; credits: number };
let credits = initialCredits;
let onCredit: (() => void) | undefined;
port.on('message', (m: ToExportWorker) => {
  credits += m.credit;
  onCredit?.();
});

function post(m: FromExportWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

async function run(): Promise<void> {
  const snap = BackendSnapshotFile.open(lmdbPath);
  try {
    const t0 = performance.now();
    const plan = BoltWriter.plan();
    const counted = await writeEtcdBuckets(snap, plan);
    const layout = await plan.finish();
    post({ type: 'layout', layout, size: layout.size, revision: counted.revision, keys: counted.keys, planMs: Math.round(performance.now() - t0) });
    const sha = createHash('sha256');
    // Each drain is one message; the parent returns a credit once it has sent one to the client.
    const sink: BoltSink = async (chunks) => {
      while (credits <= 0) await new Promise<void>((resolve) => { onCredit = resolve; });
      onCredit = undefined;
      credits--;
      const transfer = new Set<ArrayBuffer>();
      for (const c of chunks) {
        sha.update(c);
        transfer.add(c.buffer as ArrayBuffer);
      }
      post({ type: 'chunks', chunks: chunks.map((c) => ({ buffer: c.buffer as ArrayBuffer, offset: c.byteOffset, length: c.length })) }, [...transfer]);
    };
    const t1 = performance.now();
    const w = BoltWriter.stream(sink, layout);
    await writeEtcdBuckets(snap, w);
    await w.finish();
    post({ type: 'done', sha256: new Uint8Array(sha.digest()), convertMs: Math.round(performance.now() - t1) });
  } finally {
    await snap.close();
  }
}

run().catch((err: unknown) => {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
});
