// One leader at a time through a partition, on 3-member raftkv and etcd 3.4.23 clusters: the
// leading process talks only to the member that gets cut off; its session must end (it stops
// believing it leads) before any other process is elected. Processes print wall-clock times
// (same machine, same clock), so "before" is checked on the times they acted on.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@raftkv/client';
import { spawnTracked, startCluster, type Cluster } from '@raftkv/testkit';
import { eventually, KINDS } from './servers.js';

const CONTENDER = fileURLToPath(new URL('./fixtures/contender.mjs', import.meta.url));
const TTL_SECONDS = 3;

/**
 * The waiting contenders' TTL. etcd 3.4 forwards a follower's lease renewal to the cut-off
 * leader for up to its request timeout (about 6 s here), past a 3 s TTL: there both waiters'
 * sessions could lapse before a new leader exists, and nobody is left to be elected. raftkv
 * bounds each forward by an election timeout, so its waiters keep the short TTL.
 */
const WAITER_TTL_SECONDS: Record<'raftkv' | 'etcd', number> = { raftkv: TTL_SECONDS, etcd: 10 };

function contender(id: string, endpoints: string[], ttlSeconds = TTL_SECONDS): { child: ChildProcess; out: () => string } {
  const child = spawnTracked(process.execPath, [CONTENDER, 'elect', 'part', id, String(ttlSeconds), endpoints.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  return { child, out: () => out };
}

describe.each(KINDS)('one leader through a partition (%s)', (kind) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(kind, { size: 3, partition: true });
    await cluster.waitForLeader();
  }, 60_000);
  afterAll(async () => {
    cluster?.net?.heal();
    await cluster?.close();
  });

  it('the cut-off leader’s session ends before another process is elected', async () => {
    const leaderMember = await cluster.waitForLeader();
    const cut = cluster.members.indexOf(leaderMember);
    const others = cluster.members.filter((_, i) => i !== cut).map((m) => m.endpoint);
    const first = contender('c0', [leaderMember.endpoint]);
    const procs = [first];
    try {
      const won = await eventually('c0 leads', async () => /elected \S+ \d+ (\d+)/.exec(first.out()) ?? undefined);
      const electedAt = Number(won[1]);
      procs.push(contender('c1', others, WAITER_TTL_SECONDS[kind]), contender('c2', [...others].reverse(), WAITER_TTL_SECONDS[kind]));
      const client = new Client({ endpoints: others });
      await eventually('c1 and c2 queued', async () => ((await client.range('part/', { prefix: true })).count === 3n ? true : undefined));
      client.close();
      cluster.net!.isolate(cut);
      const lost = await eventually('c0 gives up', async () => /session lost (\d+)/.exec(first.out()) ?? undefined, 30_000);
      const next = await eventually('a new leader', async () => {
        for (const p of procs.slice(1)) {
          const m = /elected \S+ \d+ (\d+)/.exec(p.out());
          if (m) return { who: p, at: Number(m[1]) };
        }
        return undefined;
      }, 30_000);
      const story = procs.map((p, i) => `c${i}: ${p.out().trim().replace(/\n/g, ' | ')}`).join('\n');
      expect(Number(lost[1]), story).toBeGreaterThan(electedAt);
      // Never two leaders: c0 stopped before the next one started.
      expect(next.at, story).toBeGreaterThan(Number(lost[1]));
      expect(procs.slice(1).filter((p) => /elected/.test(p.out())), story).toHaveLength(1);
    } finally {
      for (const p of procs) p.child.kill('SIGKILL');
      cluster.net!.heal();
    }
  }, 90_000);
});
