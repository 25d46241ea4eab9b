// The real etcdctl (3.4) against raftkv and against real etcd, step by step: the same commands
// must print the same output (endpoints, IDs that differ by nature, and timings normalised).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, normaliseEtcdctl, type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';
import { startSubjects, TOPOLOGIES, type Subjects } from '@raftkv/testkit';

interface Step { args: string[]; input?: string; json?: boolean }

const TXN_INPUT = ['value("foo") = "bar"', 'version("missing") = "0"', '', 'put foo from-txn', 'get fop', '', 'put foo failed', '', ''].join('\n');
const TXN_FAIL_INPUT = ['mod("foo") < "2"', '', 'put x never', '', 'get foo', 'del fo --prefix', '', ''].join('\n');

const STEPS: Step[] = [
  { args: ['put', 'foo', 'bar'] },
  { args: ['put', 'foo2', 'bar2'] },
  { args: ['put', 'fop', 'x', '--prev-kv'] },
  { args: ['put', 'fop', 'y', '--prev-kv'] },
  { args: ['put', 'a', '1'] },
  { args: ['put', 'b', '2'] },
  { args: ['put', 'zzz', '3'] },
  { args: ['get', 'foo'] },
  { args: ['get', 'missing'] },
  { args: ['get', 'fo', '--prefix'] },
  { args: ['get', 'b', '--from-key'] },
  { args: ['get', '', '--prefix', '--keys-only'] },
  { args: ['get', 'foo', '--rev=2'] },
  { args: ['get', 'fo', '--prefix', '--limit=2'] },
  { args: ['get', 'fo', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'] },
  { args: ['get', '', '--prefix', '--sort-by=VALUE', '--order=ASCEND', '--limit=3'] },
  { args: ['get', 'fo', '--prefix', '--sort-by=CREATE', '--order=DESCEND', '--keys-only'] },
  { args: ['get', 'a', 'c'] },
  { args: ['get', 'fo', '--prefix', '-w', 'json'], json: true },
  { args: ['get', 'foo', '--print-value-only'] },
  { args: ['get', 'foo', '-w', 'fields'] },
  { args: ['txn'], input: TXN_INPUT },
  { args: ['txn', '-w', 'json'], input: TXN_FAIL_INPUT, json: true },
  { args: ['get', 'foo'] },
  { args: ['del', 'missing'] },
  { args: ['del', 'fo', '--prefix', '--prev-kv'] },
  { args: ['del', 'a', '--from-key'] },
  { args: ['get', '', '--prefix'] },
  { args: ['put', 'k1', 'v1'] },
  { args: ['put', 'k1', 'v2'] },
  { args: ['compaction', '3'] },
  { args: ['compaction', '2'] },
  { args: ['compaction', '1000'] },
  { args: ['get', 'foo', '--rev=2'] },
  { args: ['get', 'k1', '--rev=100'] },
  { args: ['put', '', 'empty-key'] },
  { args: ['get', 'k1', '-w', 'json'], json: true },
  { args: ['compaction', '--physical', '12'] },
  { args: ['get', 'k1', '--rev=12'] },
];

/**
 * IDs and the raft term in `-w fields`/`-w json` output: a three-member cluster's differ from a
 * single etcd's by nature (its term counts its own elections; under load it may hold one more).
 */
const withoutFieldIds = (text: string) => text
  .replace(/"(ClusterID|MemberID)" : \d+/g, '"$1" : ID')
  .replace(/"RaftTerm" : \d+/g, '"RaftTerm" : TERM')
  .replace(/"raft_term":\d+/g, '"raft_term":TERM');

async function run(endpoint: string, step: Step, ids: 'compare' | 'ignore' = 'compare') {
  const r = await etcdctl(endpoint, step.args, step.input);
  const norm = (t: string) => (ids === 'ignore' ? withoutFieldIds(normaliseEtcdctl(t, endpoint)) : normaliseEtcdctl(t, endpoint));
  return { code: r.code, stdout: norm(r.stdout), stderr: norm(r.stderr) };
}

describe.each(TOPOLOGIES)('etcdctl against raftkv (%s) prints what it prints against etcd', (topology) => {
  let subjects: Subjects | undefined;
  beforeAll(async () => {
    subjects = await startSubjects(topology);
  }, 60_000);
  afterAll(async () => {
    await subjects?.stop();
  });

  it('runs the KV commands with the same output, step by step', async () => {
    const { etcd, raftkv } = subjects!;
    const transcript: string[] = [];
    for (const step of STEPS) {
      const ids = topology === 'one member' ? 'compare' : 'ignore';
      const [expected, actual] = await Promise.all([run(etcd.endpoint, step, ids), run(raftkv.endpoint, step, ids)]);
      transcript.push(`$ etcdctl ${step.args.join(' ')}${step.input ? ' <<< ' + JSON.stringify(step.input) : ''}\n${actual.stdout}${actual.stderr}`);
      expect(actual, `etcdctl ${step.args.join(' ')}`).toEqual(expected);
    }
    if (process.env['RAFTKV_PRINT_TRANSCRIPT']) console.log(transcript.join('\n'));
  }, 120_000);
});

describe('etcdctl against a one-member raftkv', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  beforeAll(async () => {
    pair = await startPair();
    ({ etcd, raftkv } = pair);
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('reports health, status and members like etcd', async () => {
    const health = await run(raftkv.endpoint, { args: ['endpoint', 'health'] });
    expect(health).toEqual(await run(etcd.endpoint, { args: ['endpoint', 'health'] }));
    expect(health.stdout + health.stderr).toContain('ENDPOINT is healthy');

    const members = await run(raftkv.endpoint, { args: ['member', 'list'] });
    expect(members).toEqual(await run(etcd.endpoint, { args: ['member', 'list'] }));

    const status = JSON.parse((await etcdctl(raftkv.endpoint, ['endpoint', 'status', '-w', 'json'])).stdout) as Array<{
      Endpoint: string; Status: { header: { member_id: number; revision: number }; version: string; leader: number; raftIndex: number; raftAppliedIndex: number; dbSize: number };
    }>;
    expect(status).toHaveLength(1);
    const s = status[0]!.Status;
    expect(s.leader).toBe(s.header.member_id);
    expect(s.version).toMatch(/^3\.4\./);
    expect(s.raftAppliedIndex).toBe(s.raftIndex);
    expect(s.dbSize).toBeGreaterThan(0);
    const table = await etcdctl(raftkv.endpoint, ['endpoint', 'status']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(raftkv.endpoint);
  }, 60_000);
});
