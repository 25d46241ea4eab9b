// Linearizability of a 3-member cluster under faults: the client workload (put, linearizable
// get, compare-and-swap on a few keys, from clients bound to every member) runs for
// at least RAFTKV_LINEARIZABILITY_SECONDS (default 8) through fault cycles of 8 s each: the leader (in
// odd cycles a random member) is killed with SIGKILL and restarted, then the leader (or a random
// member) is isolated from its peers and healed, then the leader (or a random member) is paused
// with SIGSTOP and resumed with SIGCONT. The recorded history must be linearizable, no
// acknowledged write may be lost, response revisions may never go back, and afterwards every
// member has the same HashKV.
//
// Two more tests prove that this path can fail: a hand-made non-linearizable history in the
// recorder's format is rejected, and the same workload run against an in-process KV server
// that serves stale reads and drops some acknowledged writes is rejected by every check.
//
// A long run: RAFTKV_LINEARIZABILITY_SECONDS=120 RAFTKV_LINEARIZABILITY_SEED=7 npx vitest run src/e2e/cluster-linearizable.test.ts
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { KVService, etcdserverpb, type KVServer, type mvccpb } from '@raftkv/api';
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ServerKind, clusterSubject } from '@raftkv/testkit';
import { checkLinearizable, HistoryRecorder } from '@raftkv/testkit';
import { Random } from '@raftkv/testkit';
import { findLostWrites, waitForConvergence, Workload } from '@raftkv/testkit';

const SUBJECT: ServerKind = clusterSubject();
const SECONDS = Number(process.env['RAFTKV_LINEARIZABILITY_SECONDS'] ?? 8);
const SEED = Number(process.env['RAFTKV_LINEARIZABILITY_SEED'] ?? 1);
/** A long run repeats the fault cycle every this many seconds. */
const CYCLE_SECONDS = 8;

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

describe(`linearizability of a 3-member ${SUBJECT} cluster under faults`, () => {
  it(`${SECONDS} s of put/get/cas from 6 clients across kill -9 + restart, isolate + heal, SIGSTOP + SIGCONT cycles`, async () => {
    cluster = await startCluster(SUBJECT, { size: 3, partition: true });
    const net = cluster.net!;
    const rnd = new Random(SEED);
    await cluster.waitForLeader();
    const startedAt = performance.now();
    const w = (workload = Workload.start({ endpoints: cluster.endpoints, keyPrefix: 'lin/', seed: SEED }));
    const events: string[] = [];
    const mark = (what: string) => events.push(`${((performance.now() - startedAt) / 1000).toFixed(1)}s ${what}`);
    // One fault cycle per CYCLE_SECONDS: kill -9 a member and restart it, isolate one and heal,
    // pause one and resume it. Even cycles pick the leader each time (failover, a deposed
    // leader), odd ones a seeded random member. The steps are durations, fractions of a cycle,
    // so a slow restart stretches its cycle instead of shortening the faults after it.
    const cycles = Math.max(1, Math.floor(SECONDS / CYCLE_SECONDS));
    const cycleMs = (SECONDS * 1000) / cycles;
    const wait = (fraction: number) => sleep(fraction * cycleMs);
    for (let c = 0; c < cycles; c++) {
      const pick = async () => (c % 2 === 0 ? cluster!.waitForLeader() : rnd.pick(cluster!.members));
      const role = c % 2 === 0 ? ' (leader)' : '';
      await wait(0.15);
      const killed = await pick();
      mark(`kill -9 ${killed.name}${role}`);
      await killed.kill();
      await wait(0.15);
      const restartStart = performance.now();
      await killed.restart();
      mark(`${killed.name} restarted (${(performance.now() - restartStart).toFixed(0)} ms to ready)`);
      await wait(0.1);
      const isolated = await pick();
      net.isolate(cluster.members.indexOf(isolated));
      mark(`isolate ${isolated.name}${role}`);
      await wait(0.2);
      net.heal();
      mark('heal');
      await wait(0.05);
      // A paused process keeps its connections and its belief that it leads: when it resumes it
      // must find out it was deposed before it answers from its old state.
      const paused = await pick();
      process.kill(paused.pid!, 'SIGSTOP');
      mark(`SIGSTOP ${paused.name}${role}`);
      await wait(0.2);
      process.kill(paused.pid!, 'SIGCONT');
      mark(`SIGCONT ${paused.name}`);
    }
    await wait(0.15);
    const stats = await w.stop();
    workload = undefined;

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
    // The run did real work on both sides of each fault.
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.casSucceeded).toBeGreaterThan(0);
    expect(stats.casFailed).toBeGreaterThan(0);

    const states = await waitForConvergence(cluster.endpoints, { timeoutMs: 30_000 });
    expect(new Set(states.map((s) => s.hash)).size, JSON.stringify(states)).toBe(1);
    for (const m of cluster.members) {
      expect(await findLostWrites(m.endpoint, w.acknowledged), `acknowledged writes lost on ${m.name}`).toEqual([]);
    }
  }, SECONDS * 1000 + 90_000);
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
