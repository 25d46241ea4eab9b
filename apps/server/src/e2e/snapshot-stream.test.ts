// Maintenance.Snapshot as a stream built while it is sent (snapshot/export.ts): the messages a
// client sees (etcd's 32 KiB blobs, bytes remaining, the sha256 last), writes served while a
// client holds the stream unread, and a stream given up half way leaving nothing behind.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { MaintenanceClient, type etcdserverpb } from '@raftkv/api';
import { connect, eventually, putRequest, removeDir, requireBinary, startRaftkv, tempDir, type ServerProcess } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const work = tempDir('snapshot-stream-e2e-');
let raftkv: ServerProcess;
let maintenance: MaintenanceClient;
/** Keys of 8 KiB: about 24 MiB of file, more than the export runs ahead of a client (~16 MiB). */
const KEYS = 3000;

beforeAll(async () => {
  raftkv = await startRaftkv();
  const c = connect(raftkv.endpoint);
  try {
    for (let t = 0; t < KEYS; t += 50) {
      await c.txn({ success: Array.from({ length: 50 }, (_, j) => ({ requestPut: putRequest({ key: Buffer.from(`k${String(t + j).padStart(5, '0')}`), value: Buffer.alloc(8192, t + j) }) })) });
    }
  } finally {
    c.close();
  }
  maintenance = new MaintenanceClient(raftkv.endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
}, 120_000);

afterAll(async () => {
  maintenance?.close();
  await raftkv?.stop();
  removeDir(raftkv?.dataDir ?? '');
  removeDir(work);
});

/** etcdctl snapshot status's totalKey of the first test's snapshot. */
let entriesBefore = 0;
const exportFiles = () => readdirSync(join(raftkv.dataDir, 'member', 'snap')).filter((n) => n.startsWith('export-'));

describe('Maintenance.Snapshot stream', () => {
  it('sends etcd\'s messages: 32 KiB blobs with the bytes remaining, then the sha256 of them all; etcdctl reads the file', async () => {
    const msgs: etcdserverpb.SnapshotResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = maintenance.snapshot({});
      s.on('data', (m: etcdserverpb.SnapshotResponse) => msgs.push(m));
      s.on('end', resolve);
      s.on('error', reject);
    });
    const data = msgs.slice(0, -1);
    const total = data.reduce((n, m) => n + m.blob.length, 0);
    expect(total).toBeGreaterThan(20 << 20);
    expect(total % 4096).toBe(0);
    // Every blob but the last is 32 KiB, whatever blocks the export cut the file into.
    for (const m of data.slice(0, -1)) expect(m.blob.length).toBe(32 * 1024);
    let left = total;
    for (const m of data) expect(m.remainingBytes).toBe(BigInt((left -= m.blob.length)));
    const file = Buffer.concat(data.map((m) => m.blob));
    const last = msgs.at(-1)!;
    expect(last.remainingBytes).toBe(0n);
    expect(Buffer.from(last.blob).equals(createHash('sha256').update(file).digest())).toBe(true);
    const path = join(work, 'api.db');
    writeFileSync(path, Buffer.concat([file, last.blob]));
    const status = JSON.parse(execFileSync(requireBinary('etcdctl'), ['snapshot', 'status', path, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' })) as { totalKey: number; totalSize: number };
    // totalKey counts the entries of every bucket: the keys and a few of meta, cluster, auth.
    expect(status.totalKey).toBeGreaterThanOrEqual(KEYS);
    expect(status.totalSize).toBe(total); // the database, the trailer not counted
    entriesBefore = status.totalKey;
  });

  it('serves writes while a client holds the stream unread, and cleans up when it gives up half way', async () => {
    const s = maintenance.snapshot({});
    const first = await new Promise<etcdserverpb.SnapshotResponse>((resolve, reject) => {
      s.once('data', (m: etcdserverpb.SnapshotResponse) => { s.pause(); resolve(m); });
      s.once('error', reject);
    });
    expect(first.remainingBytes).toBeGreaterThan(0n);
    // The export is now waiting for this client; the member goes on acknowledging writes.
    const c = connect(raftkv.endpoint);
    try {
      for (let i = 0; i < 20; i++) await c.put({ key: Buffer.from(`during-${i}`), value: Buffer.from('x') });
      expect(exportFiles().length).toBeGreaterThan(0);
      s.on('error', () => undefined);
      s.cancel();
      await eventually('the export\'s copy removed', async () => (exportFiles().length === 0 ? true : undefined));
    } finally {
      c.close();
    }
    // A later save is whole and holds the writes made meanwhile.
    const path = join(work, 'after-cancel.db');
    execFileSync(requireBinary('etcdctl'), ['--endpoints', raftkv.endpoint, 'snapshot', 'save', path], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
    const status = JSON.parse(execFileSync(requireBinary('etcdctl'), ['snapshot', 'status', path, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' })) as { totalKey: number };
    expect(status.totalKey).toBe(entriesBefore + 20);
  });
});
