import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLease, encodeLease } from '@raftkv/lease';
import { decodeEtcdLease, encodeEtcdLease, leaseFromEtcd, leaseToEtcd, membersToEtcd, removedToEtcd } from './etcd-buckets.js';

// Bytes read from a snapshot written by etcd 3.4.23 (a 100 s lease; a started member).
const ETCD_LEASE = { id: 0x390da24a357c3416n, hex: '0896e8f0aba3c9e886391064' };
const ETCD_MEMBER = {
  key: 'bdae9bbc11dd390d',
  json: '{"id":13668033151171901709,"peerURLs":["http://127.0.0.1:23801"],"name":"e1","clientURLs":["http://127.0.0.1:23791"]}',
};

const stored = (m: { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }) => ({ value: Buffer.from(JSON.stringify(m)) });

describe('etcd bucket encodings', () => {
  it('writes a lease as etcd 3.4 does, and reads it back', () => {
    expect(encodeEtcdLease(ETCD_LEASE.id, 100, 0).toString('hex')).toBe(ETCD_LEASE.hex);
    expect(decodeEtcdLease(Buffer.from(ETCD_LEASE.hex, 'hex'))).toEqual({ id: ETCD_LEASE.id, ttl: 100, remainingTtl: 0 });
    const key = Buffer.alloc(8);
    key.writeBigInt64BE(ETCD_LEASE.id);
    const [k, v] = leaseFromEtcd(key, Buffer.from(ETCD_LEASE.hex, 'hex'));
    expect(k).toEqual(key);
    expect(decodeLease(v)).toEqual({ id: ETCD_LEASE.id, ttlSeconds: 100, remainingTtlSeconds: 0 });
    expect(leaseToEtcd(v).toString('hex')).toBe(ETCD_LEASE.hex);
  });

  it('round-trips any lease ID, TTL and checkpointed remaining TTL', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }), fc.integer({ min: 1, max: 9_000_000_000 }), fc.integer({ min: 0, max: 9_000_000_000 }), (id, ttl, remaining) => {
      const raftkv = encodeLease({ id, ttlSeconds: ttl, remainingTtlSeconds: remaining });
      const key = Buffer.alloc(8);
      key.writeBigInt64BE(id);
      expect(decodeLease(leaseFromEtcd(key, leaseToEtcd(raftkv))[1])).toEqual(decodeLease(raftkv));
    }), { seed: 13 });
  });

  it('refuses a lease whose key does not name it, and malformed bytes', () => {
    expect(() => leaseFromEtcd(Buffer.alloc(8), Buffer.from(ETCD_LEASE.hex, 'hex'))).toThrow(/does not name lease/);
    expect(() => decodeEtcdLease(Buffer.from('0896', 'hex'))).toThrow(/truncated varint/);
    expect(() => decodeEtcdLease(Buffer.from('2001', 'hex'))).toThrow(/unexpected tag/);
  });

  it('writes members as etcd 3.4 does: hex ID keys in byte order, Go\'s JSON with omitempty fields', () => {
    const out = membersToEtcd([
      stored({ id: 'f00d', name: '', peerUrls: ['http://10.0.0.9:2380'], clientUrls: [], isLearner: true }),
      stored({ id: ETCD_MEMBER.key, name: 'e1', peerUrls: ['http://127.0.0.1:23801'], clientUrls: ['http://127.0.0.1:23791'], isLearner: false }),
    ]);
    expect(out.map(([k, v]) => [k.toString(), v.toString()])).toEqual([
      [ETCD_MEMBER.key, ETCD_MEMBER.json],
      ['f00d', '{"id":61453,"peerURLs":["http://10.0.0.9:2380"],"isLearner":true}'],
    ]);
    const removed = Buffer.alloc(8);
    removed.writeBigUInt64BE(0xabcn);
    expect(removedToEtcd([{ key: removed }]).map(([k, v]) => [k.toString(), v.toString()])).toEqual([['abc', 'removed']]);
  });
});
