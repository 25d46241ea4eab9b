import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Membership } from '../cluster/membership.js';
import { parseConfig, type ServerConfig } from '../config/index.js';
import { createLogger } from '../logger.js';
import { buildStateMachine, leasedKeys } from './state-machine.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c(); });
const log = createLogger('error');
const bytes = (s: string): Uint8Array => Buffer.from(s);

async function openStore(): Promise<MvccStore> {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-sm-'));
  const store = await MvccStore.open({ dir });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  return store;
}

function config(): ServerConfig {
  const parsed = parseConfig([], {});
  if (parsed.kind !== 'run') throw new Error('not a run config');
  return parsed.config;
}

describe('leasedKeys', () => {
  it('lists every live key that names a lease, and only those', async () => {
    const store = await openStore();
    store.put({ key: bytes('a'), value: bytes('1'), lease: 5n }, 1);
    store.put({ key: bytes('b'), value: bytes('2') }, 2);
    store.put({ key: bytes('c'), value: bytes('3'), lease: 6n }, 3);
    store.put({ key: bytes('a'), value: bytes('4') }, 4);
    expect([...leasedKeys(store)].map((k) => [Buffer.from(k.key).toString(), k.lease])).toEqual([['c', 6n]]);
  });

  it('reads no key when there is no lease to attach to (asked when the scan would start)', async () => {
    const store = await openStore();
    store.put({ key: bytes('c'), value: bytes('3'), lease: 6n }, 1);
    let leases = 0;
    const keys = leasedKeys(store, () => leases > 0);
    leases = 1; // the lessor loads its leases before it reads the first key
    expect([...keys].length).toBe(1);
    await store.close();
    expect([...leasedKeys(store, () => false)]).toEqual([]);
    expect(() => [...leasedKeys(store)]).toThrow();
  });
});

describe('buildStateMachine', () => {
  it('recovers the lessor\'s leases and their keys from the backend', async () => {
    const store = await openStore();
    const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
    const first = buildStateMachine(store, membership, config(), log, () => {});
    first.lessor.grant(0x77n, 60);
    store.put({ key: bytes('k'), value: bytes('v'), lease: 0x77n }, 1);
    await store.commit();
    const again = buildStateMachine(store, membership, config(), log, () => {});
    expect(again.lessor.lookup(0x77n)).toBeDefined();
    again.lessor.promote(0);
    expect(again.lessor.timeToLive(0x77n, { keys: true }).keys.map((k) => Buffer.from(k).toString())).toEqual(['k']);
  });
});
