import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership, decodeConfChangeContext, encodeConfChangeContext, type Member } from './membership.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function openStore(dir?: string): Promise<{ store: MvccStore; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'membership-'));
  if (!dir) dirs.push(d);
  return { store: await MvccStore.open({ dir: d }), dir: d };
}

const member = (id: bigint, over: Partial<Member> = {}): Member => ({
  id, name: `m${id}`, peerUrls: [`http://127.0.0.1:${2380 + Number(id)}`], clientUrls: [], isLearner: false, ...over,
});

const open = (store: MvccStore) => new Membership(store.bucket('members'), store.bucket('members_removed'));

describe('Membership', () => {
  it('lists members sorted by ID and survives a restart once committed', async () => {
    const { store, dir } = await openStore();
    const m = open(store);
    m.add(member(30n));
    m.add(member(2n ** 63n + 1n));
    m.add(member(7n, { isLearner: true }));
    m.setAttributes(30n, 'thirty', ['http://127.0.0.1:2379']);
    expect(m.list().map((x) => x.id)).toEqual([7n, 30n, 2n ** 63n + 1n]);
    await store.commit();
    await store.close();

    const reopened = await openStore(dir);
    const again = open(reopened.store);
    expect(again.list()).toEqual(m.list());
    expect(again.get(30n)).toMatchObject({ name: 'thirty', clientUrls: ['http://127.0.0.1:2379'] });
    await reopened.store.close();
  });

  it('remembers removed IDs and never re-adds one', async () => {
    const { store } = await openStore();
    const m = open(store);
    m.add(member(1n));
    m.add(member(2n));
    m.remove(2n);
    m.add(member(2n));
    expect(m.get(2n)).toBeUndefined();
    expect(m.isRemoved(2n)).toBe(true);
    await store.commit();
    m.reload();
    expect(m.isRemoved(2n)).toBe(true);
    expect(m.list().map((x) => x.id)).toEqual([1n]);
    await store.close();
  });

  it('promotes learners, updates peer URLs and finds members by URL', async () => {
    const { store } = await openStore();
    const m = open(store);
    m.add(member(1n));
    m.add(member(2n, { isLearner: true }));
    m.promote(2n);
    m.setRaftAttributes(1n, ['http://10.0.0.1:2380'], false);
    expect(m.votingMembers().map((x) => x.id)).toEqual([1n, 2n]);
    expect(m.findByPeerUrl(['http://10.0.0.1:2380'])?.id).toBe(1n);
    expect(m.findByPeerUrl(['http://10.0.0.1:2380'], 1n)).toBeUndefined();
    await store.close();
  });
});

describe('conf change context', () => {
  it('round-trips the request ID and member, and is absent for bootstrap entries', () => {
    const ctx = { requestId: 2n ** 64n - 1n, member: { id: 0xabcdefn, peerUrls: ['http://a:1'], isLearner: true } };
    expect(decodeConfChangeContext(encodeConfChangeContext(ctx))).toEqual(ctx);
    expect(decodeConfChangeContext(new Uint8Array(0))).toBeUndefined();
  });
});
