// KeepAlive streams: a keepalive whose handling fails unexpectedly ends its own stream with INTERNAL;
// it must never become a rejected promise nobody handles (with --unhandled-rejections=strict, that
// stops the process). An expired lease's "not found" answer carries its revoke's revision.
import { EventEmitter } from 'node:events';
import { EtcdErrors } from '@raftkv/api';
import { eventually } from '@raftkv/testkit';
import { expect, it } from 'vitest';
import type { ServerCore } from '../server-core.js';
import { leaseService } from './lease-service.js';
import { onUnexpectedError } from './unary.js';

it('answers a renewal that throws (a bug) on its stream with INTERNAL, and answers nothing after it', async () => {
  const rejections: unknown[] = [];
  const onRejection = (r: unknown): void => { rejections.push(r); };
  process.on('unhandledRejection', onRejection);
  try {
    const reported: unknown[] = [];
    onUnexpectedError((err) => reported.push(err));
    // A write that throws stands in for a bug past the renewal.
    const core = {
      isLearner: false,
      store: { currentRevision: 1 },
      header: () => ({ clusterId: 0n, memberId: 0n, revision: 1n, raftTerm: 1n }),
      leaseRenew: async () => 5,
    };
    const written: unknown[] = [];
    const errors: Array<{ code?: number; details?: string }> = [];
    const call = Object.assign(new EventEmitter(), {
      write: (r: unknown) => { written.push(r); throw new Error('boom'); },
      pause: () => undefined, resume: () => undefined, end: () => undefined,
    });
    call.on('error', (e: { code?: number; details?: string }) => errors.push({ code: e.code, details: e.details }));
    leaseService(core as unknown as ServerCore).leaseKeepAlive(call as never);
    call.emit('data', { ID: 1n });
    call.emit('data', { ID: 2n });
    call.emit('end');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toEqual([{ code: 13, details: 'etcdserver: internal error' }]);
    expect(written).toHaveLength(1); // the second renewal is not answered after the failure
    expect(reported).toHaveLength(1);
    expect(rejections).toEqual([]);
  } finally {
    process.off('unhandledRejection', onRejection);
  }
});

it("answers the keepalive of an expired lease with a header that includes its revoke, as etcd's", async () => {
  // The renewal of an expired lease waits for its revoke (server-core: renewOnPrimary), which
  // deletes the lease's keys at revision 6: the "not found" answer must not say 5.
  const store = { currentRevision: 5 };
  let revoke: (() => void) | undefined;
  const core = {
    isLearner: false,
    store,
    header: (revision: number) => ({ clusterId: 0n, memberId: 0n, revision: BigInt(revision), raftTerm: 1n }),
    leaseRenew: () => new Promise<number>((_resolve, reject) => {
      revoke = () => {
        store.currentRevision = 6;
        reject(EtcdErrors.LeaseNotFound);
      };
    }),
  };
  const written: unknown[] = [];
  const call = Object.assign(new EventEmitter(), {
    write: (r: unknown) => { written.push(r); return true; },
    pause: () => undefined, resume: () => undefined, end: () => undefined,
  });
  leaseService(core as unknown as ServerCore).leaseKeepAlive(call as never);
  call.emit('data', { ID: 7n });
  await eventually('the renewal is waiting', () => Promise.resolve(revoke));
  revoke!();
  await eventually('the answer', () => Promise.resolve(written[0]));
  expect(written).toEqual([{ header: { clusterId: 0n, memberId: 0n, revision: 6n, raftTerm: 1n }, ID: 7n, TTL: 0n }]);
});
