// The conversion of an LMDB copy to etcd's bbolt snapshot, on a worker thread: a dry run over
// the copy gives the layout the meta pages at the front of the file must name, then the pages
// are built and handed to the parent as they come, in file order (see export.ts).
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { BoltWriter, type BoltSink } from '@raftkv/bbolt';
import { BackendSnapshotFile } from '@raftkv/mvcc';
import { writeEtcdBuckets } from './etcd-buckets.js';
import type { FromExportWorker, ToExportWorker } from './export.js';
import { writeSnapshotResponseHead, MAX_OVERHEAD, SNAPSHOT_CHUNK_BYTES } from './snapshot-response.js';

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

/**
 * Cuts the file's bytes into etcd's messages (blobs of 32 KiB, the last one shorter) already
 * encoded, so the event loop only hands them to gRPC. Bytes short of a whole blob wait for the
 * next call.
 */
class MessageEncoder {
  private produced = 0;
  private tail: Buffer = Buffer.alloc(0);
  constructor(private readonly total: number) {}

  encode(chunks: Buffer[]): { out: Buffer; ends: Uint32Array; bytes: number } {
    const sources = this.tail.length > 0 ? [this.tail, ...chunks] : chunks;
    const avail = sources.reduce((n, b) => n + b.length, 0);
    const last = this.produced + avail === this.total;
    const whole = Math.floor(avail / SNAPSHOT_CHUNK_BYTES);
    const rest = avail - whole * SNAPSHOT_CHUNK_BYTES;
    const count = whole + (last && rest > 0 ? 1 : 0);
    // Never from Buffer's shared pool: the buffer is transferred to the parent.
    const out = Buffer.allocUnsafeSlow(avail + count * MAX_OVERHEAD);
    const ends = new Uint32Array(count);
    let src = 0;
    let srcAt = 0;
    /** Copies the next `n` bytes of the sources to `dst` at `at`. */
    const take = (n: number, dst: Buffer, at: number): void => {
      while (n > 0) {
        const b = sources[src]!;
        const k = Math.min(n, b.length - srcAt);
        b.copy(dst, at, srcAt, srcAt + k);
        at += k;
        n -= k;
        srcAt += k;
        if (srcAt === b.length) { src++; srcAt = 0; }
      }
    };
    let outAt = 0;
    let bytes = 0;
    for (let m = 0; m < count; m++) {
      const len = m < whole ? SNAPSHOT_CHUNK_BYTES : rest;
      this.produced += len;
      bytes += len;
      const blobAt = writeSnapshotResponseHead(out, outAt, this.total - this.produced, len);
      take(len, out, blobAt);
      outAt = blobAt + len;
      ends[m] = outAt;
    }
    const left = avail - bytes;
    const tail = Buffer.allocUnsafe(left);
    take(left, tail, 0);
    this.tail = tail;
    return { out, ends, bytes };
  }
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
    const encoder = new MessageEncoder(layout.size);
    let waitMs = 0;
    // Each drain is one message to the parent; it returns a credit once it has sent it on.
    const sink: BoltSink = async (chunks) => {
      const w0 = performance.now();
      while (credits <= 0) await new Promise<void>((resolve) => { onCredit = resolve; });
      waitMs += performance.now() - w0;
      onCredit = undefined;
      credits--;
      for (const c of chunks) sha.update(c);
      const { out, ends, bytes } = encoder.encode(chunks);
      post({ type: 'messages', buffer: out.buffer as ArrayBuffer, ends, bytes }, [out.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
    };
    const t1 = performance.now();
    const w = BoltWriter.stream(sink, layout);
    await writeEtcdBuckets(snap, w);
    await w.finish();
    post({ type: 'done', sha256: new Uint8Array(sha.digest()), convertMs: Math.round(performance.now() - t1), waitMs: Math.round(waitMs) });
  } finally {
    await snap.close();
  }
}

run().catch((err: unknown) => {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
});
