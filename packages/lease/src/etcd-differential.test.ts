import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseError, Lessor, minLeaseTtlSeconds } from './index.js';
import type { LeaseErrorCode } from './index.js';
import { etcdctlSync, removeDir, startEtcd, type ServerProcess } from '@raftkv/testkit';
import { FakeClock, MemoryLeaseStore, dec, enc } from './test-support/fakes.js';

// The same requests against real etcd 3.4 (through etcdctl) and against the lessor. etcd
// runs with non-default raft timing so the minimum-TTL rule is checked, not just "2".

const HEARTBEAT_MS = 200;
const ELECTION_MS = 3_000;

// What etcd's gRPC layer says for each lessor error a client can see.
const ETCD_MESSAGE: Partial<Record<LeaseErrorCode, string>> = {
  LeaseNotFound: 'etcdserver: requested lease not found',
  LeaseExist: 'etcdserver: lease already exists',
  LeaseTTLTooLarge: 'etcdserver: too large lease TTL',
};

/** Real etcd 3.4 on loopback, driven with the real etcdctl. */
interface RealEtcd {
  ctl(...args: string[]): ReturnType<typeof etcdctlSync>;
}

let server: ServerProcess | undefined;
let etcd: RealEtcd;
let lessor: Lessor;

beforeAll(async () => {
  const started = await startEtcd({ heartbeatMs: HEARTBEAT_MS, electionMs: ELECTION_MS });
  server = started;
  etcd = { ctl: (...args) => etcdctlSync(started.endpoint, args) };
  lessor = new Lessor({
    clock: new FakeClock(),
    store: new MemoryLeaseStore(),
    minTtlSeconds: minLeaseTtlSeconds(ELECTION_MS / HEARTBEAT_MS, HEARTBEAT_MS),
  });
  lessor.promote(ELECTION_MS);
}, 30_000);

afterAll(async () => {
  await server?.kill();
  if (server) removeDir(server.dataDir);
});

/** etcd's answer to `lease grant`: the lease ID and TTL, or the error text. */
function etcdGrant(ttl: number): { id: bigint; ttl: number } | { error: string } {
  const r = etcd.ctl('lease', 'grant', String(ttl));
  if (!r.ok) return { error: r.err };
  const m = /lease ([0-9a-f]+) granted with TTL\((\d+)s\)/.exec(r.out);
  if (!m) throw new Error(`unexpected etcdctl output: ${r.out}`);
  return { id: BigInt(`0x${m[1]}`), ttl: Number(m[2]) };
}

function lessorError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LeaseError) return ETCD_MESSAGE[err.code] ?? err.code;
    throw err;
  }
  return 'no error';
}

describe('lessor vs real etcd 3.4', () => {
  it('grants the same TTLs (minimum TTL from the raft timing, MaxLeaseTTL) and refuses the same', () => {
    expect(minLeaseTtlSeconds(ELECTION_MS / HEARTBEAT_MS, HEARTBEAT_MS)).toBe(5);
    for (const ttl of [0, 1, 4, 5, 6, 60, 9_000_000_000, 9_000_000_001]) {
      const fromEtcd = etcdGrant(ttl);
      if ('error' in fromEtcd) {
        const mine = lessorError(() => lessor.grant(BigInt(ttl) + 1n, ttl));
        expect(fromEtcd.error, `TTL ${ttl}`).toContain(mine);
      } else {
        expect(lessor.grant(fromEtcd.id, ttl), `TTL ${ttl}`).toEqual({ id: fromEtcd.id, ttlSeconds: fromEtcd.ttl });
      }
    }
    // Both list the same leases.
    const listed = etcd.ctl('lease', 'list');
    expect(listed.ok).toBe(true);
    const ids = [...(listed.ok ? listed.out : '').matchAll(/^([0-9a-f]{8,16})$/gm)].map((m) => BigInt(`0x${m[1]}`));
    expect(new Set(ids)).toEqual(new Set(lessor.leases()));
  });

  it('reports the same granted TTL and keys, and revoke removes exactly those keys', () => {
    const granted = etcdGrant(60);
    if ('error' in granted) throw new Error(granted.error);
    lessor.grant(granted.id, 60);
    const hex = granted.id.toString(16);
    for (const key of ['lease/b', 'lease/a', 'lease/c']) {
      expect(etcd.ctl('put', `--lease=${hex}`, key, 'v').ok).toBe(true);
      lessor.attach(granted.id, enc(key));
    }
    expect(etcd.ctl('put', 'lease/free', 'v').ok).toBe(true);

    const ttl = etcd.ctl('lease', 'timetolive', '--keys', '-w', 'json', hex);
    if (!ttl.ok) throw new Error(ttl.err);
    const fromEtcd = JSON.parse(ttl.out) as { 'granted-ttl': number; keys: string[] };
    const mine = lessor.timeToLive(granted.id, { keys: true });
    expect(mine.grantedTtlSeconds).toBe(fromEtcd['granted-ttl']);
    expect(mine.keys.map(dec)).toEqual(fromEtcd.keys.map((k) => Buffer.from(k, 'base64').toString()).sort());

    expect(etcd.ctl('lease', 'revoke', hex).ok).toBe(true);
    const left = etcd.ctl('get', '--prefix', '--keys-only', 'lease/');
    expect(left.ok && left.out.split('\n').filter(Boolean)).toEqual(['lease/free']);
    expect(lessor.revoke(granted.id).map(dec)).toEqual(['lease/a', 'lease/b', 'lease/c']);
  });

  it('gives the same error for every call on a lease that does not exist', () => {
    const missing = 0x1234n;
    const calls: Array<[string, string[], () => unknown]> = [
      ['revoke', ['lease', 'revoke', '1234'], () => lessor.revoke(missing)],
      ['keepalive', ['lease', 'keep-alive', '--once', '1234'], () => lessor.renew(missing)],
      ['put with it', ['put', '--lease=1234', 'k', 'v'], () => lessor.attach(missing, enc('k'))],
    ];
    for (const [name, args, call] of calls) {
      const r = etcd.ctl(...args);
      expect(r.ok, name).toBe(false);
      expect(r.ok ? '' : r.err, name).toContain(lessorError(call));
    }
  });
});
