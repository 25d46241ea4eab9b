// Linearizability of a 3-member cluster under faults: the client workload (put, linearizable
// get, compare-and-swap on a few keys, from clients bound to every member) runs through
// RAFTKV_LINEARIZABILITY_CYCLES fault cycles (default 2). Each cycle kills a member with SIGKILL
// and restarts it, isolates a member from its peers and heals, and pauses a member with SIGSTOP
// and resumes it with SIGCONT; the faults alternate between the leader and a follower, so both
// are hit by every kind of fault across two cycles. Each fault is checked to have taken effect
// before it is lifted: a leader fault elects another leader, a follower fault makes that member
// stop answering linearizable reads. The recorded history must be linearizable, no
// acknowledged write may be lost, response revisions may never go back, and afterwards every
// member has the same HashKV.
//
// Two more tests prove that this path can fail: a hand-made non-linearizable history in the
// recorder's format is rejected, and the same workload run against an in-process KV server
// that serves stale reads and drops some acknowledged writes is rejected by every check.
//
// A long run: RAFTKV_LINEARIZABILITY_CYCLES=30 RAFTKV_LINEARIZABILITY_SEED=7 npx vitest run src/e2e/cluster-linearizable.test.ts
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { KVService, etcdserverpb, type KVServer, type mvccpb } from '@raftkv/api';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startCluster, type Cluster, type ClusterMember, type ServerKind, clusterSubject } from '@raftkv/testkit';
import { checkLinearizable, HistoryRecorder } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';
import { findLostWrites, waitForConvergence, Workload } from '@raftkv/testkit';

const SUBJECT: ServerKind = clusterSubject();
const CYCLES = Number(process.env['RAFTKV_LINEARIZABILITY_CYCLES'] ?? 2);
const SEED = Number(process.env['RAFTKV_LINEARIZABILITY_SEED'] ?? 1);
/** How long a fault stays after it took effect, and the calm between faults. */
const FAULT_HOLD_MS = 400;
const CALM_MS = 300;
/** A generous bound on a fault taking effect (a new leader is elected in about one election timeout, 0.5 s). */
const EFFECT_LIMIT_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let cluster: Cluster | undefined;
let workload: Workload | undefined;
afterEach(async () => {
  try {
    await workload?.stop();
  } finally {
    workload = undefined;
    await cluster?.close();
    cluster = undefined;
  }
});

/** Whether `m` answers a linearizable read within `ms` (the client is closed, cancelling it, if not). */
async function answersLinearizableRead(m: ClusterMember, ms: number): Promise<boolean> {
  const client = connect(m.endpoint);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      client.range({ key: Buffer.from('lin/probe') }).then(() => true, () => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/** Polls until `done()` holds; throws after `limitMs` saying what was awaited. */
async function until(what: string, done: () => Promise<boolean>, limitMs = EFFECT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in ${limitMs} ms`);
    await sleep(50);
  }
}

describe(`linearizability of a 3-member ${SUBJECT} cluster under faults`, () => {
  it(`put/get/cas from 6 clients across ${CYCLES} cycles of kill -9 + restart, isolate + heal, SIGSTOP + SIGCONT, on leaders and followers`, async () => {
    cluster = await startCluster(SUBJECT, { size: 3, partition: true });
    const c = cluster;
    const net = c.net!;
    const rnd = new Random(SEED);
    await c.waitForLeader();
    const startedAt = performance.now();
    const w = (workload = Workload.start({ endpoints: c.endpoints, keyPrefix: 'lin/', seed: SEED }));
    const events: string[] = [];
    const mark = (what: string) => events.push(`${((performance.now() - startedAt) / 1000).toFixed(1)}s ${what}`);
    let leaderFaults = 0;
    let followerFaults = 0;

    /** The leader, or a seeded random follower: the faults of one cycle alternate, and so do the cycles. */
    const pick = async (onLeader: boolean): Promise<ClusterMember> => {
      const leader = await c.waitForLeader();
      if (onLeader) leaderFaults++; else followerFaults++;
      return onLeader ? leader : rnd.pick(c.members.filter((m) => m !== leader));
    };
    /**
     * The fault on `victim` took effect: if it led, another member now leads (its majority
     * elected one without it); if it followed, it no longer answers linearizable reads.
     */
    const tookEffect = async (victim: ClusterMember, wasLeader: boolean, fault: string): Promise<void> => {
      if (wasLeader) {
        await until(`${fault}: another leader than ${victim.name}`, async () => (await c.waitForLeader()) !== victim);
      } else {
        await until(`${fault}: ${victim.name} stops answering linearizable reads`, async () => !(await answersLinearizableRead(victim, 1_000)));
      }
      mark(`${fault} took effect`);
    };

    await w.untilAcknowledged(20, 15_000);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const leaderFirst = cycle % 2 === 0;
      // kill -9 and restart.
      const killOnLeader = leaderFirst;
      const killed = await pick(killOnLeader);
      mark(`kill -9 ${killed.name}${killOnLeader ? ' (leader)' : ''}`);
      await killed.kill();
      await tookEffect(killed, killOnLeader, `kill -9 ${killed.name}`);
      await sleep(FAULT_HOLD_MS);
      const restartStart = performance.now();
      await killed.restart();
      mark(`${killed.name} restarted (${(performance.now() - restartStart).toFixed(0)} ms to ready)`);
      await w.untilAcknowledged(10, 15_000);
      await sleep(CALM_MS);

      // Isolate from the peers, then heal.
      const isolateOnLeader = !leaderFirst;
      const isolated = await pick(isolateOnLeader);
      net.isolate(c.members.indexOf(isolated));
      mark(`isolate ${isolated.name}${isolateOnLeader ? ' (leader)' : ''}`);
      await tookEffect(isolated, isolateOnLeader, `isolate ${isolated.name}`);
      await sleep(FAULT_HOLD_MS);
      net.heal();
      mark('heal');
      await w.untilAcknowledged(10, 15_000);
      await sleep(CALM_MS);

      // A paused process keeps its connections and its belief that it leads: when it resumes it
      // must find out it was deposed before it answers from its old state.
      const pauseOnLeader = leaderFirst;
      const paused = await pick(pauseOnLeader);
      process.kill(paused.pid!, 'SIGSTOP');
      mark(`SIGSTOP ${paused.name}${pauseOnLeader ? ' (leader)' : ''}`);
      try {
        await tookEffect(paused, pauseOnLeader, `SIGSTOP ${paused.name}`);
        await sleep(FAULT_HOLD_MS);
      } finally {
        process.kill(paused.pid!, 'SIGCONT');
      }
      mark(`SIGCONT ${paused.name}`);
      await w.untilAcknowledged(10, 15_000);
      await sleep(CALM_MS);
    }
    const stats = await w.stop();
    workload = undefined;
    expect(leaderFaults + followerFaults).toBe(3 * CYCLES);
    expect(leaderFaults, 'faults on a leader').toBeGreaterThan(0);
    expect(followerFaults, 'faults on a follower').toBeGreaterThan(0);

    const history = w.history();
    const t0 = performance.now();
    const verdict = checkLinearizable(history);
    const checkMs = performance.now() - t0;
    console.log(`[${SUBJECT}] linearizability: ${verdict.ok === true ? 'LINEARIZABLE' : verdict.ok === false ? 'NOT LINEARIZABLE' : 'UNKNOWN'} — ` +
      `${history.length} ops (${stats.ok} ok, ${stats.failed} failed reads, ${stats.unknown} unknown writes; ` +
      `cas ${stats.casSucceeded} succeeded / ${stats.casFailed} failed; ${stats.acknowledgedWrites} acknowledged writes) ` +
      `checked in ${checkMs.toFixed(0)} ms, ${verdict.stats.steps} steps; faults: ${events.join('; ')}; errors ${JSON.stringify(stats.errors)}`);
    expect(verdict.ok, verdict.ok === false ? verdict.witness.description : JSON.stringify(verdict)).toBe(true);
    expect(w.revisionRegressions()).toEqual([]);
    // The run did real work on both sides of each fault (writes were acknowledged after each one).
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.casSucceeded).toBeGreaterThan(0);
    expect(stats.casFailed).toBeGreaterThan(0);

    const states = await waitForConvergence(c.endpoints, { timeoutMs: 30_000 });
    expect(new Set(states.map((s) => s.hash)).size, JSON.stringify(states)).toBe(1);
    for (const m of c.members) {
      expect(await findLostWrites(m.endpoint, w.acknowledged), `acknowledged writes lost on ${m.name}`).toEqual([]);
    }
  }, CYCLES * 60_000 + 90_000);
});

// A single voter is its own quorum: raftkv answers its linearizable reads at its commit index with
// no ReadIndex round. The same workload and checks, with a kill -9 + restart in the middle.
describe(`linearizability of a single ${SUBJECT} member`, () => {
  it('put/get/cas from 6 clients, before and after a kill -9 + restart', async () => {
    cluster = await startCluster(SUBJECT, { size: 1 });
    const c = cluster;
    await c.waitForLeader();
    const w = (workload = Workload.start({ endpoints: c.endpoints, keyPrefix: 'lin1/', seed: SEED }));
    await w.untilAcknowledged(300, 15_000);
    await c.members[0]!.kill();
    await sleep(CALM_MS);
    await c.members[0]!.restart();
    await w.untilAcknowledged(300, 15_000);
    const stats = await w.stop();
    workload = undefined;
    const verdict = checkLinearizable(w.history());
    expect(verdict.ok, verdict.ok === false ? verdict.witness.description : JSON.stringify(verdict)).toBe(true);
    expect(w.revisionRegressions()).toEqual([]);
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.casSucceeded).toBeGreaterThan(0);
    expect(await findLostWrites(c.members[0]!.endpoint, w.acknowledged)).toEqual([]);
  }, 90_000);
});

describe('the recording path rejects what is not linearizable', () => {
  it('a hand-made stale read in the recorder format is rejected with a witness', () => {
    let clock = 0;
    const rec = new HistoryRecorder(() => clock);
    const at = (ms: number) => { clock = ms; };
    // The same shapes and client names the workload records.
    at(0); const p1 = rec.invoke('c0@m0', { type: 'put', key: 'lin/0', value: 'lin/v0.0' });
    at(1); rec.complete(p1);
    at(2); const p2 = rec.invoke('c1@m1', { type: 'cas', key: 'lin/0', expected: 'lin/v0.0', value: 'lin/v1.0' });
    at(3); rec.complete(p2, 'ok');
    at(4); const lost = rec.invoke('c2@m2', { type: 'put', key: 'lin/1', value: 'lin/v2.0' });
    at(5); rec.unknown(lost); // may or may not have happened: fine either way
    // Invoked after the cas completed, yet sees the value the cas replaced.
    at(6); const g = rec.invoke('c2@m2', { type: 'get', key: 'lin/0' });
    at(7); rec.complete(g, 'lin/v0.0');
    const verdict = checkLinearizable(rec.history());
    expect(verdict.ok).toBe(false);
    if (verdict.ok !== false) return;
    expect(verdict.key).toBe('lin/0');
    expect(verdict.witness.operations.map((op) => op.id).sort()).toEqual([p1.id, p2.id, g.id].sort());
    // Without the stale read the same history is fine: the rejection is about that read.
    const without = rec.history().filter((op) => op.id !== g.id);
    expect(checkLinearizable(without).ok).toBe(true);
  });

  it('the workload against a correct in-process server passes every check (no false alarms)', async () => {
    const fake = await LaggingKvServer.start({ readLag: 0, dropEveryNthPut: 0 });
    try {
      const w = Workload.start({ endpoints: [fake.endpoint], clients: 6, keys: 2, keyPrefix: 'fake/', seed: SEED });
      await w.untilAcknowledged(200, 10_000);
      const stats = await w.stop();
      expect(stats.unknown + stats.failed).toBe(0);
      expect(stats.casSucceeded).toBeGreaterThan(0);
      expect(stats.casFailed).toBeGreaterThan(0);
      expect(checkLinearizable(w.history()).ok).toBe(true);
      expect(w.revisionRegressions()).toEqual([]);
      expect(await findLostWrites(fake.endpoint, w.acknowledged)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('the workload against a server with stale reads and lost writes fails every check', async () => {
    const fake = await LaggingKvServer.start({ readLag: 3, dropEveryNthPut: 7 });
    try {
      const w = Workload.start({ endpoints: [fake.endpoint], clients: 6, keys: 2, keyPrefix: 'fake/', seed: SEED });
      await w.untilAcknowledged(200, 10_000);
      const stats = await w.stop();
      const verdict = checkLinearizable(w.history());
      console.log(`stale server: ${stats.operations} ops, verdict ${String(verdict.ok)}` +
        (verdict.ok === false ? `\n${verdict.witness.description}` : ''));
      expect(verdict.ok).toBe(false);
      const regressions = w.revisionRegressions();
      expect(regressions.some((r) => r.kind === 'client')).toBe(true);
      expect(regressions.some((r) => r.kind === 'real-time')).toBe(true);
      const lost = await findLostWrites(fake.endpoint, w.acknowledged);
      expect(lost.length).toBeGreaterThan(0);
      expect(lost.every((l) => fake.dropped.has(l.write.value))).toBe(true);
    } finally {
      await fake.close();
    }
  });
});

/**
 * A deliberately wrong KV server in this process, one register per key: writes apply at once,
 * but a read without a revision sees the store `readLag` revisions ago (with that revision in
 * its header), and every `dropEveryNthPut`-th put is acknowledged with a revision and never
 * stored. With `readLag: 0` and `dropEveryNthPut: 0` it is a correct single register store. Txns compare and read the current state (a cas works). Enough for the workload.
 */
class LaggingKvServer {
  readonly dropped = new Set<string>();
  private revision = 1;
  private puts = 0;
  private readonly versions = new Map<string, { value: Buffer; mod: number; create: number }[]>();

  private constructor(private readonly server: Server, readonly endpoint: string, private readonly opts: { readLag: number; dropEveryNthPut: number }) {}

  static async start(opts: { readLag: number; dropEveryNthPut: number }): Promise<LaggingKvServer> {
    const server = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const fake = new LaggingKvServer(server, `127.0.0.1:${port}`, opts);
    const unary = <Req, Res>(fn: (req: Req) => Res) => (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => cb(null, fn(call.request));
    const impl: KVServer = {
      range: unary((req: etcdserverpb.RangeRequest) => fake.range(req)),
      put: unary((req: etcdserverpb.PutRequest) => ({ header: fake.header(fake.put(req.key, req.value)), prevKv: undefined })),
      txn: unary((req: etcdserverpb.TxnRequest) => fake.txn(req)),
      deleteRange: (_call, cb) => cb({ code: 12, details: 'not in this fake' }),
      compact: (_call, cb) => cb({ code: 12, details: 'not in this fake' }),
    };
    server.addService(KVService, impl);
    return fake;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private header(revision: number): etcdserverpb.ResponseHeader {
    return { clusterId: 1n, memberId: 1n, revision: BigInt(revision), raftTerm: 1n };
  }

  private at(key: string, revision: number): mvccpb.KeyValue | undefined {
    const list = this.versions.get(key) ?? [];
    let found: { value: Buffer; mod: number; create: number } | undefined;
    for (const v of list) if (v.mod <= revision) found = v;
    if (found === undefined) return undefined;
    return { key: Buffer.from(key), createRevision: BigInt(found.create), modRevision: BigInt(found.mod), version: 1n, value: found.value, lease: 0n };
  }

  private put(key: Buffer, value: Buffer): number {
    const revision = ++this.revision;
    if (this.opts.dropEveryNthPut > 0 && ++this.puts % this.opts.dropEveryNthPut === 0) {
      this.dropped.add(value.toString());
      return revision;
    }
    const k = key.toString();
    let list = this.versions.get(k);
    if (list === undefined) this.versions.set(k, (list = []));
    list.push({ value, mod: revision, create: list[0]?.create ?? revision });
    return revision;
  }

  private range(req: etcdserverpb.RangeRequest): etcdserverpb.RangeResponse {
    const revision = req.revision > 0n ? Number(req.revision) : Math.max(1, this.revision - this.opts.readLag);
    const kv = this.at(req.key.toString(), revision);
    return { header: this.header(revision), kvs: kv ? [kv] : [], more: false, count: kv ? 1n : 0n };
  }

  private txn(req: etcdserverpb.TxnRequest): etcdserverpb.TxnResponse {
    const cmp = req.compare[0]!;
    const current = this.at(cmp.key.toString(), this.revision);
    const holds = cmp.target === etcdserverpb.Compare_CompareTarget.CREATE
      ? current === undefined
      : current !== undefined && cmp.value !== undefined && current.value.equals(cmp.value);
    const ops = holds ? req.success : req.failure;
    const responses: etcdserverpb.ResponseOp[] = ops.map((op) => {
      if (op.requestPut) return { responsePut: { header: this.header(this.put(op.requestPut.key, op.requestPut.value)), prevKv: undefined } };
      const kv = this.at(op.requestRange!.key.toString(), this.revision);
      return { responseRange: { header: this.header(this.revision), kvs: kv ? [kv] : [], more: false, count: kv ? 1n : 0n } };
    });
    return { header: this.header(this.revision), succeeded: holds, responses };
  }
}
