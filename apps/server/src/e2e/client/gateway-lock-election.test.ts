// The HTTP/JSON gateway's Lock and Election paths (/v3/lock/*, /v3/election/*) on raftkv beside
// etcd 3.4.23: the same requests give the same JSON (lease IDs, which are random, normalised).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCall, removeDir, type ServerProcess } from '@raftkv/testkit';
import { KINDS, startOne, type Kind } from './servers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function scenario(url: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const grant = await gatewayCall(url, 'lease/grant', { TTL: 30 });
  const id = String(grant['ID']);
  const hex = BigInt(id).toString(16);
  const norm = (v: Record<string, unknown>): unknown => {
    const text = JSON.stringify(v, (k, x: unknown) => {
      if ((k === 'key' || k === 'name' || k === 'value') && typeof x === 'string') return Buffer.from(x, 'base64').toString().replace(hex, 'LEASE');
      if (x === id) return 'LEASE';
      return x;
    });
    return JSON.parse(text) as unknown;
  };
  const lock = await gatewayCall(url, 'lock/lock', { name: b64('gl'), lease: id });
  out.push(norm(lock));
  out.push(norm(await gatewayCall(url, 'lock/unlock', { key: lock['key'] })));
  out.push(norm(await gatewayCall(url, 'lock/lock', { name: b64('gl'), lease: '4660' })));
  out.push(norm(await gatewayCall(url, 'election/leader', { name: b64('ge') })));
  const campaign = await gatewayCall(url, 'election/campaign', { name: b64('ge'), lease: id, value: b64('v1') });
  out.push(norm(campaign));
  out.push(norm(await gatewayCall(url, 'election/proclaim', { leader: campaign['leader'], value: b64('v2') })));
  out.push(norm(await gatewayCall(url, 'election/leader', { name: b64('ge') })));
  out.push(norm(await gatewayCall(url, 'election/resign', { leader: campaign['leader'] })));
  out.push(norm(await gatewayCall(url, 'election/proclaim', { value: b64('x') })));
  return out;
}

describe('gateway Lock and Election paths: raftkv answers as etcd 3.4.23', () => {
  const servers = new Map<Kind, ServerProcess>();
  beforeAll(async () => {
    for (const k of KINDS) servers.set(k, await startOne(k));
  }, 60_000);
  afterAll(async () => {
    for (const s of servers.values()) { await s.stop(); removeDir(s.dataDir); }
  });

  it('gives the same JSON', async () => {
    const etcd = await scenario(servers.get('etcd')!.clientUrl);
    const raftkv = await scenario(servers.get('raftkv')!.clientUrl);
    expect(JSON.stringify(etcd)).toContain('gl/LEASE');
    expect(raftkv).toEqual(etcd);
  });
});
