// Alarms are applied from the log, persist in the backend's `alarm` bucket, and change what
// the cluster applies: NOSPACE (etcd's applierV3Capped) and CORRUPT (applierV3Corrupt). Real
// MvccStore (LMDB) and Lessor.
import { EtcdErrors, etcdserverpb } from '@raftkv/api';
import { Lessor } from '@raftkv/lease';
import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { Membership } from '../cluster/membership.js';
import { BackendLeaseStore } from '../lease/backend-lease-store.js';
import { Applier, type AlarmChange } from './applier.js';
import { encodeInternalRequest, type InternalRequest } from './request-codec.js';

const { AlarmType, AlarmRequest_AlarmAction: Action } = etcdserverpb;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function open(dir: string, firstIndex = 0) {
  const store = await MvccStore.open({ dir });
  const lessor = new Lessor({ clock: { nowMs: () => 0 }, minTtlSeconds: 1, store: new BackendLeaseStore(store.bucket('lease')) });
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  const applier = new Applier(store, lessor, membership, (e) => { throw e; }, (p) => { throw new Error(p.error); }, { intervalMs: 1, limitEntries: 1 });
  const changes: AlarmChange[] = [];
  applier.onAlarmChange = (c) => changes.push(c);
  let index = firstIndex;
  let id = 1n;
  const run = async (make: (id: bigint) => InternalRequest): Promise<unknown> => {
    const req = make(id++);
    const result = applier.wait(req.id).then(
      (r) => (r.kind === 'alarm' ? { alarms: r.alarms } : { ok: r.kind }),
      (err: unknown) => ({ error: (err as Error).message }),
    );
    applier.apply([{ index: ++index, term: 1, data: encodeInternalRequest(req) }]);
    return result;
  };
  const close = async () => {
    await applier.flushed();
    await store.close();
  };
  return { store, applier, run, changes, close, index: () => index };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'alarm-apply-'));
  const m = await open(dir);
  cleanups.push(async () => {
    await m.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { ...m, dir };
}

const alarm = (action: etcdserverpb.AlarmRequest_AlarmAction, memberID: bigint, type: etcdserverpb.AlarmType) =>
  (id: bigint): InternalRequest => ({ kind: 'alarm', id, alarm: { action, memberID, alarm: type } });
const put = (key: string) => (id: bigint): InternalRequest => ({ kind: 'put', id, put: putRequest({ key: Buffer.from(key), value: Buffer.from('v') }) });
const txnPut = (id: bigint): InternalRequest => ({ kind: 'txn', id, txn: txnRequest({ success: [{ requestPut: putRequest({ key: Buffer.from('t') }) }] }) });
const txnPutInFailure = (id: bigint): InternalRequest => ({ kind: 'txn', id, txn: txnRequest({ failure: [{ requestPut: putRequest({ key: Buffer.from('t') }) }] }) });
const txnDelete = (id: bigint): InternalRequest => ({ kind: 'txn', id, txn: txnRequest({ success: [{ requestDeleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.alloc(0), prevKv: false } }] }) });
// etcd 3.4 counts only a txn's top-level puts: a put inside a nested txn costs nothing.
const txnNestedPut = (id: bigint): InternalRequest => ({ kind: 'txn', id, txn: txnRequest({ success: [{ requestTxn: txnRequest({ success: [{ requestPut: putRequest({ key: Buffer.from('n') }) }] }) }] }) });
const del = (id: bigint): InternalRequest => ({ kind: 'deleteRange', id, deleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.alloc(0), prevKv: false } });
const compact = (id: bigint): InternalRequest => ({ kind: 'compaction', id, compaction: { revision: 1n, physical: false } });
const grant = (lease: bigint) => (id: bigint): InternalRequest => ({ kind: 'leaseGrant', id, leaseGrant: { ID: lease, TTL: 60n } });
const revoke = (lease: bigint) => (id: bigint): InternalRequest => ({ kind: 'leaseRevoke', id, leaseRevoke: { ID: lease } });

const NOSPACE = EtcdErrors.NoSpace.message;
const CORRUPT = EtcdErrors.Corrupt.message;

describe('alarms applied from the log', () => {
  it('ACTIVATE and DEACTIVATE answer with the alarm changed, GET lists them; the mode changes on the first and the last', async () => {
    const { run, changes } = await setup();
    expect(await run(alarm(Action.ACTIVATE, 5n, AlarmType.NOSPACE))).toEqual({ alarms: [{ memberID: 5n, alarm: AlarmType.NOSPACE }] });
    // Raised again: the same alarm, no second change.
    expect(await run(alarm(Action.ACTIVATE, 5n, AlarmType.NOSPACE))).toEqual({ alarms: [{ memberID: 5n, alarm: AlarmType.NOSPACE }] });
    expect(await run(alarm(Action.ACTIVATE, 3n, AlarmType.NOSPACE))).toEqual({ alarms: [{ memberID: 3n, alarm: AlarmType.NOSPACE }] });
    expect(await run(alarm(Action.GET, 0n, AlarmType.NONE))).toEqual({
      alarms: [{ memberID: 3n, alarm: AlarmType.NOSPACE }, { memberID: 5n, alarm: AlarmType.NOSPACE }],
    });
    expect(await run(alarm(Action.GET, 0n, AlarmType.CORRUPT))).toEqual({ alarms: [] });
    // Clearing an alarm that is not raised changes nothing (etcd answers with no alarms).
    expect(await run(alarm(Action.DEACTIVATE, 9n, AlarmType.NOSPACE))).toEqual({ alarms: [] });
    expect(await run(alarm(Action.DEACTIVATE, 5n, AlarmType.NOSPACE))).toEqual({ alarms: [{ memberID: 5n, alarm: AlarmType.NOSPACE }] });
    expect(await run(put('still-capped'))).toEqual({ error: NOSPACE });
    expect(await run(alarm(Action.DEACTIVATE, 3n, AlarmType.NOSPACE))).toEqual({ alarms: [{ memberID: 3n, alarm: AlarmType.NOSPACE }] });
    expect(await run(put('free-again'))).toEqual({ ok: 'put' });
    expect(changes.map((c) => [c.change, c.alarm.memberID])).toEqual([['raised', 5n], ['disarmed', 3n]]);
  });

  it.each<[string, (id: bigint) => InternalRequest, unknown]>([
    ['a put', put('p'), { error: NOSPACE }],
    ['a txn that puts', txnPut, { error: NOSPACE }],
    ['a txn that puts only in its failure branch', txnPutInFailure, { error: NOSPACE }],
    ['a txn that only deletes', txnDelete, { ok: 'txn' }],
    ['a txn whose put is nested (etcd 3.4 does not count it)', txnNestedPut, { ok: 'txn' }],
    ['a delete', del, { ok: 'deleteRange' }],
    ['a compaction', compact, { ok: 'compaction' }],
    ['a lease grant', grant(77n), { error: NOSPACE }],
    ['a lease revoke', revoke(1n), { ok: 'leaseRevoke' }],
  ])('under NOSPACE: %s', async (_name, make, want) => {
    const { run, store } = await setup();
    await run(put('a'));
    await run(grant(1n));
    await run(alarm(Action.ACTIVATE, 1n, AlarmType.NOSPACE));
    const before = store.currentRevision;
    expect(await run(make)).toEqual(want);
    // A refused write leaves no revision behind.
    if ('error' in (want as object)) expect(store.currentRevision).toBe(before);
  });

  it.each<[string, (id: bigint) => InternalRequest]>([
    ['a put', put('p')], ['a txn that only deletes', txnDelete], ['a delete', del], ['a compaction', compact],
    ['a lease grant', grant(77n)], ['a lease revoke', revoke(1n)],
  ])('under CORRUPT: %s is refused', async (_name, make) => {
    const { run } = await setup();
    await run(put('a'));
    await run(grant(1n));
    await run(alarm(Action.ACTIVATE, 1n, AlarmType.CORRUPT));
    expect(await run(make)).toEqual({ error: CORRUPT });
    // Alarms still change: an operator can disarm it.
    expect(await run(alarm(Action.DEACTIVATE, 1n, AlarmType.CORRUPT))).toEqual({ alarms: [{ memberID: 1n, alarm: AlarmType.CORRUPT }] });
    expect(await run(put('b'))).toEqual({ ok: 'put' });
  });

  it('keeps alarms in the backend: a reopened store has them and stays capped', async () => {
    const { run, close, dir, index } = await setup();
    await run(alarm(Action.ACTIVATE, 0x1den, AlarmType.NOSPACE));
    await run(alarm(Action.ACTIVATE, 0x2den, AlarmType.CORRUPT));
    await run(alarm(Action.DEACTIVATE, 0x2den, AlarmType.CORRUPT));
    await close();
    const again = await open(dir, index());
    cleanups.push(() => again.close().catch(() => undefined));
    expect(again.applier.alarms.get()).toEqual([{ memberID: 0x1den, alarm: AlarmType.NOSPACE }]);
    expect(await again.run(put('x'))).toEqual({ error: NOSPACE });
  });
});
