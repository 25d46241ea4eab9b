// Big writes are applied in steps across event-loop turns: between steps other work runs, but the
// apply loop stays in order (later entries wait), no commit takes half a write to the backend, and
// a snapshot's setConsistentIndex cannot skip the entries queued behind it. Real MvccStore (LMDB)
// and Lessor, no mocks.
import { etcdserverpb } from '@raftkv/api';
import { Lessor } from '@raftkv/lease';
import { MvccStore, type ReadPacing } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership } from '../cluster/membership.js';
import { BackendLeaseStore } from '../lease/backend-lease-store.js';
import { Applier, WRITE_PACING, type ApplyResult } from './applier.js';
import { encodeInternalRequest, type InternalRequest } from './request-codec.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const KEYS = 3000;
const key = (i: number) => Buffer.from(`key/${String(i).padStart(5, '0')}`);
let nextId = 1n;
const put = (k: Buffer): InternalRequest => ({ kind: 'put', id: nextId++, put: etcdserverpb.PutRequest.fromPartial({ key: k, value: Buffer.from('v') }) });
const deleteAll = (): InternalRequest => ({
  kind: 'deleteRange', id: nextId++, deleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0') }),
});

async function setup(writePacing: ReadPacing, policy = { intervalMs: 1, limitEntries: 1 }) {
  const dir = mkdtempSync(join(tmpdir(), 'stepped-apply-'));
  const store = await MvccStore.open({ dir });
  const lessor = new Lessor({ clock: { nowMs: () => 0 }, minTtlSeconds: 1, store: new BackendLeaseStore(store.bucket('lease')) });
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  const fatal: unknown[] = [];
  const poisoned: unknown[] = [];
  const applier = new Applier(store, lessor, membership, (e) => fatal.push(e), (p) => poisoned.push(p), policy, writePacing);
  let index = 0;
  const entry = (req: InternalRequest) => ({ index: ++index, term: 1, data: encodeInternalRequest(req) });
  cleanups.push(async () => {
    await applier.flushed().catch(() => undefined);
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  // KEYS keys, in plain puts (each applied at once).
  applier.apply(Array.from({ length: KEYS }, (_, i) => entry(put(key(i)))));
  await applier.flushed();
  return { store, applier, fatal, poisoned, entry };
}

/** The consistent index in LMDB: what a restart would replay above. */
function committedIndex(store: MvccStore): number {
  const backend = (store as unknown as { backend: { getDurableMeta(k: Buffer): Uint8Array | undefined } }).backend;
  const bytes = backend.getDurableMeta(Buffer.from('consistent_index'));
  return bytes ? Number(Buffer.from(bytes).readBigUInt64BE(0)) : 0;
}

/** A pacing whose pauses wait on a timer (so the applier's 1 ms commit timer fires during them) and run `during`. */
function timerPacing(during: () => void): ReadPacing & { pauses: number } {
  const pacing = {
    entriesPerStep: 200,
    pauses: 0,
    pause: async () => {
      pacing.pauses++;
      await new Promise((resolve) => setTimeout(resolve, 3));
      during();
    },
  };
  return pacing;
}

describe('Applier: writes in steps', () => {
  it('a commit timer firing mid-write does not commit a partial write, and the next entry waits for the write', async () => {
    let checks = 0;
    let ctx!: Awaited<ReturnType<typeof setup>>;
    let deleteIndex = 0;
    let revBefore = 0;
    const pacing = timerPacing(() => {
      if (deleteIndex === 0) return;
      checks++;
      // The commit timer (1 ms) has fired by now: LMDB must still be at the state before the delete.
      expect(committedIndex(ctx.store)).toBe(deleteIndex - 1);
      expect(ctx.store.currentRevision).toBe(revBefore);
      expect(ctx.store.range({ key: Buffer.from('after') }).count).toBe(0);
      expect(ctx.store.range({ key: key(KEYS - 1) }).count).toBe(1);
    });
    ctx = await setup(pacing);
    const { applier, store, entry, fatal, poisoned } = ctx;
    revBefore = store.currentRevision;
    const del = deleteAll();
    const after = put(Buffer.from('after'));
    const deleted = applier.wait(del.id);
    const putDone = applier.wait(after.id);
    const entries = [entry(del), entry(after)];
    deleteIndex = entries[0]!.index;
    applier.apply(entries);
    expect(store.writeInProgress).toBe(true);
    const d = (await deleted) as Extract<ApplyResult, { kind: 'deleteRange' }>;
    const p = (await putDone) as Extract<ApplyResult, { kind: 'put' }>;
    expect(d.response.deleted).toBe(KEYS);
    expect(p.response.revision).toBe(d.response.revision + 1);
    expect(checks).toBeGreaterThan(3);
    await applier.flushed();
    expect(committedIndex(store)).toBe(entries[1]!.index);
    expect(store.range({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0'), countOnly: true }).count).toBe(0);
    expect(fatal).toEqual([]);
    expect(poisoned).toEqual([]);
  });

  it('entries applied during the write wait behind it; a setConsistentIndex past them (a snapshot) does not skip them', async () => {
    let ctx!: Awaited<ReturnType<typeof setup>>;
    let during: (() => void) | undefined;
    ctx = await setup(timerPacing(() => {
      const f = during;
      during = undefined;
      f?.();
    }));
    const { applier, store, entry, fatal, poisoned } = ctx;
    const del = deleteAll();
    const late = put(Buffer.from('late'));
    const lateDone = applier.wait(late.id);
    let lateIndex = 0;
    during = () => {
      const e = entry(late);
      lateIndex = e.index;
      applier.apply([e]);
      // What the server does before saving a snapshot: the applied index (counting the queued
      // entry) becomes the consistent index.
      store.setConsistentIndex(lateIndex + 3);
    };
    applier.apply([entry(del)]);
    const p = (await lateDone) as Extract<ApplyResult, { kind: 'put' }>;
    expect(p.kind).toBe('put');
    expect(store.range({ key: Buffer.from('late') }).kvs[0]?.modRevision).toBe(p.response.revision);
    await applier.flushed();
    expect(store.consistentIndex).toBe(lateIndex + 3);
    expect(committedIndex(store)).toBe(lateIndex + 3);
    expect(fatal).toEqual([]);
    expect(poisoned).toEqual([]);
  });

  it('apply answers with a promise while a write goes on in steps, resolved only once everything given so far is applied', async () => {
    let during: (() => void) | undefined;
    const { applier, store, entry } = await setup(timerPacing(() => {
      const f = during;
      during = undefined;
      f?.();
    }));
    const late = put(Buffer.from('late'));
    let queuedAnswer: Promise<void> | undefined;
    during = () => { queuedAnswer = applier.apply([entry(late)]); };
    const stepped = applier.apply([entry(deleteAll())]);
    expect(stepped).toBeInstanceOf(Promise);
    let settled = false;
    void stepped!.then(() => { settled = true; });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(settled).toBe(false); // the delete is not through all 3000 keys yet
    await stepped;
    expect(queuedAnswer).toBeInstanceOf(Promise); // given while the delete ran: queued behind it
    // By the time the first promise resolves, the entry queued after it is applied too.
    expect(store.range({ key: Buffer.from('late') }).kvs).toHaveLength(1);
    expect(store.range({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0'), countOnly: true }).count).toBe(0);
    expect(applier.apply([entry(put(Buffer.from('after')))])).toBeUndefined(); // a plain put applies at once
  });

  it('a revoke of a lease with many keys deletes them in steps, in one revision', async () => {
    const pacing = timerPacing(() => undefined);
    const { applier, store, entry } = await setup(pacing);
    const grant: InternalRequest = { kind: 'leaseGrant', id: nextId++, leaseGrant: etcdserverpb.LeaseGrantRequest.fromPartial({ ID: 42n, TTL: 60n }) };
    const attached = Array.from({ length: 500 }, (_, i): InternalRequest => ({
      kind: 'put', id: nextId++, put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`leased/${i}`), value: Buffer.from('v'), lease: 42n }),
    }));
    applier.apply([entry(grant), ...attached.map(entry)]);
    await applier.flushed();
    const revBefore = store.currentRevision;
    const revoke: InternalRequest = { kind: 'leaseRevoke', id: nextId++, leaseRevoke: etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: 42n }) };
    const done = applier.wait(revoke.id);
    const pausesBefore = pacing.pauses;
    applier.apply([entry(revoke)]);
    expect(await done).toEqual({ kind: 'leaseRevoke', revision: revBefore + 1 });
    expect(pacing.pauses).toBeGreaterThan(pausesBefore);
    expect(store.currentRevision).toBe(revBefore + 1);
    expect(store.range({ key: Buffer.from('leased/'), rangeEnd: Buffer.from('leased0'), countOnly: true }).count).toBe(0);
  });

  it('serves other work between the steps of a ranged delete, which sees the store before it', async () => {
    const { applier, store, entry } = await setup(WRITE_PACING, { intervalMs: 100, limitEntries: 10_000 });
    const log: string[] = [];
    const revBefore = store.currentRevision;
    let reading = true;
    // A reader that gets a turn whenever the event loop is free (a client's serializable get).
    const reader = (async () => {
      while (reading) {
        await new Promise((resolve) => setImmediate(resolve));
        const r = store.range({ key: key(KEYS - 1) });
        log.push(`get rev=${r.revision === revBefore ? 'before' : 'after'} count=${r.count}`);
      }
    })();
    await new Promise((resolve) => setImmediate(resolve));
    const del = deleteAll();
    const done = applier.wait(del.id).then(() => log.push('delete answered'));
    log.push('delete applied');
    applier.apply([entry(del)]);
    await done;
    reading = false;
    await reader;
    const start = log.indexOf('delete applied');
    const end = log.indexOf('delete answered');
    const between = log.slice(start + 1, end);
    // Gets ran while the delete was applying, and saw the keys it was deleting.
    expect(between.length).toBeGreaterThan(0);
    expect(new Set(between)).toEqual(new Set(['get rev=before count=1']));
    expect(log.slice(end + 1).every((l) => l === 'get rev=after count=0')).toBe(true);
  });

  it('applies a txn of up to 256 puts in one go; one with a range among more than 64 ops goes in steps', async () => {
    const pacing = { entriesPerStep: 4, pauses: 0, pause: async () => {
      pacing.pauses++;
      await new Promise((resolve) => setImmediate(resolve));
    } };
    const { applier, store, entry } = await setup(pacing);
    const putOp = (k: Buffer) => etcdserverpb.RequestOp.fromPartial({ requestPut: { key: k, value: Buffer.from('w') } });
    const txn = (success: etcdserverpb.RequestOp[]): InternalRequest => ({ kind: 'txn', id: nextId++, txn: etcdserverpb.TxnRequest.fromPartial({ success }) });
    const puts = txn(Array.from({ length: 256 }, (_, i) => putOp(key(i))));
    const rev = store.currentRevision;
    applier.apply([entry(puts)]);
    // Applied synchronously: no pause, the revision already published, the values already read back.
    expect(pacing.pauses).toBe(0);
    expect(store.currentRevision).toBe(rev + 1);
    expect(store.range({ key: key(255) }).kvs[0]!.modRevision).toBe(rev + 1);
    const mixed = txn([...Array.from({ length: 70 }, (_, i) => putOp(key(i))), etcdserverpb.RequestOp.fromPartial({ requestRange: { key: key(0) } })]);
    const done = applier.wait(mixed.id);
    applier.apply([entry(mixed)]);
    expect(store.currentRevision).toBe(rev + 1);
    await done;
    expect(pacing.pauses).toBeGreaterThan(0);
    expect(store.currentRevision).toBe(rev + 2);
  });
});

