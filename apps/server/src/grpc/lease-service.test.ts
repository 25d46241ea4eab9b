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

/** A KeepAlive stream on a core whose `leaseRenew` is given; what it writes, and a way to send a request. */
function keepAliveStream(leaseRenew: (id: bigint) => number | Promise<number>) {
  const core = {
    isLearner: false,
    store: { currentRevision: 5 },
    header: (revision: number) => ({ clusterId: 0n, memberId: 0n, revision: BigInt(revision), raftTerm: 1n }),
    leaseRenew,
  };
  const written: Array<{ ID: bigint; TTL: bigint }> = [];
  const call = Object.assign(new EventEmitter(), {
    write: (r: { ID: bigint; TTL: bigint }) => { written.push(r); return true; },
    pause: () => undefined, resume: () => undefined, end: () => undefined,
  });
  leaseService(core as unknown as ServerCore).leaseKeepAlive(call as never);
  return { written, send: (ID: bigint) => call.emit('data', { ID }) };
}

it('answers a keepalive the leader renews at once in the same turn, with no promise in between', () => {
  const { written, send } = keepAliveStream(() => 10);
  send(1n);
  send(2n);
  expect(written.map((r) => [r.ID, r.TTL])).toEqual([[1n, 10n], [2n, 10n]]);
});

it('answers a keepalive renewed at once only after the earlier one that waits: answers keep request order', async () => {
  let release: (() => void) | undefined;
  const { written, send } = keepAliveStream((id) => id === 1n ? new Promise<number>((resolve) => { release = () => resolve(3); }) : 10);
  send(1n);
  send(2n);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(written).toEqual([]); // 2 is renewable at once, but 1 is still waiting
  release!();
  await eventually('both answers', () => Promise.resolve(written.length === 2 ? true : undefined));
  send(3n); // nothing waits any more: answered at once again
  expect(written.map((r) => [r.ID, r.TTL])).toEqual([[1n, 3n], [2n, 10n], [3n, 10n]]);
});
