// The sha256 of a snapshot file's pages, on a worker thread: `raftkv snapshot restore` checks the
// trailer while the main thread reads and writes the entries (on 1M keys the hash is ~0.4 s of
// CPU that would otherwise come first).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

export interface HashWorkerData {
  path: string;
  /** Bytes hashed from the start of the file (its size without the 32-byte trailer). */
  length: number;
}

export type HashWorkerResult = { sha256: string } | { error: string };

function hashFile({ path, length }: HashWorkerData): HashWorkerResult {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; at < length;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - at), at);
      if (n === 0) return { error: `${path} ended at ${at} bytes` };
      h.update(buf.subarray(0, n));
      at += n;
    }
    return { sha256: h.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

try {
  parentPort!.postMessage(hashFile(workerData as HashWorkerData));
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message } satisfies HashWorkerResult);
}
