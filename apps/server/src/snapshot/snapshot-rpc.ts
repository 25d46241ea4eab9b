// Maintenance.Snapshot: the member's state streamed as etcd 3.4 streams its bbolt backend —
// 32 KiB blobs with the bytes remaining, then one message with the sha256 of all of them
// (what `etcdctl snapshot save` checks and keeps as the file's last 32 bytes).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { etcdserverpb } from '@raftkv/api';
import { dataDirLayout } from '../member/data-dir.js';
import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';
import type { ReadPacing } from '@raftkv/mvcc';
import { toServiceError } from '../grpc/unary.js';
import { exportEtcdSnapshot } from './export.js';

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024;
const READ_BYTES = 1 << 20;
/**
 * The conversion yields the event loop every 1024 keys (READ_PACING's 4096 held puts up to
 * ~70 ms at p99 while a 100k-key snapshot was converted on the bench machine).
 */
const EXPORT_PACING: ReadPacing = { entriesPerStep: 1024, pause: () => new Promise<void>((resolve) => setImmediate(resolve)) };

type SnapshotCall = ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>;

export function snapshotHandler(core: ServerCore, log?: Logger): (call: SnapshotCall) => void {
  return (call) => {
    sendSnapshot(core, call, log).then(() => call.end(), (err: unknown) => {
      if (!call.cancelled) call.emit('error', toServiceError(err));
    });
  };
}

async function sendSnapshot(core: ServerCore, call: SnapshotCall, log: Logger | undefined): Promise<void> {
  // etcd 3.4 serves no stream on a learner.
  core.refuseOnLearner();
  // etcd's authMaintenanceServer: root only, its errors as Hash's.
  await core.authenticator.checkAdminRaw(call);
  const t0 = performance.now();
  const snap = await exportEtcdSnapshot(core.store, dataDirLayout(core.config).snapDir, EXPORT_PACING);
  try {
    const total = snap.size;
    log?.info('sending database snapshot to client', { 'total-bytes': total, size: humanBytes(total), revision: snap.revision, 'copy-ms': snap.copyMs, 'convert-ms': snap.convertMs });
    const file = await open(snap.path, 'r');
    const sha = createHash('sha256');
    try {
      let sent = 0;
      // Read in large blocks (few trips to the thread pool), sent in etcd's 32 KiB messages.
      while (sent < total) {
        if (call.cancelled) return;
        const want = Math.min(READ_BYTES, total - sent);
        // A fresh block each time: its 32 KiB views go out as messages without a copy.
        const block = Buffer.allocUnsafe(want);
        const { bytesRead } = await file.read(block, 0, want, sent);
        if (bytesRead !== want) throw new Error(`snapshot file ended at ${sent + bytesRead} of ${total} bytes`);
        sha.update(block);
        for (let at = 0; at < want; at += CHUNK_BYTES) {
          const blob = block.subarray(at, Math.min(at + CHUNK_BYTES, want));
          sent += blob.length;
          await write(call, { header: undefined, remainingBytes: BigInt(total - sent), blob, version: '' });
        }
      }
    } finally {
      await file.close();
    }
    log?.info('sending database sha256 checksum to client', { 'total-bytes': total, 'checksum-size': 32 });
    await write(call, { header: undefined, remainingBytes: 0n, blob: sha.digest(), version: '' });
    log?.info('successfully sent database snapshot to client', { 'total-bytes': total, size: humanBytes(total), took: `${Math.round(performance.now() - t0)}ms` });
  } finally {
    await snap.remove();
  }
}

/** Writes one message, waiting for the stream to drain when it is full (a slow client holds no more). */
function write(call: SnapshotCall, msg: etcdserverpb.SnapshotResponse): Promise<void> {
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      call.off('drain', onDrain);
      call.off('cancelled', onCancel);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onCancel = () => done(new Error('client cancelled the snapshot'));
    call.once('drain', onDrain);
    call.once('cancelled', onCancel);
  });
}

/** go-humanize's Bytes: SI units, one decimal below 10 (etcd logs sizes this way). */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1000)), units.length - 1);
  const v = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[e]}`;
}
