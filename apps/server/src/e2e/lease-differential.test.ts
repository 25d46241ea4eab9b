// Differential test of leases: the same random grant/revoke/keepalive/time-to-live/attach/detach
// sequence against real etcd 3.4 and raftkv, with client-chosen lease IDs so both see the same
// IDs. Remaining TTLs may differ by the second that ticks between the two calls.
//
// Short leases (2 s after the minimum-TTL raise) also expire during the run. Each server expires
// a lease on its own clock and loop (every 500 ms), so a request sent while one may expire could
// meet it alive on one server and revoked on the other: before each request, a lease that could
// expire before the request is answered on both is first waited out until both have revoked it.
// Every request is still compared in full; the expiries themselves happen between requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, eventually, putRequest, txnRequest, type EtcdClient } from '@raftkv/testkit';
import { outcome } from '@raftkv/testkit';
import { type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';

const OPS = Number(process.env['RAFTKV_LEASE_DIFF_OPS'] ?? 600);
const IDS = [1n, 2n, 3n, 0x7fff_ffff_ffff_fff0n, 5n];
const KEYS = ['s/a', 's/b', 's/c', 'other'];
const TTLS = [-3n, 0n, 1n, 7n, 60n, 3600n, 9_000_000_000n, 9_000_000_001n];

/**
 * How long before a lease's earliest possible expiry a request no longer goes out beside it; it
 * grows to a few times the slowest request seen (both servers' answers), so that on a loaded
 * machine no expiry falls inside a request either.
 */
const EXPIRY_GUARD_MS = 1000;

/** Remaining TTLs within a second of each other count as equal. */
function close(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b === 'string' && /^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    return Math.abs(Number(a) - Number(b)) <= 1;
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('lease differential against etcd 3.4', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  let e: EtcdClient;
  let r: EtcdClient;
  beforeAll(async () => {
    pair = await startPair();
    ({ etcd, raftkv } = pair);
    e = connect(etcd.endpoint);
    r = connect(raftkv.endpoint);
  }, 60_000);
  afterAll(async () => {
    e?.close();
    r?.close();
    await pair?.stop();
  });

  it(`gives etcd's answers to ${OPS} random lease operations`, async () => {
    const rnd = new Random(Number(process.env['RAFTKV_LEASE_DIFF_SEED'] ?? 11));
    const kinds: Record<string, number> = {};
    // Per live lease: the earliest moment either server may expire it (performance.now() ms): its
    // grant or last renewal was sent no earlier than that minus its TTL.
    const expiresFrom = new Map<bigint, number>();
    let guardMs = EXPIRY_GUARD_MS;
    let expired = 0;
    /** Waits until every lease about to expire is gone from both servers (looking again after each wait). */
    const settleExpiring = async () => {
      for (;;) {
        const lease = [...expiresFrom].find(([, from]) => from - performance.now() < guardMs)?.[0];
        if (lease === undefined) return;
        await eventually(`lease ${lease} expired on both servers`, async () => {
          const [a, b] = await Promise.all([e.leaseTimeToLive(lease, false), r.leaseTimeToLive(lease, false)]);
          return String(a.TTL) === '-1' && String(b.TTL) === '-1' ? true : undefined;
        }, 60_000);
        expiresFrom.delete(lease);
        expired++;
      }
    };
    for (let i = 0; i < OPS; i++) {
      const id = rnd.pick(IDS);
      const kind = rnd.pick(['grant', 'grant', 'revoke', 'put', 'put', 'putIgnoreLease', 'delete', 'ttl', 'leases', 'keepalive', 'txnPut'] as const);
      let send: (c: EtcdClient) => Promise<unknown>;
      switch (kind) {
        case 'grant': { const ttl = rnd.pick(TTLS); send = (c) => c.leaseGrant(id, ttl); break; }
        case 'revoke': send = (c) => c.leaseRevoke(id); break;
        case 'put': { const key = Buffer.from(rnd.pick(KEYS)); const lease = rnd.bool(0.8) ? id : 0n; send = (c) => c.put({ key, value: Buffer.from(`v${i}`), lease, prevKv: true }); break; }
        case 'putIgnoreLease': { const key = Buffer.from(rnd.pick(KEYS)); send = (c) => c.put({ key, value: Buffer.from(`w${i}`), ignoreLease: true }); break; }
        case 'delete': { const key = Buffer.from(rnd.pick(KEYS)); send = (c) => c.deleteRange({ key, prevKv: true }); break; }
        case 'ttl': { const keys = rnd.bool(); send = (c) => c.leaseTimeToLive(id, keys); break; }
        case 'leases': send = (c) => c.leaseLeases(); break;
        case 'keepalive': send = (c) => c.leaseKeepAliveOnce(id); break;
        case 'txnPut': {
          const key = Buffer.from(rnd.pick(KEYS));
          send = (c) => c.txn(txnRequest({ success: [{ requestPut: putRequest({ key, value: Buffer.from('t'), lease: id }) }] }));
          break;
        }
      }
      await settleExpiring();
      const sentAt = performance.now();
      const [want, got] = [await outcome(send(e)), await outcome(send(r))];
      guardMs = Math.max(guardMs, 3 * (performance.now() - sentAt));
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      // etcd's answer says what both now hold (compared below): a lease granted or renewed for TTL
      // seconds at sentAt or later, or gone.
      const ttl = Number((want as { ok?: { TTL?: unknown } }).ok?.TTL ?? 0);
      if ((kind === 'grant' || kind === 'keepalive') && ttl > 0) expiresFrom.set(id, sentAt + ttl * 1000);
      else if (kind === 'revoke' || kind === 'keepalive') expiresFrom.delete(id);
      const sortKeys = (o: unknown) => JSON.parse(JSON.stringify(o), (k, v: unknown) => (k === 'keys' && Array.isArray(v) ? [...v].sort() : k === 'leases' && Array.isArray(v) ? [...v].sort((a, b) => String(a.ID).localeCompare(String(b.ID))) : v));
      const [w, g] = [sortKeys(want), sortKeys(got)];
      const same = JSON.stringify(w, (k, v) => (k === 'TTL' ? 'T' : v)) === JSON.stringify(g, (k, v) => (k === 'TTL' ? 'T' : v))
        && close((w as { ok?: { TTL?: unknown } }).ok?.TTL, (g as { ok?: { TTL?: unknown } }).ok?.TTL);
      if (!same) expect(g, `request ${i}: ${kind} lease ${id}`).toEqual(w);
    }
    const compared = Object.values(kinds).reduce((a, b) => a + b, 0);
    console.log(`lease differential: ${compared} operations compared, ${expired} leases expired between them`, kinds);
  }, 300_000);
});
