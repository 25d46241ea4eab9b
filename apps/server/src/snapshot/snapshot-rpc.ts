// Maintenance.Snapshot: the member's state streamed as etcd 3.4 streams its bbolt backend —
// blobs with the bytes remaining, then one message with the sha256 of all of them (what
// `etcdctl snapshot save` checks and keeps as the file's last 32 bytes). The file is sent as
// it is built (export.ts), not built first.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { dataDirLayout } from '../member/data-dir.js';
import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';
import { toServiceError } from '../grpc/unary.js';
import { exportEtcdSnapshot } from './export.js';

/** etcd's snapshotSendBufferSize. */
const CHUNK_BYTES = 32 * 1024;

type SnapshotCall = ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse | Buffer>;

/**
 * The Maintenance service with a Snapshot serializer that passes encoded messages through:
 * the generated encoder copies each blob three times as its buffer grows (two thirds of the
 * event loop's time while a 1M-key snapshot was sent), {@link encodeSnapshotResponse} once.
 */
export const MaintenanceServiceWithEncodedSnapshot = {
  ...etcdserverpb.MaintenanceService,
  snapshot: {
    ...etcdserverpb.MaintenanceService.snapshot,
    responseSerialize: (value: etcdserverpb.SnapshotResponse | Buffer): Buffer =>
      Buffer.isBuffer(value) ? value : Buffer.from(etcdserverpb.SnapshotResponse.encode(value).finish()),
  },
} as const;

// SnapshotResponse fields: remaining_bytes = 2 (uint64), blob = 3 (bytes); etcd 3.4 sets no header.
const TAG_REMAINING = 2 << 3;
const TAG_BLOB = (3 << 3) | 2;

/** SnapshotResponse{remainingBytes, blob} as protobuf writes it (a zero field left out). */
export function encodeSnapshotResponse(remainingBytes: number, blob: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + 10 + 5 + blob.length);
  let at = 0;
  const varint = (v: number) => {
    // Numbers up to 2^53: 7 bits at a time without 32-bit operators.
    while (v >= 0x80) {
      out[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[at++] = v;
  };
  if (remainingBytes !== 0) {
    out[at++] = TAG_REMAINING;
    varint(remainingBytes);
  }
  if (blob.length !== 0) {
    out[at++] = TAG_BLOB;
    varint(blob.length);
    out.set(blob, at);
    at += blob.length;
  }
  return out.subarray(0, at);
}

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
  const snap = await exportEtcdSnapshot(core.store, dataDirLayout(core.config).snapDir);
  try {
    const total = snap.size;
    log?.info('sending database snapshot to client', { 'total-bytes': total, size: humanBytes(total), revision: snap.revision, 'copy-ms': snap.copyMs, 'plan-ms': snap.planMs });
    let sent = 0;
    for await (const block of snap.blocks()) {
      for (const buf of block) {
        for (let at = 0; at < buf.length; at += CHUNK_BYTES) {
          if (call.cancelled) return;
          const blob = buf.subarray(at, Math.min(at + CHUNK_BYTES, buf.length));
          sent += blob.length;
          await write(call, encodeSnapshotResponse(total - sent, blob));
        }
      }
    }
    if (sent !== total || !snap.sha256) throw new Error(`snapshot export ended at ${sent} of ${total} bytes`);
    log?.info('sending database sha256 checksum to client', { 'total-bytes': total, 'checksum-size': 32 });
    await write(call, encodeSnapshotResponse(0, snap.sha256));
    log?.info('successfully sent database snapshot to client', { 'total-bytes': total, size: humanBytes(total), took: `${Math.round(performance.now() - t0)}ms`, 'convert-ms': snap.convertMs });
  } finally {
    await snap.close();
  }
}

/** Writes one message, waiting for the stream to drain when it is full (a slow client holds no more). */
function write(call: SnapshotCall, msg: Buffer): Promise<void> {
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
