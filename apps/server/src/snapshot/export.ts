// The member's state as etcd 3.4's snapshot file (a bbolt database with etcd's buckets),
// produced as a stream, as etcd streams its backend. The copy is point-in-time and off the
// write path: LMDB copies the backend first (a read transaction on a thread of its pool, writes
// go on), then a worker thread converts that copy: a dry run over it gives the layout that the
// meta pages at the front of the file must name, then the pages are built in file order and
// handed over in blocks of about 4 MiB, at most EXPORT_CREDITS blocks ahead of the client.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BoltLayout } from '@raftkv/bbolt';
import type { MvccStore } from '@raftkv/mvcc';

let exportCount = 0;

/** Blocks (each one drain of the writer, about 4 MiB) the worker may be ahead of the client. */
const EXPORT_CREDITS = 4;

/** Files (and LMDB's copy directory) an export leaves in the snap dir if the member stops during it. */
export function isExportLeftover(name: string): boolean {
  return /^export-\d+-\d+\./.test(name);
}

/** @internal The worker's messages. */
export type FromExportWorker =
  | { type: 'layout'; layout: BoltLayout; size: number; revision: number; keys: number; planMs: number }
  | { type: 'messages'; buffer: ArrayBuffer; ends: Uint32Array; bytes: number }
  | { type: 'done'; sha256: Uint8Array; convertMs: number; waitMs: number }
  | { type: 'error'; message: string };
/** @internal The parent's: a block was sent, the worker may make `credit` more. */
export interface ToExportWorker { credit: number }

/** An etcd snapshot being produced by {@link exportEtcdSnapshot}; `close()` it in any case. */
export interface ExportedSnapshot {
  /** Bytes of the database (etcd's sha256 trailer not included). */
  size: number;
  /** Newest revision in the key bucket, and its entries, for logs. */
  revision: number;
  keys: number;
  /** Time of the LMDB copy and of the dry run that gave the layout, for logs. */
  copyMs: number;
  planMs: number;
  /**
   * The database's bytes in file order as encoded SnapshotResponse messages (etcd's 32 KiB
   * blobs with the bytes remaining; the sha256 message is the caller's), in blocks of about
   * 4 MiB of file: the next is made while this one is sent. Once done, `sha256`, `convertMs` (the building, waits included) and `waitMs`
   * (the time the worker waited for the client to take blocks) are set. Read once.
   */
  messages(): AsyncGenerator<{ messages: Buffer[]; bytes: number }>;
  sha256: Buffer | undefined;
  convertMs: number | undefined;
  waitMs: number | undefined;
  /** Stops the worker (when not done) and removes the copy. */
  close(): Promise<void>;
}

/**
 * Starts writing the state of `store` as etcd 3.4's bbolt backend; resolves once its size is
 * known (after the copy and the dry run), before the first byte. `workDir` (the member's snap
 * dir) holds the LMDB copy meanwhile.
 */
export async function exportEtcdSnapshot(store: MvccStore, workDir: string): Promise<ExportedSnapshot> {
  const lmdbPath = join(workDir, `export-${process.pid}-${++exportCount}.mdb`);
  const removeCopy = async () => {
    await rm(lmdbPath, { force: true });
    await rm(`${lmdbPath}-lock`, { force: true });
  };
  let worker: Worker | undefined;
  try {
    const t0 = performance.now();
    await store.snapshotTo(lmdbPath);
    const copyMs = Math.round(performance.now() - t0);
    worker = new Worker(new URL('./export-worker.js', import.meta.url), { workerData: { lmdbPath, credits: EXPORT_CREDITS } });
    const w = worker;
    // Messages wait here until read; the credits bound how many there can be.
    const inbox: FromExportWorker[] = [];
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = () => { const f = wake; wake = undefined; f?.(); };
    w.on('message', (m: FromExportWorker) => { inbox.push(m); notify(); });
    w.on('error', (err) => { failure ??= err; notify(); });
    let exited = false;
    w.on('exit', (code) => { exited = true; failure ??= new Error(`snapshot export worker exited (${code}) before it was done`); notify(); });
    const next = async (): Promise<FromExportWorker> => {
      for (;;) {
        const m = inbox.shift();
        if (m?.type === 'error') throw new Error(`snapshot export: ${m.message}`);
        if (m) return m;
        if (failure) throw failure;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    };
    const first = await next();
    if (first.type !== 'layout') throw new Error(`snapshot export: worker sent ${first.type} before the layout`);
    const snap: ExportedSnapshot = {
      size: first.size, revision: first.revision, keys: first.keys, copyMs, planMs: first.planMs,
      sha256: undefined, convertMs: undefined, waitMs: undefined,
      async *messages() {
        for (;;) {
          const m = await next();
          if (m.type === 'done') {
            snap.sha256 = Buffer.from(m.sha256);
            snap.convertMs = m.convertMs;
            snap.waitMs = m.waitMs;
            return;
          }
          if (m.type !== 'messages') throw new Error(`snapshot export: unexpected ${m.type}`);
          const messages: Buffer[] = [];
          for (let i = 0, at = 0; i < m.ends.length; at = m.ends[i++]!) messages.push(Buffer.from(m.buffer, at, m.ends[i]! - at));
          yield { messages, bytes: m.bytes };
          w.postMessage({ credit: 1 } satisfies ToExportWorker);
        }
      },
      async close() {
        if (!exited) await w.terminate();
        await removeCopy();
      },
    };
    return snap;
  } catch (err) {
    await worker?.terminate();
    await removeCopy();
    throw err;
  }
}
