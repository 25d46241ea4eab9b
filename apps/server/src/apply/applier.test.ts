// Apply is total: whatever a committed entry holds, the member answers its proposer (or skips it)
// and goes on; only a closed store stops it. Real MvccStore (LMDB) and Lessor, no mocks.
import { EtcdErrors } from '@raftkv/api';
import { Lessor } from '@raftkv/lease';
import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership } from '../cluster/membership.js';
import { BackendLeaseStore } from '../lease/backend-lease-store.js';
import { putRequest, txnRequest } from '@raftkv/testkit';
import { Applier, type PoisonEntry } from './applier.js';
import { encodeInternalRequest, type InternalRequest } from './request-codec.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(dir = mkdtempSync(join(tmpdir(), 'applier-'))) {
  const store = await MvccStore.open({ dir });
  const lessor = new Lessor({ clock: { nowMs: () => 0 }, minTtlSeconds: 1, store: new BackendLeaseStore(store.bucket('lease')) });
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  const fatal: unknown[] = [];
  const poisoned: PoisonEntry[] = [];
  const applier = new Applier(store, lessor, membership, (e) => fatal.push(e), (p) => poisoned.push(p), { intervalMs: 1, limitEntries: 1 });
  let index = 0;
  const entry = (req: InternalRequest | Uint8Array) => ({
    index: ++index, term: 1, data: req instanceof Uint8Array ? req : encodeInternalRequest(req),
  });
  /** Applies one entry and returns what its proposer hears. */
  const run = async (req: InternalRequest): Promise<unknown> => {
    const result = applier.wait(req.id).then((r) => ({ ok: r.kind }), (err: unknown) => ({ error: (err as Error).message }));
    applier.apply([entry(req)]);
    return result;
  };
  cleanups.push(async () => {
    await applier.flushed().catch(() => undefined);
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, applier, fatal, poisoned, entry, run, dir, setIndex: (i: number) => { index = i; } };
}

let nextId = 1n;
const put = (key: string): InternalRequest => ({ kind: 'put', id: nextId++, put: putRequest({ key: Buffer.from(key), value: Buffer.from('v') }) });

describe('Applier', () => {
  it.each<[string, (id: bigint) => InternalRequest, unknown]>([
    ['compaction at a negative revision', (id) => ({ kind: 'compaction', id, compaction: { revision: -5n, physical: true } }),
      { error: EtcdErrors.Compacted.message }],
    ['compaction at the most negative int64', (id) => ({ kind: 'compaction', id, compaction: { revision: -(2n ** 63n), physical: false } }),
      { error: EtcdErrors.Compacted.message }],
    ['compaction in the future', (id) => ({ kind: 'compaction', id, compaction: { revision: 2n ** 63n - 1n, physical: false } }),
      { error: EtcdErrors.FutureRev.message }],
    ['lease grant with ID 0', (id) => ({ kind: 'leaseGrant', id, leaseGrant: { ID: 0n, TTL: 10n } }),
      { error: EtcdErrors.LeaseNotFound.message }],
    ['lease grant with a huge TTL', (id) => ({ kind: 'leaseGrant', id, leaseGrant: { ID: 7n, TTL: 2n ** 63n - 1n } }),
      { error: EtcdErrors.LeaseTTLTooLarge.message }],
    ['revoke of an unknown lease', (id) => ({ kind: 'leaseRevoke', id, leaseRevoke: { ID: -3n } }),
      { error: EtcdErrors.LeaseNotFound.message }],
    ['put with an unknown lease', (id) => ({ kind: 'put', id, put: putRequest({ key: Buffer.from('k'), lease: 99n }) }),
      { error: EtcdErrors.LeaseNotFound.message }],
    ['txn with an empty request op', (id) => ({ kind: 'txn', id, txn: txnRequest({ success: [{}] }) }),
      { error: EtcdErrors.Internal.message }],
  ])('answers %s and keeps applying', async (_name, make, want) => {
    const { run, store, fatal } = await setup();
    expect(await run(put('before'))).toEqual({ ok: 'put' });
    expect(await run(make(nextId++))).toEqual(want);
    expect(await run(put('after'))).toEqual({ ok: 'put' });
    expect(store.range({ key: Buffer.from('after') }).kvs).toHaveLength(1);
    expect(fatal).toEqual([]);
  });

  it('skips an entry it cannot decode, the same way every time, and logs it', async () => {
    const { applier, entry, poisoned, store, fatal, run } = await setup();
    const unknownKind = Buffer.alloc(12);
    unknownKind[0] = 100;
    applier.apply([entry(unknownKind), entry(new Uint8Array([1, 2])), entry(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff]))]);
    expect(poisoned.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(poisoned[0]!.error).toMatch(/unknown log entry kind 100/);
    expect(store.consistentIndex).toBe(3); // skipped entries count as applied: a restart does not meet them again
    expect(await run(put('k'))).toEqual({ ok: 'put' });
    expect(fatal).toEqual([]);
  });

  it('never answers a proposer with the no-op result of an entry already in the backend', async () => {
    const { run, applier, entry, setIndex, store } = await setup();
    await run(put('a'));
    await run(put('b'));
    // As after a snapshot installed here: the backend is ahead of the entries raft hands over.
    setIndex(1);
    const req = put('c');
    const heard = applier.wait(req.id).then(() => 'resolved', (err: unknown) => (err as Error).message);
    applier.apply([entry(req)]);
    expect(await heard).toBe(EtcdErrors.Timeout.message);
    expect(store.range({ key: Buffer.from('c') }).kvs).toHaveLength(0);
  });

  it('skips entries the backend already holds from their header: a replayed body is not decoded again', async () => {
    const { run, applier, entry, setIndex, poisoned, store } = await setup();
    await run(put('a'));
    await run(put('b'));
    // A restart replays from index 1; the backend holds both. The body at index 1 would not decode
    // (0xff 0xff is no PutRequest): decoded, it would be reported as a poisoned entry again.
    setIndex(0);
    const undecodable = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    applier.apply([entry(undecodable), entry(put('b-again'))]);
    await applier.flushed();
    expect(poisoned).toEqual([]);
    expect(store.range({ key: Buffer.from('b-again') }).kvs).toHaveLength(0);
    expect(store.consistentIndex).toBe(2);
    // Above the consistent index the same bytes are decoded, and reported.
    applier.apply([entry(undecodable)]);
    expect(poisoned.map((p) => p.index)).toEqual([3]);
  });

  it('answers a lease grant and revoke with the revision as each applied, not as its batch ended (etcd\'s header)', async () => {
    const { run, applier, entry, store } = await setup();
    expect(await run({ kind: 'leaseGrant', id: nextId++, leaseGrant: { ID: 5n, TTL: 60n } })).toEqual({ ok: 'leaseGrant' });
    await run({ kind: 'put', id: nextId++, put: putRequest({ key: Buffer.from('leased'), value: Buffer.from('v'), lease: 5n }) });
    const before = store.currentRevision;
    // One batch, as raft hands over entries committed together: the answers are heard after all of it.
    const grant: InternalRequest = { kind: 'leaseGrant', id: nextId++, leaseGrant: { ID: 6n, TTL: 60n } };
    const revoke: InternalRequest = { kind: 'leaseRevoke', id: nextId++, leaseRevoke: { ID: 5n } };
    const heard = Promise.all([applier.wait(grant.id), applier.wait(revoke.id)]);
    applier.apply([entry(grant), entry(put('later')), entry(revoke), entry(put('last'))]);
    const [granted, revoked] = await heard;
    expect(store.currentRevision).toBe(before + 3);
    expect(granted).toMatchObject({ kind: 'leaseGrant', id: 6n, revision: before });
    expect(revoked).toEqual({ kind: 'leaseRevoke', revision: before + 2 }); // after 'later' and its own delete
  });

  it('stops the member only when the store is closed under it', async () => {
    const { applier, entry, store, fatal } = await setup();
    await applier.flushed();
    await store.close();
    applier.apply([entry(put('late'))]);
    expect(fatal).toHaveLength(1);
  });
});
