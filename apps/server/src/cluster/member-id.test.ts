import { describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId, formatUrl } from './member-id.js';

describe('member and cluster IDs', () => {
  it('formats URLs without the trailing slash Go omits', () => {
    expect(formatUrl(new URL('http://127.0.0.1:2380'))).toBe('http://127.0.0.1:2380');
    expect(formatUrl(new URL('https://example.com:2380/x'))).toBe('https://example.com:2380/x');
  });

  // Reference values printed by real etcd 3.4.23 (`etcdctl member list -w json`) for a member
  // started with the default flags: --initial-advertise-peer-urls http://localhost:2380,
  // --initial-cluster-token etcd-cluster.
  it.each([
    { urls: ['http://localhost:2380'], token: 'etcd-cluster', member: 0x8e9e05c52164694dn, cluster: 0xcdf818194e3a8c32n },
  ])('derives $member.toString(16) as etcd does', ({ urls, token, member, cluster }) => {
    const id = computeMemberId(urls.map((u) => new URL(u)), token);
    expect(id).toBe(member);
    expect(computeClusterId([id])).toBe(cluster);
  });

  it('does not depend on the order of the peer URLs', () => {
    const a = computeMemberId([new URL('http://a:1'), new URL('http://b:2')], 't');
    const b = computeMemberId([new URL('http://b:2'), new URL('http://a:1')], 't');
    expect(a).toBe(b);
  });
});
