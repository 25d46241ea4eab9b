// Maintenance.Snapshot: the member's state streamed as etcd 3.4 streams its bbolt backend —
// blobs with the bytes remaining, then one message with the sha256 of all of them (what
// `etcdctl snapshot save` checks and keeps as the file's last 32 bytes). The file is sent as
// it is built (export.ts), not built first.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { dataDirLayout } from '../member/data-dir.js';
import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';
import { passingEncoded } from '../grpc/encoded-responses.js';
import { toServiceError } from '../grpc/unary.js';
import { exportEtcdSnapshot } from './export.js';
import { encodeSnapshotResponse } from './snapshot-response.js';

type SnapshotCall = ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse | Buffer>;

/**
 * The Maintenance service with a Snapshot serializer that passes encoded messages through:
 * the generated encoder copied each blob three times as its buffer grew (two thirds of the
 * event loop's time while a 1M-key snapshot was sent); the export worker encodes them.
 */
export const MaintenanceServiceWithEncodedSnapshot = {
  ...etcdserverpb.MaintenanceService,
  snapshot: passingEncoded(etcdserverpb.MaintenanceService.snapshot),
} as const;

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
    for await (const block of snap.messages()) {
      for (const msg of block.messages) {
        if (call.cancelled) return;
        await write(call, msg);
      }
      sent += block.bytes;
    }
    if (sent !== total || !snap.sha256) throw new Error(`snapshot export ended at ${sent} of ${total} bytes`);
    log?.info('sending database sha256 checksum to client', { 'total-bytes': total, 'checksum-size': 32 });
    await write(call, encodeSnapshotResponse(0, snap.sha256));
    log?.info('successfully sent database snapshot to client', { 'total-bytes': total, size: humanBytes(total), took: `${Math.round(performance.now() - t0)}ms`, 'convert-ms': snap.convertMs, 'convert-waited-ms': snap.waitMs });
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
