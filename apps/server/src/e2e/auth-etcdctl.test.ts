// etcdctl's user, role and auth commands against raftkv and against real etcd 3.4.23, step by
// step: the same output, errors and exit codes, including what auth refuses on get, put, del,
// txn, watch, lease and the admin-only RPCs. Lease IDs and endpoints are normalised.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, etcdctlWhile, normaliseEtcdctl, startPair, type ServerPair } from '@raftkv/testkit';

interface Ctx { lease?: string; rootLease?: string }
interface Step {
  /** `name:password` for --user. */
  user?: string;
  args: string[] | ((ctx: Ctx) => string[]);
  input?: string;
  /** Reads something the next steps need from this server's output. */
  capture?: (stdout: string, ctx: Ctx) => void;
  /** A long-lived command (watch): run while a put happens, then stopped. */
  watchWhile?: string[];
}

const ROOT = 'root:rootpw';
const U1 = 'u1:u1pw';
const leaseOf = (out: string) => /lease ([0-9a-f]+) granted/.exec(out)?.[1] ?? 'none';

const STEPS: Step[] = [
  { args: ['user', 'list'] },
  { args: ['auth', 'enable'] }, // no root user
  { args: ['user', 'add', 'root:rootpw'] },
  { args: ['user', 'add', 'root:again'] },
  { args: ['user', 'add', 'u1:u1pw'] },
  { args: ['user', 'add', 'np', '--no-password'] },
  { args: ['role', 'add', 'r1'] },
  { args: ['role', 'add', 'r1'] },
  { args: ['role', 'add', 'r2'] },
  { args: ['role', 'grant-permission', 'r1', 'readwrite', 'foo'] },
  { args: ['role', 'grant-permission', 'r1', 'read', '--prefix', 'pre/'] },
  { args: ['role', 'grant-permission', 'r1', 'write', '--from-key', 'w'] },
  { args: ['role', 'grant-permission', 'r1', 'readwrite', 'a', 'c'] },
  { args: ['role', 'grant-permission', 'r2', 'write', 'foo'] },
  { args: ['role', 'grant-permission', 'r2', 'read', 'foo'] }, // same key: the type changes
  { args: ['role', 'grant-permission', 'nosuch', 'read', 'x'] },
  { args: ['role', 'get', 'r1'] },
  { args: ['role', 'get', 'r2'] },
  { args: ['role', 'get', 'nosuch'] },
  { args: ['role', 'list'] },
  { args: ['user', 'grant-role', 'u1', 'r1'] },
  { args: ['user', 'grant-role', 'u1', 'r1'] },
  { args: ['user', 'grant-role', 'u1', 'nosuch'] },
  { args: ['user', 'grant-role', 'nosuch', 'r1'] },
  { args: ['user', 'grant-role', 'np', 'r2'] },
  { args: ['user', 'get', 'u1'] },
  { args: ['user', 'get', 'u1', '--detail'] },
  { args: ['user', 'get', 'nosuch'] },
  { args: ['user', 'list'] },
  { args: ['role', 'revoke-permission', 'r2', 'nokey'] },
  { args: ['role', 'revoke-permission', 'r2', 'foo'] },
  { args: ['user', 'revoke-role', 'np', 'r1'] },
  { args: ['put', 'secret', 'before-auth'] },
  { args: ['auth', 'enable'] }, // etcdctl adds the root role and grants it, then enables
  { args: ['auth', 'enable'], user: ROOT },
  { args: ['role', 'list'], user: ROOT },
  // Without credentials, with wrong ones, with a password-less user.
  { args: ['get', 'foo'] },
  { args: ['put', 'foo', 'x'] },
  { args: ['get', 'foo'], user: 'u1:wrong' },
  { args: ['get', 'foo'], user: 'nosuch:pw' },
  { args: ['get', 'foo'], user: 'np:pw' },
  // What r1 grants and refuses.
  { args: ['put', 'foo', 'bar'], user: U1 },
  { args: ['get', 'foo'], user: U1 },
  { args: ['get', 'foo', '--consistency=s'], user: U1 },
  { args: ['put', 'foo', 'bar2', '--prev-kv'], user: U1 },
  { args: ['put', 'bar', 'x'], user: U1 },
  { args: ['get', 'pre/', '--prefix'], user: U1 },
  { args: ['put', 'pre/x', 'y'], user: U1 },
  { args: ['get', 'pr', '--prefix'], user: U1 },
  { args: ['put', 'wz', 'w'], user: U1 },
  { args: ['get', 'wz'], user: U1 },
  { args: ['put', 'b', '1'], user: U1 },
  { args: ['get', 'a', 'c'], user: U1 },
  { args: ['get', 'a', 'd'], user: U1 },
  { args: ['del', 'a', '--prefix'], user: U1 },
  { args: ['del', 'secret'], user: U1 },
  { args: ['get', 'secret'], user: ROOT },
  { args: ['txn'], user: U1, input: ['value("foo") = "bar2"', '', 'put b 2', '', 'put foo failed', '', ''].join('\n') },
  { args: ['txn'], user: U1, input: ['value("secret") = "x"', '', 'put b 3', '', '', ''].join('\n') },
  { args: ['txn'], user: U1, input: ['', 'get foo', 'put b 4', '', 'get secret', '', ''].join('\n') },
  { args: ['txn'], user: U1, input: ['', 'get foo', 'get b', '', '', ''].join('\n') },
  { args: ['compaction', '2'], user: U1 },
  // etcd 3.4 checks no permission for a compaction, nor for a lease grant: any caller, even none.
  { args: ['compaction', '3'] },
  { args: ['lease', 'grant', '10'] },
  { args: ['alarm', 'list'] },
  // Watch: read permission on the key or range.
  { args: ['watch', 'foo'], user: U1, watchWhile: ['put', 'foo', 'watched'] },
  { args: ['watch', 'secret'], user: U1, watchWhile: ['put', 'secret', 'unseen'] },
  // Leases: revoking needs write permission on every attached key.
  { args: ['lease', 'grant', '100'], user: U1, capture: (out, ctx) => { ctx.lease = leaseOf(out); } },
  { args: (c) => ['put', 'foo', 'leased', `--lease=${c.lease}`], user: U1 },
  { args: (c) => ['lease', 'revoke', c.lease!], user: U1 },
  { args: ['lease', 'grant', '100'], user: ROOT, capture: (out, ctx) => { ctx.rootLease = leaseOf(out); } },
  { args: (c) => ['put', 'secret', 'leased', `--lease=${c.rootLease}`], user: ROOT },
  { args: (c) => ['lease', 'revoke', c.rootLease!], user: U1 },
  { args: (c) => ['lease', 'timetolive', c.rootLease!], user: U1 },
  // Admin-only RPCs.
  { args: ['user', 'list'], user: U1 },
  { args: ['role', 'add', 'r3'], user: U1 },
  { args: ['user', 'get', 'u1'], user: U1 },
  { args: ['user', 'get', 'root'], user: U1 },
  { args: ['role', 'get', 'r1'], user: U1 },
  { args: ['role', 'get', 'r2'], user: U1 },
  { args: ['endpoint', 'hashkv'], user: U1 },
  { args: ['defrag'], user: U1 },
  { args: ['member', 'list', '-w', 'json'], user: U1 },
  { args: ['auth', 'disable'], user: U1 },
  // Password changes, role and user removal take effect at once.
  { args: ['user', 'passwd', 'u1', '--interactive=false'], user: ROOT, input: 'newpw\n' },
  { args: ['get', 'foo'], user: U1 },
  { args: ['get', 'foo'], user: 'u1:newpw' },
  { args: ['user', 'revoke-role', 'u1', 'r1'], user: ROOT },
  { args: ['get', 'foo'], user: 'u1:newpw' },
  { args: ['user', 'revoke-role', 'root', 'root'], user: ROOT },
  { args: ['user', 'delete', 'root'], user: ROOT },
  { args: ['role', 'delete', 'root'], user: ROOT },
  { args: ['role', 'delete', 'r1'], user: ROOT },
  { args: ['role', 'delete', 'r1'], user: ROOT },
  { args: ['user', 'delete', 'u1'], user: ROOT },
  { args: ['get', 'foo'], user: 'u1:newpw' },
  { args: ['alarm', 'list'], user: ROOT },
  { args: ['auth', 'disable'], user: ROOT },
  { args: ['get', 'foo'] },
  { args: ['get', 'foo'], user: ROOT }, // authenticating with auth off
  { args: ['auth', 'disable'] },
  { args: ['user', 'delete', 'root'] },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
];

async function run(endpoint: string, step: Step, ctx: Ctx): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = [...(step.user ? ['--user', step.user] : []), ...(typeof step.args === 'function' ? step.args(ctx) : step.args)];
  const r = step.watchWhile
    ? await etcdctlWhile(endpoint, args, async () => { await etcdctl(endpoint, ['--user', ROOT, ...step.watchWhile!]); })
    : await etcdctl(endpoint, args, step.input);
  step.capture?.(r.stdout, ctx);
  const norm = (t: string) => {
    let s = normaliseEtcdctl(t, endpoint);
    for (const id of [ctx.lease, ctx.rootLease]) if (id) s = s.split(id).join('LEASE');
    s = s.replace(/lease [0-9a-f]+ granted/g, 'lease LEASE granted');
    // member list's JSON carries this member's own IDs and peer URL.
    return s.replace(/"(ID|cluster_id|member_id)":\d+/g, '"$1":0').replace(/"peerURLs":\["[^"]*"\]/g, '"peerURLs":["PEER"]');
  };
  return { code: r.code, stdout: norm(r.stdout), stderr: norm(r.stderr) };
}

describe('etcdctl user/role/auth against raftkv prints what it prints against etcd 3.4', () => {
  let pair: ServerPair | undefined;
  beforeAll(async () => {
    // The lowest bcrypt cost keeps the many password checks quick on both.
    pair = await startPair({ args: ['--bcrypt-cost', '4'] });
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('runs the auth commands with the same output, step by step', async () => {
    const { etcd, raftkv } = pair!;
    const ctxs = { etcd: {} as Ctx, raftkv: {} as Ctx };
    const transcript: string[] = [];
    for (const step of STEPS) {
      const [expected, actual] = await Promise.all([run(etcd.endpoint, step, ctxs.etcd), run(raftkv.endpoint, step, ctxs.raftkv)]);
      const label = `${step.user ? `--user ${step.user} ` : ''}${(typeof step.args === 'function' ? step.args(ctxs.raftkv) : step.args).join(' ')}`;
      transcript.push(`$ etcdctl ${label}\n${actual.stdout}${actual.stderr}`);
      expect(actual, `etcdctl ${label}`).toEqual(expected);
    }
    if (process.env['RAFTKV_PRINT_TRANSCRIPT']) console.log(transcript.join('\n'));
  }, 300_000);
});
