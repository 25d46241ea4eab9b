// A Watch request that fails unexpectedly ends its own stream with INTERNAL; it must never
// escape as an exception out of grpc-js's 'data' event (that stops the process).
import { Metadata } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { MvccStore } from '@raftkv/mvcc';
import { WatchableStore } from '@raftkv/watch';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { ServerCore } from '../server-core.js';
import { onUnexpectedError } from './unary.js';
import { WatchServiceWithEncodedResponses, watchService } from './watch-service.js';
import { messagesOfWrite } from './watch-wire.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'watch-service-'));
  dirs.push(dir);
  const store = await MvccStore.open({ dir });
  const hub = new WatchableStore(store);
  const core = { isLearner: false, auth: { isEnabled: false }, config: { maxRequestBytes: 1 << 20 }, header: () => ({ clusterId: 0n, memberId: 0n, revision: 1n, raftTerm: 1n }) };
  const reported: unknown[] = [];
  onUnexpectedError((err) => reported.push(err));
  const written: Array<Buffer | etcdserverpb.WatchResponse> = [];
  const call = Object.assign(new EventEmitter(), { metadata: new Metadata(), write: (r: Buffer | etcdserverpb.WatchResponse) => { written.push(r); return true; }, pause: () => undefined, resume: () => undefined });
  const errors: Array<{ code?: number; details?: string }> = [];
  call.on('error', (e: { code?: number; details?: string }) => errors.push({ code: e.code, details: e.details }));
  const service = watchService(core as unknown as ServerCore, hub);
  return { store, hub, call, errors, reported, service, written };
}


it('answers a request whose handling throws (a bug) on its stream with INTERNAL, never out of the event', async () => {
  const { store, call, errors, reported, service } = await setup();
  service.watch(call as never);
  // grpc-js always hands over a fully decoded request; a create request without its fields stands in for a bug.
  expect(() => call.emit('data', { createRequest: {} })).not.toThrow();
  expect(errors).toEqual([{ code: 13, details: 'etcdserver: internal error' }]);
  expect(reported).toHaveLength(1);
  expect(() => call.emit('data', { progressRequest: {} })).not.toThrow(); // the stream is finished
  await store.close();
});

it('answers a stream that cannot even start (the hub is closed) with INTERNAL', async () => {
  const { store, hub, call, errors, service } = await setup();
  hub.close();
  expect(() => service.watch(call as never)).not.toThrow();
  expect(errors).toEqual([{ code: 13, details: 'etcdserver: internal error' }]);
  await store.close();
});

it.each([
  // --max-request-bytes is 1 MiB here: etcd fragments at that plus 512 KiB (the fuzzer found
  // raftkv splitting a 1.6 MB response that etcd, at its default 1.5 MiB + 512 KiB, sends whole).
  ['a 1.2 MiB response is sent whole (under max-request-bytes + 512 KiB)', 12, [12]],
  ['a 1.8 MiB response is split there', 18, [15, 3]],
])('fragments as etcd: %s', async (_name, puts, pieces) => {
  const { store, call, service, written } = await setup();
  service.watch(call as never);
  call.emit('data', etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('f/'), rangeEnd: Buffer.from('f0'), fragment: true } }));
  const value = Buffer.alloc(100 * 1024, 0x61);
  store.txn({ compare: [], failure: [], success: Array.from({ length: puts }, (_, i) => ({ put: { key: Buffer.from(`f/${i}`), value } })) }, 1);
  await new Promise((r) => setTimeout(r, 50)); // the service pumps on setImmediate
  const serialize = WatchServiceWithEncodedResponses.watch.responseSerialize;
  const responses = written.flatMap((w) => messagesOfWrite(serialize(w))).map((m) => etcdserverpb.WatchResponse.decode(m))
    .filter((r) => r.events.length > 0);
  expect(responses.map((r) => r.events.length)).toEqual(pieces);
  expect(responses.map((r) => r.fragment)).toEqual(pieces.map((_, i) => i < pieces.length - 1));
  call.emit('cancelled');
  await store.close();
});
