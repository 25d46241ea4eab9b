// The fuzz run: batches of generated items (unary requests, mutated requests, stream misuse, raw
// HTTP/2 frames, peer garbage) sent to raftkv and, where comparable, to the reference etcd; after
// every batch the checks (alive, put + linearizable get, keyspaces equal), every K batches a
// kill -9 + restart of a raftkv member. Batch b is generated from seed `seed + b` alone, so
// `--seed S --batches 1` replays one batch.
import { status } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { ALLOW_LIST, KNOWN, KNOWN_ETCD_CLUSTER_DIVERGENCE, KNOWN_ETCD_PANICS, STREAM_ALLOW_LIST } from './allow-list.js';
import {
  applyMutations, LEARNER, NEVER_LEASES, PEER, POOL_LEASES, POOL_MIN_TTL, POOL_TTL, SELF, type FuzzRequest, type Mutation,
} from './generate.js';
import { sendH2 } from './h2.js';
import { methodSpec, type MethodSpec } from './methods.js';
import { sendPeerCall, type PeerIds } from './peer.js';
import { Counters, Findings, outcomeText, replayForm, shape, summaryText, type Finding } from './report.js';
import { crashExcerpt, startReference, startSubject, type Member, type Subject } from './servers.js';
import { compareKeepAlive, compareWatch, type KeepAliveRecord, type WatchRecord } from './stream-compare.js';
import { runStream, runStreamPair, type StreamScript, type StreamWrite } from './streams.js';
import { CODE_NAMES, RawClient, type Outcome } from './wire.js';
import { generateBatch, type Item, type MixKey } from './batch.js';
import { canonical, diffViews, firstDiff, panicSignature, rangeAll, stripPaths, type KeyspaceView } from './compare.js';

export interface FuzzOptions {
  /** The first batch's seed; batch b uses seed + b. */
  seed: number;
  batches: number;
  /** Items per batch. */
  batchSize: number;
  /** raftkv as a 3-member cluster (etcd stays a single member). */
  cluster: boolean;
  /** kill -9 + restart a raftkv member every this many batches (and after the last). 0: only at the end. */
  restartEvery: number;
  /** Skip requests that hit a known finding (allow-list.ts KNOWN). */
  skipKnown: boolean;
  /** Deadline of one unary call. */
  deadlineMs?: number;
  /** Relative weights of item kinds. */
  mix?: Partial<Record<MixKey, number>>;
  log?: (line: string) => void;
  /** Stops between batches when it returns true (Ctrl-C). */
  stopRequested?: () => boolean;
}

export interface FuzzResult {
  readonly counters: Counters;
  readonly findings: Finding[];
  readonly seeds: [number, number];
  readonly summary: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SUSPECT = new Set<number>([status.UNAVAILABLE, status.CANCELLED, status.UNKNOWN, status.DEADLINE_EXCEEDED]);
const UNKNOWN_MEMBER = 0xbeefn;

/** Whether LeaseGrant bytes decode to a grant of a pool lease (keys use those) with a TTL that can expire in a run. */
function grantsShortPoolLease(bytes: Buffer): boolean {
  try {
    const g = etcdserverpb.LeaseGrantRequest.decode(bytes);
    return POOL_LEASES.includes(g.ID) && g.TTL < POOL_MIN_TTL;
  } catch {
    return false;
  }
}

const ETCD_HEALTH_INTERVAL_MS = 5000;
const MEMBERSHIP_CHANGES = new Set(['MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberPromote']);
const MEMBERSHIP_METHODS = new Set([...MEMBERSHIP_CHANGES, 'MemberList']);

export class FuzzRunner {
  readonly counters = new Counters();
  readonly findings = new Findings();
  /** The reference: one etcd, or (with `cluster`) a 3-member etcd cluster beside the 3 raftkv members. */
  private reference!: Subject;
  private subject!: Subject;
  private etcdClients: RawClient[] = [];
  private clients: RawClient[] = [];
  private etcdIds: bigint[] = [];
  private raftkvIds: bigint[] = [];
  private clusterId = 0n;
  /** Services raftkv answers UNIMPLEMENTED: sent to raftkv only (to check it stays up). */
  private readonly raftkvOnly = new Set<string>();
  /** Methods raftkv answers UNIMPLEMENTED (in a service it otherwise serves). */
  private readonly raftkvOnlyMethods = new Set<string>();
  private tainted = false;
  /**
   * Set once a membership change took effect on one side only (etcd accepts peer URLs raftkv
   * refuses: F12, https): from then on the two clusters differ, and so do their answers to
   * membership calls, which are no longer compared (raftkv must still answer them) until a reset.
   */
  private membershipDiverged = false;
  /** The last unary call, for the crash check that follows it. */
  private lastUnary: { r: FuzzRequest; mutations: Mutation[] | undefined; e: Outcome | undefined; k: Outcome; rBytes: Buffer } | undefined;
  private restartTurn = 0;
  /** Where the last compared bodies differed (etcd / raftkv values), for the finding's detail. */
  private lastBodyDiff: string | undefined;
  private readonly deadlineMs: number;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: FuzzOptions) {
    this.deadlineMs = opts.deadlineMs ?? 5000;
    this.log = opts.log ?? (() => undefined);
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const [reference, subject] = await Promise.all([startReference(this.opts.cluster), startSubject(this.opts.cluster)]);
    this.reference = reference;
    this.subject = subject;
    this.etcdClients = reference.members.map((m) => new RawClient(m.endpoint));
    this.clients = subject.members.map((m) => new RawClient(m.endpoint));
    const started = Date.now();
    await this.learnIds();
    await this.grantPool();
    await this.probeServices();
    // etcd refuses membership changes as "unhealthy cluster" until every voter has been connected
    // for its health interval (5 s, isConnectedFullySince); raftkv asks only that they are
    // connected (docs/compatibility.md). Membership answers compare from then on.
    if (this.opts.cluster) await sleep(Math.max(0, ETCD_HEALTH_INTERVAL_MS + 500 - (Date.now() - started)));
  }

  async close(): Promise<void> {
    for (const c of [...this.etcdClients, ...this.clients]) c.close();
    await Promise.all([this.reference?.close(), this.subject?.close()]);
  }

  private get etcdClient(): RawClient {
    return this.etcdClients[0]!;
  }

  /** The etcd member in the place of raftkv member i (the same index). */
  private etcdClientFor(i: number): RawClient {
    return this.etcdClients[i % this.etcdClients.length]!;
  }

  private allAlive(): boolean {
    return this.reference.members.every((m) => m.alive()) && this.subject.members.every((m) => m.alive());
  }

  /** Both sides fresh (new data dirs): after a failed restart or a divergence, to compare again. */
  private async resetAll(why: string): Promise<void> {
    this.log(`  reset both servers fresh: ${why}`);
    this.counters.resets++;
    await this.close();
    await this.start();
    this.tainted = false;
    this.membershipDiverged = false;
  }

  private async learnIds(): Promise<void> {
    const status1 = async (c: RawClient): Promise<etcdserverpb.StatusResponse> => {
      for (let i = 0; ; i++) {
        const o = await c.unary('/etcdserverpb.Maintenance/Status', Buffer.alloc(0), 2000);
        if (o.code === 0) return etcdserverpb.StatusResponse.decode(o.body!);
        if (i > 50) throw new Error(`Status on ${c.endpoint}: ${outcomeText(o)}`);
        await sleep(200);
      }
    };
    this.etcdIds = (await Promise.all(this.etcdClients.map(status1))).map((s) => s.header?.memberId ?? 0n);
    const st = await Promise.all(this.clients.map(status1));
    this.raftkvIds = st.map((s) => s.header?.memberId ?? 0n);
    this.clusterId = st[0]?.header?.clusterId ?? 0n;
  }

  private async grantPool(): Promise<void> {
    for (const ID of POOL_LEASES) {
      const bytes = methodSpec('LeaseGrant').encode({ ID, TTL: POOL_TTL });
      await Promise.all([this.etcdClient.unary('/etcdserverpb.Lease/LeaseGrant', bytes, this.deadlineMs),
        this.raftkvClient(0).unary('/etcdserverpb.Lease/LeaseGrant', bytes, this.deadlineMs)]);
    }
  }

  private async probeServices(): Promise<void> {
    const probes: [string, Record<string, unknown>][] = [
      ['AuthStatus', {}], ['Lock', { name: Buffer.from('__probe'), lease: NEVER_LEASES[0]! }], ['Leader', { name: Buffer.from('__probe') }],
    ];
    for (const [method, req] of probes) {
      const spec = methodSpec(method);
      const bytes = spec.encode(req);
      const [e, r] = await Promise.all([this.etcdClient.unary(spec.path, bytes, this.deadlineMs), this.raftkvClient(0).unary(spec.path, bytes, this.deadlineMs)]);
      if (r.code === status.UNIMPLEMENTED && e.code !== status.UNIMPLEMENTED) {
        this.raftkvOnly.add(spec.service);
        if (ALLOW_LIST.some((a) => a.matches(method, e, r, false))) continue;
        this.findings.add({
          kind: 'mismatch', signature: `service ${spec.service}: raftkv answers UNIMPLEMENTED`, where: 'start-up probe', method,
          request: replayForm(req), etcd: outcomeText(e), raftkv: outcomeText(r),
          detail: `every ${spec.service} method is sent to raftkv only from here on (etcd would diverge)`,
        });
      }
    }
  }

  private raftkvClient(i: number): RawClient {
    return this.clients[i % this.clients.length]!;
  }

  private member(i: number): Member {
    return this.subject.members[i % this.subject.members.length]!;
  }

  // ------------------------------------------------------------------ the run

  async run(): Promise<FuzzResult> {
    const { seed, batches } = this.opts;
    let last = seed - 1;
    for (let b = 0; b < batches; b++) {
      if (this.opts.stopRequested?.()) break;
      const batchSeed = seed + b;
      last = batchSeed;
      await this.runBatch(batchSeed);
      this.counters.batches++;
      const k = this.opts.restartEvery;
      if ((k > 0 && (b + 1) % k === 0) || b === batches - 1) await this.crashRestartCheck(`after seed ${batchSeed}`);
    }
    const findings = this.findings.all();
    return { counters: this.counters, findings, seeds: [seed, last], summary: summaryText(this.counters, findings, [seed, last]) };
  }

  /** One batch; `mix` and `size` override the options' (CI's short form runs stream-heavy batches too). */
  async runBatch(batchSeed: number, mix = this.opts.mix, size = this.opts.batchSize): Promise<void> {
    const items = generateBatch(batchSeed, size, mix);
    this.tainted = false;
    for (let i = 0; i < items.length; i++) {
      const where = `seed ${batchSeed} item ${i}`;
      try {
        await this.runItem(items[i]!, where);
      } catch (err) {
        this.log(`  ${where}: harness error ${(err as Error).stack ?? String(err)}`);
      }
      if (await this.checkProcesses(items[i]!, where)) this.tainted = true;
    }
    await this.checkBatch(`seed ${batchSeed}`);
    this.log(`seed ${batchSeed}: ${items.length} items, ${this.findings.all().length} findings so far`);
  }

  private async runItem(item: Item, where: string): Promise<void> {
    switch (item.kind) {
      case 'unary': return this.runUnary(item.request, undefined, item.member, where);
      case 'mutated': return this.runUnary(item.request, item.mutations, item.member, where);
      case 'stream': return this.runStreamItem(item.script, item.member, where);
      case 'h2': {
        this.counters.inc(this.counters.sent, `h2:${item.listener}`);
        const m = this.member(item.member);
        await sendH2(item.listener === 'client' ? m.endpoint : m.peerEndpoint, item.script, 500);
        return;
      }
      case 'peer': {
        this.counters.inc(this.counters.sent, `peer:${item.call.kind === 'member' ? item.call.method : item.call.kind === 'raw' ? 'raw' : item.call.path}`);
        const idx = item.member % this.subject.members.length;
        const ids: PeerIds = { clusterId: this.clusterId, self: this.raftkvIds[idx] ?? 0n, others: this.raftkvIds.filter((_, j) => j !== idx) };
        const code = await sendPeerCall(this.member(item.member).peerEndpoint, item.call, ids, 800);
        this.counters.inc(this.counters.codes, `raftkv peer ${code === undefined ? 'no-status' : CODE_NAMES[code]}`);
        return;
      }
    }
  }

  /**
   * A stream script. One that reads its answers runs on etcd and raftkv side by side and their
   * answers are compared (stream-compare.ts); one that never reads (or any, after a mismatch
   * changed one side's state) runs on raftkv only, to check it survives. The workload's writes
   * go to both either way.
   */
  private async runStreamItem(script: StreamScript, memberIdx: number, where: string): Promise<void> {
    this.counters.inc(this.counters.sent, `stream:${script.stream}`);
    const idx = memberIdx % this.subject.members.length;
    const writes = (w: StreamWrite): Promise<void> => this.runStreamWrite(w, idx, where);
    if (!script.read || this.tainted) {
      const res = await runStream(this.member(idx).endpoint, script, 600, writes);
      this.counters.inc(this.counters.codes, `raftkv stream ${script.stream} ${res.status === undefined ? 'no-status' : CODE_NAMES[res.status]}`);
      return;
    }
    this.counters.inc(this.counters.compared, `streams:${script.stream}`);
    const etcdMember = this.reference.members[idx % this.reference.members.length]!;
    const res = await runStreamPair({ etcd: etcdMember.endpoint, raftkv: this.member(idx).endpoint }, script, writes);
    const endName = (e: { code: number } | undefined): string => (e === undefined ? 'open' : CODE_NAMES[e.code] ?? `${e.code}`);
    this.counters.inc(this.counters.codes, `etcd stream ${script.stream} ${endName(res.etcd.end)}`);
    this.counters.inc(this.counters.codes, `raftkv stream ${script.stream} ${endName(res.raftkv.end)}`);
    // A process that died ended its stream: the crash check records that, not a stream difference.
    if (!this.allAlive() || this.tainted) return;
    if (res.unsettled) {
      // A huge history replay or flood that a side had not finished answering: not comparable.
      this.counters.inc(this.counters.compared, `streams not settled in time:${script.stream}`);
      return;
    }
    const diffs = script.stream === 'Watch'
      ? compareWatch(res.etcd as WatchRecord, res.raftkv as WatchRecord)
      : compareKeepAlive(res.etcd as KeepAliveRecord, res.raftkv as KeepAliveRecord);
    const mutated = script.steps.some((s) => s.kind === 'send' && s.mutations.length > 0);
    this.counters.inc(this.counters.compared, `stream responses:${script.stream}`, res.etcd.responses.length);
    if (script.stream === 'Watch') {
      const events = (res.etcd as WatchRecord).responses.reduce((n, r) => n + r.events.length, 0);
      this.counters.inc(this.counters.compared, 'watch events', events);
    }
    for (const d of diffs) {
      if (STREAM_ALLOW_LIST.some((a) => a.matches(script.stream, d, mutated))) continue;
      this.findings.add({
        kind: 'mismatch', signature: `stream ${script.stream}${mutated ? ' (mutated)' : ''}: ${shape(d.what)}`, where, method: script.stream,
        request: replayForm(script), detail: d.detail,
      });
    }
  }

  /** One write of a stream's workload, on both servers; different outcomes are a finding. */
  private async runStreamWrite(w: StreamWrite, idx: number, where: string): Promise<void> {
    let method: string;
    let req: Record<string, unknown>;
    if (w.op === 'put') [method, req] = ['Put', { key: w.key, value: w.value, lease: w.lease }];
    else if (w.op === 'delete') [method, req] = ['DeleteRange', { key: w.key, rangeEnd: w.rangeEnd }];
    else {
      const value = Buffer.alloc(w.valueBytes, 0x62);
      [method, req] = ['Txn', { success: w.keys.map((key) => ({ requestPut: { key, value } })) }];
    }
    const spec = methodSpec(method);
    const bytes = spec.encode(req);
    this.counters.inc(this.counters.sent, `stream workload:${method}`);
    const [e, k] = await Promise.all([this.etcdClientFor(idx).unary(spec.path, bytes, this.deadlineMs), this.raftkvClient(idx).unary(spec.path, bytes, this.deadlineMs)]);
    if (e.code === k.code && e.details === k.details) return;
    if (e.code === 0 || k.code === 0) this.tainted = true;
    this.findings.add({
      kind: 'mismatch', signature: `stream workload ${method}: etcd ${shape(outcomeText(e))} / raftkv ${shape(outcomeText(k))}`, where, method,
      request: replayForm(req), etcd: outcomeText(e), raftkv: outcomeText(k),
    });
  }

  /** Placeholders (SELF, LEARNER, PEER) replaced with that server's member IDs. */
  private async resolve(r: FuzzRequest, side: 'etcd' | 'raftkv', idx: number): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { ...r.req };
    const ids = side === 'etcd' ? this.etcdIds : this.raftkvIds;
    for (const f of ['ID', 'memberID', 'targetID']) {
      const v = out[f];
      if (v === SELF) out[f] = ids[idx % ids.length]!;
      else if (v === PEER) {
        const others = ids.filter((_, j) => j !== idx % ids.length);
        out[f] = r.method === 'MoveLeader' && others.length > 0 ? others[0]! : UNKNOWN_MEMBER;
      } else if (v === LEARNER) out[f] = await this.learnerId(side, idx);
    }
    return out;
  }

  private async learnerId(side: 'etcd' | 'raftkv', idx: number): Promise<bigint> {
    const c = side === 'etcd' ? this.etcdClientFor(idx) : this.raftkvClient(idx);
    const o = await c.unary('/etcdserverpb.Cluster/MemberList', Buffer.alloc(0), this.deadlineMs);
    if (o.code !== 0) return UNKNOWN_MEMBER;
    const res = etcdserverpb.MemberListResponse.decode(o.body!);
    return res.members.find((m) => m.isLearner)?.ID ?? UNKNOWN_MEMBER;
  }

  private async runUnary(r: FuzzRequest, mutations: Mutation[] | undefined, memberIdx: number, where: string): Promise<void> {
    const spec = methodSpec(r.method);
    const label = mutations ? `mutated:${r.method}` : r.method;
    if (this.opts.skipKnown && (KNOWN.some((k) => k.matches(r)) || (this.opts.cluster && KNOWN_ETCD_CLUSTER_DIVERGENCE.some((k) => k.matches(r))))) {
      this.counters.skippedKnown++;
      return;
    }
    if (mutations && r.method === 'LeaseGrant' && grantsShortPoolLease(applyMutations(spec.encode(r.req), mutations))) {
      // Keys hang on pool leases: one granted short by corrupted bytes would expire at slightly
      // different moments on the two sides (or inside a kill -9 check) and read as lost data.
      this.counters.skippedKnown++;
      return;
    }
    this.counters.inc(this.counters.sent, label);
    const idx = memberIdx % this.subject.members.length;
    const encode = async (side: 'etcd' | 'raftkv'): Promise<Buffer> => {
      const bytes = spec.encode(await this.resolve(r, side, idx));
      return mutations ? applyMutations(bytes, mutations) : bytes;
    };
    // Mutated bytes may decode to something else: only the request as generated is known to panic etcd.
    const etcdPanics = this.opts.skipKnown && mutations === undefined && KNOWN_ETCD_PANICS.some((k) => k.matches(r));
    if (etcdPanics) this.counters.skippedKnown++;
    const toEtcd = !this.raftkvOnly.has(spec.service) && !this.raftkvOnlyMethods.has(r.method) && !etcdPanics;
    const [eBytes, rBytes] = await Promise.all([toEtcd ? encode('etcd') : undefined, encode('raftkv')]);
    const [e, k] = await Promise.all([
      eBytes ? this.etcdClientFor(idx).unary(spec.path, eBytes, this.deadlineMs) : undefined,
      this.raftkvClient(idx).unary(spec.path, rBytes, this.deadlineMs),
    ]);
    if (e) this.counters.inc(this.counters.codes, `etcd ${CODE_NAMES[e.code]}`);
    this.counters.inc(this.counters.codes, `raftkv ${CODE_NAMES[k.code]}`);
    this.lastUnary = { r, mutations, e, k, rBytes };
    if (SUSPECT.has(k.code) || (e !== undefined && SUSPECT.has(e.code))) {
      // A process that died answers UNAVAILABLE first: the crash check records it, not a mismatch.
      for (let t = 0; t < 5 && this.allAlive(); t++) await sleep(50);
      if (!this.allAlive()) return;
    }
    if (!e) {
      if (etcdPanics && k.code === status.OK) {
        this.findings.add({ kind: 'mismatch', signature: `${label}: etcd panics on it, raftkv answers OK`, where, method: label, request: replayForm(r.req), etcd: 'panics', raftkv: outcomeText(k) });
      }
      return;
    }
    if (k.code === status.UNIMPLEMENTED && /does not implement the method/.test(k.details) && e.code !== status.UNIMPLEMENTED) {
      // Sent to raftkv only from here on: etcd would change state raftkv does not have.
      this.raftkvOnlyMethods.add(r.method);
    }
    if (r.method === 'Alarm' && k.code !== e.code) await this.disarmAlarms(this.etcdClientFor(idx));
    this.lastBodyDiff = undefined;
    const mismatch = this.compare(spec, r, e, k, mutations !== undefined, idx);
    if (MEMBERSHIP_CHANGES.has(r.method) && (e.code === 0) !== (k.code === 0)) this.membershipDiverged = true;
    if (mismatch === undefined) return;
    if (e.code === 0 || k.code === 0) this.tainted = true; // one side changed state, the other did not
    this.findings.add({
      kind: 'mismatch', signature: mismatch, where, method: label,
      request: mutations ? `${replayForm(r.req)} mutated ${JSON.stringify(mutations)} => bytes ${rBytes.toString('hex').slice(0, 400)}` : replayForm(r.req),
      etcd: outcomeText(e), raftkv: outcomeText(k), ...(this.lastBodyDiff ? { detail: this.lastBodyDiff } : {}),
    });
  }

  /** A mismatch signature, or undefined when the answers agree (or may differ). */
  private compare(spec: MethodSpec, r: FuzzRequest, e: Outcome, k: Outcome, mutated: boolean, idx: number): string | undefined {
    let policy = spec.policy(r.req, this.opts.cluster);
    if (policy === 'none') return undefined;
    if (this.membershipDiverged && MEMBERSHIP_METHODS.has(spec.name)) return undefined;
    if (MEMBERSHIP_METHODS.has(spec.name)) this.counters.inc(this.counters.compared, `membership ${mutated ? 'mutated ' : ''}calls (code, message)`);
    if ((spec.name === 'Lock' || spec.name === 'Campaign') && (e.code === status.DEADLINE_EXCEEDED || k.code === status.DEADLINE_EXCEEDED)) return undefined;
    // After a reported mismatch that changed state on one side only, revisions differ until the
    // batch's resync: bodies would only repeat that finding.
    if ((mutated || this.tainted) && policy === 'body') policy = 'code';
    const label = mutated ? `mutated ${spec.name}` : spec.name;
    if (e.code !== k.code || e.details !== k.details) {
      if (ALLOW_LIST.some((a) => a.matches(spec.name, e, k, mutated, r.req))) return undefined;
      if (k.code === status.UNIMPLEMENTED) return `${spec.name}: raftkv answers UNIMPLEMENTED`;
      if (e.code === status.INTERNAL && e.details.startsWith('grpc: error unmarshalling request')) {
        return 'mutated: etcd refuses to decode (grpc: error unmarshalling request), raftkv decodes and answers';
      }
      return `${label}: etcd ${shape(outcomeText(e))} / raftkv ${shape(outcomeText(k))}`;
    }
    if (policy !== 'body' || e.code !== 0) return undefined;
    const decode = (o: Outcome, self: bigint, side: 'etcd' | 'raftkv'): unknown => {
      const res = spec.decodeResponse(o.body!) as Record<string, unknown>;
      spec.normalise?.(res, r.req);
      if (MEMBERSHIP_METHODS.has(spec.name)) this.membershipShape(res, side);
      // A follower answers lease calls from the leader: etcd with the leader's header, raftkv
      // with its own applied revision, which may trail by an entry (docs/compatibility.md).
      if (this.opts.cluster && spec.service === 'Lease') delete res['header'];
      return canonical(res, self);
    };
    const d = firstDiff(decode(e, this.etcdIds[idx % this.etcdIds.length] ?? 0n, 'etcd'), decode(k, this.raftkvIds[idx] ?? 0n, 'raftkv'));
    if (MEMBERSHIP_METHODS.has(spec.name)) this.counters.inc(this.counters.compared, 'membership answers (shape)');
    this.lastBodyDiff = d;
    return d === undefined ? undefined : `${label}: body differs at ${stripPaths(d.split(':')[0]!)}`;
  }

  /**
   * A membership answer without what differs by nature: member IDs (random), the header, the
   * ports of each side's own members (their URLs read as `peer<i>` / `client<i>`) and the order
   * (etcd lists members by ID, and a member's URLs sorted). Names, URLs and isLearner remain.
   */
  private membershipShape(res: Record<string, unknown>, side: 'etcd' | 'raftkv'): void {
    const own = new Map<string, string>();
    (side === 'etcd' ? this.reference : this.subject).members.forEach((m, i) => {
      own.set(`http://${m.endpoint}`, `client${i}`);
      own.set(`http://${m.peerEndpoint}`, `peer${i}`);
    });
    // etcd sorts a member's peer URLs (types.NewURLs); raftkv keeps the request's order (docs/compatibility.md).
    const urls = (us: string[]): string[] => us.map((u) => own.get(u) ?? u).sort();
    const shapeOf = (m: etcdserverpb.Member): Record<string, unknown> => ({
      name: m.name, peerURLs: urls(m.peerURLs), clientURLs: urls(m.clientURLs), isLearner: m.isLearner,
    });
    delete res['header'];
    if (res['member']) res['member'] = shapeOf(res['member'] as etcdserverpb.Member);
    if (Array.isArray(res['members'])) {
      res['members'] = (res['members'] as etcdserverpb.Member[]).map(shapeOf).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    }
  }

  // ------------------------------------------------------------------ checks

  /** After an item: records a crash of raftkv or etcd and brings the process back. True if one crashed. */
  private async checkProcesses(item: Item, where: string): Promise<boolean> {
    const last = this.lastUnary;
    this.lastUnary = undefined;
    let crashed = false;
    const describe = (): { method?: string; request: string } => {
      if (item.kind === 'unary' || item.kind === 'mutated') {
        return { method: item.request.method, request: item.kind === 'mutated' ? `${replayForm(item.request.req)} mutated => bytes ${last?.rBytes.toString('hex').slice(0, 400)}` : replayForm(item.request.req) };
      }
      return { request: `${item.kind} ${replayForm(item).slice(0, 1500)}` };
    };
    for (let i = 0; i < this.subject.members.length; i++) {
      const m = this.subject.members[i]!;
      if (m.alive()) continue;
      crashed = true;
      this.counters.crashes++;
      const excerpt = crashExcerpt(m.output());
      const { method, request } = describe();
      const f = this.findings.add({
        kind: 'crash', signature: `${item.kind} ${method ?? ''}: raftkv exited: ${shape(excerpt.split('\n').find((l) => /fatal|panic|rror/.test(l)) ?? excerpt.split('\n')[0] ?? '')}`,
        where, ...(method ? { method } : {}), request, etcd: outcomeText(last?.e), raftkv: outcomeText(last?.k), detail: excerpt,
      });
      this.log(`  CRASH ${m.name} at ${where} (${f.signature})`);
      await this.restartMember(i, `after the crash at ${where}`, method);
    }
    for (let i = 0; i < this.reference.members.length; i++) {
      const e = this.reference.members[i]!;
      if (e.alive()) continue;
      crashed = true;
      const { method, request } = describe();
      this.findings.add({
        kind: 'etcd-not-total', signature: `${method ?? item.kind}: etcd exited: ${panicSignature(e.output())}`,
        where, ...(method ? { method } : {}), request, etcd: outcomeText(last?.e), raftkv: outcomeText(last?.k), detail: crashExcerpt(e.output()),
      });
      try {
        // A cluster member that panicked while applying took the others with it: start them together.
        const down = this.reference.members.filter((m) => !m.alive());
        await Promise.all(down.map((m) => m.restart()));
        for (const c of this.etcdClients) c.reset();
        // Its peers reconnected: etcd calls the cluster unhealthy for membership changes for 5 s.
        if (this.opts.cluster) await sleep(ETCD_HEALTH_INTERVAL_MS + 500);
      } catch {
        await this.resetAll('etcd cannot restart on its data dir');
        break;
      }
    }
    return crashed;
  }

  /** Restarts member i on its data dir; a failure is a finding, and both sides start fresh. */
  private async restartMember(i: number, why: string, method?: string): Promise<boolean> {
    const m = this.subject.members[i]!;
    const before = m.output().length;
    try {
      await m.restart();
      this.counters.restarts++;
      this.clients[i]!.reset();
      return true;
    } catch (err) {
      const out = m.output().slice(before);
      this.findings.add({
        kind: 'restart-failed', signature: `${method ?? ''}: restart fails: ${shape(crashExcerpt(out, 3).split('\n').find((l) => /fatal|rror/.test(l)) ?? (err as Error).message)}`,
        where: why, ...(method ? { method } : {}), detail: `${(err as Error).message}\n${crashExcerpt(out)}`,
      });
      this.log(`  RESTART FAILED ${m.name} ${why}`);
      await this.resetAll(`${m.name} cannot restart`);
      return false;
    }
  }

  private async disarmAlarms(c: RawClient): Promise<void> {
    const spec = methodSpec('Alarm');
    const o = await c.unary(spec.path, spec.encode({ action: 0 }), this.deadlineMs);
    if (o.code !== 0) return;
    for (const a of etcdserverpb.AlarmResponse.decode(o.body!).alarms) {
      await c.unary(spec.path, spec.encode({ action: 2, memberID: a.memberID, alarm: a.alarm }), this.deadlineMs);
    }
  }

  /**
   * After a membership change took effect on one side only (a learner etcd accepts and raftkv
   * refuses, or the reverse): every learner is removed on both sides, and membership answers
   * compare again once both lists have the same shape.
   */
  private async resyncMembership(): Promise<void> {
    const list = methodSpec('MemberList');
    const remove = methodSpec('MemberRemove');
    const shapes: string[] = [];
    for (const [c, side] of [[this.etcdClient, 'etcd'], [this.raftkvClient(0), 'raftkv']] as const) {
      const o = await c.unary(list.path, list.encode({}), this.deadlineMs);
      if (o.code !== 0) return;
      for (const m of etcdserverpb.MemberListResponse.decode(o.body!).members.filter((x) => x.isLearner)) {
        await c.unary(remove.path, remove.encode({ ID: m.ID }), this.deadlineMs);
      }
      const after = await c.unary(list.path, list.encode({}), this.deadlineMs);
      if (after.code !== 0) return;
      const res = etcdserverpb.MemberListResponse.decode(after.body!) as unknown as Record<string, unknown>;
      this.membershipShape(res, side);
      shapes.push(JSON.stringify(res['members']));
    }
    if (shapes[0] === shapes[1]) this.membershipDiverged = false;
  }

  /** After a batch: alarms off, membership realigned, put + linearizable get everywhere, keyspaces equal. */
  async checkBatch(where: string): Promise<void> {
    await this.disarmAlarms(this.etcdClient);
    await this.disarmAlarms(this.raftkvClient(0));
    if (this.membershipDiverged) await this.resyncMembership();
    const putSpec = methodSpec('Put');
    const rangeSpec = methodSpec('Range');
    const key = Buffer.from('__fuzz/alive');
    const value = Buffer.from(where);
    const put = putSpec.encode({ key, value });
    const [e, k] = await Promise.all([this.etcdClient.unary(putSpec.path, put, this.deadlineMs), this.raftkvClient(0).unary(putSpec.path, put, 10_000)]);
    if (e.code !== 0) {
      await this.resetAll(`etcd refused the check put: ${outcomeText(e)}`);
      return;
    }
    if (k.code !== 0) {
      this.findings.add({ kind: 'unresponsive', signature: `check put: ${shape(outcomeText(k))}`, where, raftkv: outcomeText(k), etcd: outcomeText(e) });
      await this.resetAll('raftkv refused the check put');
      return;
    }
    for (let i = 0; i < this.clients.length; i++) {
      const o = await this.clients[i]!.unary(rangeSpec.path, rangeSpec.encode({ key }), 10_000);
      const got = o.code === 0 ? etcdserverpb.RangeResponse.decode(o.body!).kvs[0]?.value.toString() : undefined;
      if (got !== where) {
        this.findings.add({ kind: 'unresponsive', signature: `check get on member ${i}: ${shape(outcomeText(o))}`, where, raftkv: `${outcomeText(o)} value ${got}` });
        await this.resetAll('raftkv failed the check get');
        return;
      }
    }
    const want = await rangeAll(this.etcdClient, false);
    const got = await rangeAll(this.raftkvClient(0), false);
    const d = diffViews(want, got);
    if (d !== undefined) {
      if (!this.tainted) {
        this.findings.add({
          kind: 'keyspace', signature: `keyspace differs: ${shape(d.split('\n')[0]!.replace(/ = .*/, ''))}`,
          where: `${where} (replay: --seed ${where.replace(/\D+/g, '')} --batches 1)`, detail: `first = etcd, second = raftkv\n${d}`,
        });
      }
      await this.resetAll(this.tainted ? 'resync after a reported mismatch' : 'keyspace differs');
      return;
    }
    if (this.opts.cluster) await this.checkConverged(got, where);
  }

  /** Every member's serializable view reaches `want` within a few seconds. */
  private async checkConverged(want: KeyspaceView | string, where: string): Promise<boolean> {
    for (let i = 0; i < this.clients.length; i++) {
      let d: string | undefined;
      // A member just restarted, or starved on a loaded machine, may take seconds to catch up.
      for (let t = 0; t < 150; t++) {
        d = diffViews(want, await rangeAll(this.clients[i]!, true));
        if (d === undefined) break;
        await sleep(100);
      }
      if (d !== undefined) {
        this.findings.add({ kind: 'diverged', signature: `member ${i} does not converge: ${shape(d.split('\n')[0]!)}`, where, detail: d });
        await this.resetAll('members diverged');
        return false;
      }
    }
    return true;
  }

  /** kill -9 one raftkv member, restart it on its data dir, and check it serves the same keyspace. */
  async crashRestartCheck(where: string): Promise<void> {
    const i = this.restartTurn++ % this.subject.members.length;
    const m = this.subject.members[i]!;
    const before = await rangeAll(this.raftkvClient(i), false);
    await m.kill();
    if (!(await this.restartMember(i, `kill -9 + restart of ${m.name} ${where}`))) return;
    let d: string | undefined;
    for (let t = 0; t < 50; t++) {
      d = diffViews(before, await rangeAll(this.raftkvClient(i), this.opts.cluster));
      if (d === undefined) break;
      await sleep(200);
    }
    if (d !== undefined) {
      this.findings.add({ kind: 'lost', signature: `after kill -9 + restart: ${shape(d.split('\n')[0]!)}`, where, detail: `first = before, second = after\n${d}` });
      await this.resetAll('data lost across restart');
    } else {
      this.log(`  kill -9 + restart of ${m.name}: same keyspace (${typeof before === 'string' ? before : `${before.kvs.length} keys, revision ${before.revision}`})`);
    }
  }
}

/** Runs a whole fuzz session: start, batches, checks, close (always). */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const runner = new FuzzRunner(opts);
  try {
    await runner.start();
    return await runner.run();
  } finally {
    await runner.close();
  }
}
