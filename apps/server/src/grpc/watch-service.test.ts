// A Watch request that fails unexpectedly ends its own stream with INTERNAL; it must never
// escape as an exception out of grpc-js's 'data' event (that stops the process).
import { MvccStore } from '@raftkv/mvcc';
import { WatchableStore } from '@raftkv/watch';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { ServerCore } from '../server-core.js';
import { onUnexpectedError } from './unary.js';
import { watchService } from './watch-service.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'watch-service-'));
  dirs.push(dir);
  const store = await MvccStore.open({ dir });
  const hub = new WatchableStore(store);
  const core = { isLearner: false, config: { maxRequestBytes: 1 << 20 }, header: () => ({ clusterId: 0n, memberId: 0n, revision: 1n, raftTerm: 1n }) };
  const reported: unknown[] = [];
  onUnexpectedError((err) => reported.push(err));
  const call = Object.assign(new EventEmitter(), { write: () => true, pause: () => undefined, resume: () => undefined });
  const errors: Array<{ code?: number; details?: string }> = [];
  call.on('error', (e: { code?: number; details?: string }) => errors.push({ code: e.code, details: e.details }));
  const service = watchService(core as unknown as ServerCore, hub);
  return { store, hub, call, errors, reported, service };
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
