import { Wal } from '@raftkv/wal';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId } from '../cluster/member-id.js';
import { MemberRpcClient } from '../cluster/member-rpc.js';
import { parseConfig, type ServerConfig } from '../config/index.js';
import { createLogger } from '../logger.js';
import { decodeWalMetadata, encodeWalMetadata, resolveIdentity } from './identity.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'raftkv-identity-'));
  dirs.push(d);
  return d;
};
const log = createLogger('error');

function config(args: string[]): ServerConfig {
  const parsed = parseConfig(args, {});
  if (parsed.kind !== 'run') throw new Error('not a run config');
  return parsed.config;
}

const threeMembers = [
  '--name', 'b',
  '--initial-advertise-peer-urls', 'http://127.0.0.1:2382',
  '--initial-cluster', 'a=http://127.0.0.1:2380,b=http://127.0.0.1:2382,c=http://127.0.0.1:2384',
  '--initial-cluster-token', 'tok',
];

describe('WAL metadata', () => {
  it('round-trips the member and cluster IDs over all 64 bits', () => {
    for (const [m, c] of [[0n, 0n], [1n, 2n], [2n ** 64n - 1n, 2n ** 63n]] as const) {
      expect(decodeWalMetadata(encodeWalMetadata(m, c))).toEqual({ memberId: m, clusterId: c });
    }
  });

  it('refuses metadata of another length', () => {
    expect(() => decodeWalMetadata(new Uint8Array(15))).toThrow(/15 bytes, want 16/);
  });
});

describe('resolveIdentity', () => {
  it('derives a new cluster from --initial-cluster and the token, as etcd', async () => {
    const rpc = new MemberRpcClient(() => 0n);
    try {
      const id = await resolveIdentity(join(tempDir(), 'wal'), config(threeMembers), rpc, log);
      const urls = ['http://127.0.0.1:2380', 'http://127.0.0.1:2382', 'http://127.0.0.1:2384'].map((u) => computeMemberId([new URL(u)], 'tok'));
      expect(id.memberId).toBe(urls[1]);
      expect(id.voters).toEqual(urls);
      expect(id.clusterId).toBe(computeClusterId(urls));
      expect(id.initialMembers?.map((m) => m.name)).toEqual(['a', 'b', 'c']);
    } finally {
      rpc.close();
    }
  });

  it('takes a member with a WAL to be who its WAL says, whatever the flags', async () => {
    const walDir = join(tempDir(), 'wal');
    const wal = await Wal.create(walDir, encodeWalMetadata(0xabcn, 0xdefn));
    await wal.close();
    const rpc = new MemberRpcClient(() => 0n);
    try {
      const id = await resolveIdentity(walDir, config(threeMembers), rpc, log);
      expect(id).toEqual({ memberId: 0xabcn, clusterId: 0xdefn });
    } finally {
      rpc.close();
    }
  });

  it('gives up joining when no other member answers, naming the cause', async () => {
    const rpc = new MemberRpcClient(() => 0n);
    try {
      const joining = config([...threeMembers, '--initial-cluster-state', 'existing',
        '--initial-cluster', 'a=http://127.0.0.1:1,b=http://127.0.0.1:2382']);
      await expect(resolveIdentity(join(tempDir(), 'wal'), joining, rpc, log, { joinTimeoutMs: 300 }))
        .rejects.toThrow(/cannot fetch the member list of the existing cluster/);
    } finally {
      rpc.close();
    }
  });
});
