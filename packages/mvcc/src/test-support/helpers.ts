import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { MvccStore } from '../kvstore.js';
import type { MvccStoreOptions } from '../mvcc-store-options.js';
import type { KeyValue } from '../key-value.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

const dirs: string[] = [];
const stores: MvccStore[] = [];

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mvcc-test-'));
  dirs.push(d);
  return d;
}

/** Opens a store in a fresh temp dir; closed and removed after the test. */
export async function openStore(opts: Partial<MvccStoreOptions> = {}): Promise<MvccStore> {
  const s = await MvccStore.open({ dir: opts.dir ?? tempDir(), ...opts });
  stores.push(s);
  return s;
}

export function track(s: MvccStore): MvccStore {
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A KeyValue as plain strings/numbers, for readable assertions. */
export function plain(kv: KeyValue): { key: string; value: string; create: number; mod: number; version: number; lease: bigint } {
  return { key: dec(kv.key), value: dec(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version, lease: kv.lease };
}

export const keys = (kvs: KeyValue[]): string[] => kvs.map((kv) => dec(kv.key));
