// The v3lockpb.Lock and v3electionpb.Election services of raftkv beside etcd 3.4.23's: the same
// calls, step by step, on a fresh server of each kind, give the same answers and errors
// (lease IDs, which are random, are normalised).
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ElectionClient, etcdserverpb, KVClient, LeaseClient, LockClient, type v3electionpb } from '@raftkv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, type ServerProcess } from '@raftkv/testkit';
import { KINDS, sleep, startOne, type Kind } from './servers.js';

type Cb<Res> = (err: ServiceError | null, res: Res) => void;
function call<Req, Res>(fn: (req: Req, md: Metadata, opts: { deadline?: number }, cb: Cb<Res>) => unknown, req: Req, deadlineMs?: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new Metadata(), deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** An answer or error as plain JSON, lease IDs (and the hex in keys) replaced by their names. */
function normalise(v: unknown, leases: Map<bigint, string>): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return leases.get(x) ?? x.toString();
    if (x !== null && typeof x === 'object' && (x as { type?: string }).type === 'Buffer') return Buffer.from((x as { data: number[] }).data).toString();
    return x;
  });
  let out = text;
  for (const [id, name] of leases) out = out.split(`/${id.toString(16)}`).join(`/${name}`);
  return JSON.parse(out) as unknown;
}

// A deadline is the client's own status (its text carries timings), so only its code is compared.
// At the deadline, the server's handler (UNKNOWN "context deadline exceeded", its context's error)
// and the client's own timer (DEADLINE_EXCEEDED) race on both servers: either is a deadline.
const isDeadline = (e: ServiceError) => e.code === 4 || (e.code === 2 && e.details === 'context deadline exceeded');
const errorOf = (e: unknown) => (isDeadline(e as ServiceError)
  ? { code: 4, details: 'deadline exceeded' } : { code: (e as ServiceError).code, details: (e as ServiceError).details });
const settle = <T>(p: Promise<T>): Promise<{ ok: T } | { err: { code: number; details: string } }> =>
  p.then((ok) => ({ ok }), (e: unknown) => ({ err: errorOf(e) }));

/** Runs the scenario against one server; returns every step's normalised outcome. */
async function scenario(endpoint: string): Promise<Record<string, unknown>> {
  const creds = credentials.createInsecure();
  const lock = new LockClient(endpoint, creds);
  const election = new ElectionClient(endpoint, creds);
  const lease = new LeaseClient(endpoint, creds);
  const kv = new KVClient(endpoint, creds);
  /** Waits until `key` exists (a queued lock or candidate), instead of guessing with a sleep. */
  const queued = async (key: string): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      const r = await call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(key), countOnly: true }));
      if (r.count > 0n) return;
      await sleep(25);
    }
    throw new Error(`${key} never appeared`);
  };
  const leases = new Map<bigint, string>();
  const grant = async (name: string): Promise<bigint> => {
    const r = await call(lease.leaseGrant.bind(lease), { TTL: 30n, ID: 0n });
    leases.set(r.ID, name);
    return r.ID;
  };
  const steps: Record<string, unknown> = {};
  const step = async (name: string, p: Promise<unknown>): Promise<void> => { steps[name] = normalise(await settle(p), leases); };
  try {
    const a = await grant('A');
    const b = await grant('B');
    const c = await grant('C');
    const L = (req: { name: Buffer; lease: bigint }, deadline?: number) => call(lock.lock.bind(lock), req, deadline);
    await step('lock A', L({ name: Buffer.from('l1'), lease: a }));
    const waitingB = settle(L({ name: Buffer.from('l1'), lease: b }));
    await queued(`l1/${b.toString(16)}`);
    // The deadline must pass while C waits, not while its enqueue txn is in flight.
    await step('lock C cancelled by its deadline while A holds', L({ name: Buffer.from('l1'), lease: c }, 1500));
    await step('unlock A', call(lock.unlock.bind(lock), { key: Buffer.from(`l1/${a.toString(16)}`) }));
    steps['lock B after A unlocked'] = normalise(await waitingB, leases);
    await step('lock A again while B holds, then C, in order', (async () => {
      const pa = settle(L({ name: Buffer.from('l1'), lease: a }));
      await queued(`l1/${a.toString(16)}`);
      const pc = settle(L({ name: Buffer.from('l1'), lease: c }));
      await queued(`l1/${c.toString(16)}`);
      await call(lock.unlock.bind(lock), { key: Buffer.from(`l1/${b.toString(16)}`) });
      const ra = await pa;
      await call(lock.unlock.bind(lock), { key: Buffer.from(`l1/${a.toString(16)}`) });
      return [ra, await pc];
    })());
    await step('lock on a missing lease', L({ name: Buffer.from('l2'), lease: 0x1234n }));
    await step('unlock a missing key', call(lock.unlock.bind(lock), { key: Buffer.from('l2/none') }));

    const E = election;
    const campaign = (l: bigint, value: string, deadline?: number) =>
      call(E.campaign.bind(E), { name: Buffer.from('e1'), lease: l, value: Buffer.from(value) }, deadline);
    await step('leader of an empty election', call(E.leader.bind(E), { name: Buffer.from('e1') }));
    const observed: v3electionpb.LeaderResponse[] = [];
    const obs = E.observe({ name: Buffer.from('e1') });
    obs.on('data', (r: v3electionpb.LeaderResponse) => observed.push(r));
    obs.on('error', () => undefined);
    await sleep(1000); // the observer's first read and watch (nothing outside shows when they are done)
    const ca = await campaign(a, 'va');
    steps['campaign A'] = normalise(ca, leases);
    await step('leader', call(E.leader.bind(E), { name: Buffer.from('e1') }));
    await step('proclaim A', call(E.proclaim.bind(E), { leader: ca.leader, value: Buffer.from('va2') }));
    await step('proclaim with a wrong revision', call(E.proclaim.bind(E), { leader: { ...ca.leader!, rev: ca.leader!.rev + 100n }, value: Buffer.from('x') }));
    await step('proclaim without a leader', call(E.proclaim.bind(E), { leader: undefined, value: Buffer.from('x') }));
    await step('resign without a leader', call(E.resign.bind(E), { leader: undefined }));
    const waitingB2 = settle(campaign(b, 'vb'));
    await queued(`e1/${b.toString(16)}`);
    await step('campaign C cancelled by its deadline', campaign(c, 'vc', 1500));
    await step('campaign A again with another value (proclaims it)', campaign(a, 'va3'));
    await step('resign A', call(E.resign.bind(E), { leader: ca.leader }));
    steps['campaign B after A resigned'] = normalise(await waitingB2, leases);
    await step('resign A again (not leader: a no-op)', call(E.resign.bind(E), { leader: ca.leader }));
    // Every leader value so far (va, va2, va3, vb) reaches the observer; then it stops.
    for (let i = 0; i < 400 && observed.length < 4; i++) await sleep(25);
    obs.cancel();
    steps['observed'] = normalise(observed, leases);
    return steps;
  } finally {
    lock.close();
    election.close();
    lease.close();
    kv.close();
  }
}

describe('Lock and Election services: raftkv answers as etcd 3.4.23', () => {
  const servers = new Map<Kind, ServerProcess>();
  beforeAll(async () => {
    for (const k of KINDS) servers.set(k, await startOne(k));
  }, 60_000);
  afterAll(async () => {
    for (const s of servers.values()) { await s.stop(); removeDir(s.dataDir); }
  });

  it('gives the same answers, step by step', async () => {
    const [raftkv, etcd] = await Promise.all([scenario(servers.get('raftkv')!.endpoint), scenario(servers.get('etcd')!.endpoint)]);
    expect(raftkv).toEqual(etcd);
    // The scenario itself: the blocked lock got it after the unlock, the observer saw every leader value.
    expect(JSON.stringify(etcd['lock B after A unlocked'])).toContain('l1/B');
    expect((etcd['observed'] as unknown[]).length).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
