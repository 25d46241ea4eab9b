// A concurrent client workload for cluster fault tests: N clients, each bound to one member,
// running a seeded mix of put / linearizable get / compare-and-swap on a few keys, recording
// every operation into a HistoryRecorder for the linearizability checker, and keeping what the
// other fault checks need: every acknowledged write with its revision (no acknowledged write
// lost) and every response's header revision (revisions never go back).
//
// Also the convergence checks the fault tests share: wait until all members report the same
// revision and raft index, then compare their HashKV at that revision.
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { KVClient, MaintenanceClient, etcdserverpb, toSafeNumber } from '@raftkv/api';
import { putRequest, rangeRequest, txnRequest } from './grpc-client.js';
import {
  HistoryRecorder, type CasInput, type GetInput, type KvInput, type Operation, type PendingOperation, type PutInput,
} from './linearizability/index.js';
import { Random } from './random.js';

/** What a workload does; every field has a default. */
export interface WorkloadOptions {
  /** Client endpoints (host:port); client i is bound to `endpoints[i % endpoints.length]`. */
  readonly endpoints: readonly string[];
  /** Concurrent clients, each with one request in flight. Default 6. */
  readonly clients?: number;
  /** Keys the clients share (`<keyPrefix>0` ..). Few keys = many conflicts. Default 4. */
  readonly keys?: number;
  /** Prefix of the keys, and of the written values; unique per workload of a run. Default `wl/`. */
  readonly keyPrefix?: string;
  /** Seed of the operation mix (each client draws from `seed + client index`). Default 1. */
  readonly seed?: number;
  /** Deadline of each request; past it the outcome is unknown. Default 2000 ms. */
  readonly opDeadlineMs?: number;
  /** Relative weights of the operations. Default put 3, get 4, cas 3. */
  readonly weights?: { readonly put: number; readonly get: number; readonly cas: number };
  /** A client's pause after an error, so a dead member is not hammered. Default 50 ms. */
  readonly errorBackoffMs?: number;
  /** A limit on the recorded history; clients stop issuing past it. Default 200,000. */
  readonly maxOperations?: number;
  /** Monotonic milliseconds for the history. Default `performance.now()`. */
  readonly clock?: () => number;
}

/** A write the server acknowledged: `key` held `value` at `revision` (its mod revision). */
export interface AcknowledgedWrite {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
  readonly client: string;
  readonly endpoint: string;
  /** When the acknowledgement arrived, on the workload's clock. */
  readonly ackMs: number;
}

/** Counts per operation type. `failed`: a read that errored (no effect); `unknown`: a write that errored. */
export interface OperationCounts {
  ok: number;
  failed: number;
  unknown: number;
}

export interface WorkloadStats {
  readonly operations: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly byType: { readonly put: OperationCounts; readonly get: OperationCounts; readonly cas: OperationCounts };
  /** Completed cas operations whose compare held / did not hold. */
  readonly casSucceeded: number;
  readonly casFailed: number;
  readonly acknowledgedWrites: number;
  /** Errors seen, by gRPC code and message (see `errorName`), with counts; for reports. */
  readonly errors: Readonly<Record<string, number>>;
  /** True if `maxOperations` stopped the clients. */
  readonly limitReached: boolean;
}

/** A response whose header revision was below an earlier one. */
export interface RevisionRegression {
  readonly client: string;
  /** `'client'`: below this client's previous response; `'real-time'`: below a response that completed before it was sent. */
  readonly kind: 'client' | 'real-time';
  readonly operation: number;
  readonly revision: number;
  readonly earlierOperation: number;
  readonly earlierRevision: number;
}

type OpType = 'put' | 'get' | 'cas';

interface RevisionSample {
  readonly id: number;
  readonly client: string;
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly revision: number;
}

const DEFAULTS = {
  clients: 6,
  keys: 4,
  keyPrefix: 'wl/',
  seed: 1,
  opDeadlineMs: 2000,
  weights: { put: 3, get: 4, cas: 3 },
  errorBackoffMs: 50,
  maxOperations: 200_000,
};
const MAX_CLIENTS = 256;
const MAX_KEYS = 1024;

/** Reconnect quickly after a member restarts (grpc-js backs off up to 120 s by default). */
const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.min_reconnect_backoff_ms': 100,
};

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

function withDeadline<Req, Res>(
  fn: (req: Req, meta: Metadata, opts: { deadline: Date }, cb: Callback<Res>) => unknown,
  req: Req,
  deadlineMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** gRPC codes of failures that may go away by themselves (elections, reconnects, catch-up). */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.UNKNOWN]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function revisionOf(header: etcdserverpb.ResponseHeader | undefined, what: string): number {
  if (header === undefined) throw new ProtocolViolation(`${what}: response without a header`);
  try {
    return toSafeNumber(header.revision, `${what} header revision`);
  } catch (err) {
    throw new ProtocolViolation((err as Error).message);
  }
}

/**
 * A short name for an error, for the stats: the gRPC code and the first clause of its details,
 * e.g. `UNAVAILABLE: etcdserver: no leader`, `DEADLINE_EXCEEDED: Deadline exceeded`,
 * `UNAVAILABLE: No connection established (ECONNREFUSED)`.
 */
function errorName(err: unknown): string {
  const { code, details } = err as Partial<ServiceError>;
  if (typeof code !== 'number') return `non-grpc: ${String((err as Error).message ?? err).slice(0, 80)}`;
  const full = String(details ?? '');
  // The first sentence or clause, without timings and addresses, plus any socket error code.
  const head = full.split(/\. |,/)[0]!.replace(/ after [\d.]+m?s$/, '').replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, 'ADDR').slice(0, 80);
  const socket = /\b(E[A-Z]{4,})\b/.exec(full)?.[1];
  return `${GrpcStatus[code] ?? String(code)}: ${head}${socket !== undefined && !head.includes(socket) ? ` (${socket})` : ''}`;
}

/** Distinct error names kept in the stats; the rest are counted under one name. */
const MAX_ERROR_NAMES = 32;

/**
 * A running workload. Start it with {@link Workload.start}, inject faults while it runs, then
 * `stop()` it and check `history()`, `acknowledged`, `revisionRegressions()`.
 *
 * Recording contract: each operation is invoked on the recorder immediately before its request
 * is sent and completed immediately after the response arrives. A put or cas that errors or
 * misses its deadline is recorded as unknown (it may still take effect: a timed-out proposal
 * can commit later); a get that errors is recorded as unknown too, which the checker ignores
 * (a read that never answered constrains nothing). Values written are unique per workload.
 *
 * @example
 * const w = Workload.start({ endpoints: cluster.endpoints, keyPrefix: 'round1/' });
 * await w.untilAcknowledged(50, 15_000);
 * await leader.kill();                      // the fault, while the clients keep going
 * await w.untilAcknowledged(50, 15_000);    // the survivors acknowledge writes again
 * await w.stop();
 * expect(checkLinearizable(w.history()).ok).toBe(true);
 * expect(w.revisionRegressions()).toEqual([]);
 * expect(await findLostWrites(cluster.endpoints[1], w.acknowledged)).toEqual([]);
 */
export class Workload {
  readonly recorder: HistoryRecorder;
  readonly keys: readonly string[];
  private readonly acked: AcknowledgedWrite[] = [];
  private readonly samples: RevisionSample[] = [];
  private readonly clientRegressions: RevisionRegression[] = [];
  private readonly counts = {
    put: { ok: 0, failed: 0, unknown: 0 },
    get: { ok: 0, failed: 0, unknown: 0 },
    cas: { ok: 0, failed: 0, unknown: 0 },
  };
  private readonly errors: Record<string, number> = {};
  private casSucceeded = 0;
  private casFailed = 0;
  private operations = 0;
  private limitReached = false;
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly kvClients: KVClient[] = [];
  private ackWaiters: { count: number; resolve: () => void }[] = [];

  private constructor(private readonly opts: Required<WorkloadOptions>) {
    this.recorder = new HistoryRecorder(opts.clock, opts.maxOperations);
    this.keys = Array.from({ length: opts.keys }, (_, i) => `${opts.keyPrefix}${i}`);
  }

  /** Starts `clients` client loops at once. Throws RangeError for out-of-range options. */
  static start(options: WorkloadOptions): Workload {
    const opts: Required<WorkloadOptions> = { ...DEFAULTS, clock: () => performance.now(), ...options };
    if (opts.endpoints.length === 0) throw new RangeError('a workload needs at least one endpoint');
    if (!Number.isInteger(opts.clients) || opts.clients < 1 || opts.clients > MAX_CLIENTS) {
      throw new RangeError(`clients must be 1..${MAX_CLIENTS}, got ${opts.clients}`);
    }
    if (!Number.isInteger(opts.keys) || opts.keys < 1 || opts.keys > MAX_KEYS) {
      throw new RangeError(`keys must be 1..${MAX_KEYS}, got ${opts.keys}`);
    }
    if (!(opts.opDeadlineMs > 0) || !(opts.errorBackoffMs >= 0) || !(opts.maxOperations > 0)) {
      throw new RangeError('opDeadlineMs and maxOperations must be > 0, errorBackoffMs >= 0');
    }
    const { put, get, cas } = opts.weights;
    if (![put, get, cas].every((w) => w >= 0) || put + get + cas <= 0) throw new RangeError('weights must be >= 0 with a positive sum');
    const w = new Workload(opts);
    for (let i = 0; i < opts.clients; i++) {
      const endpoint = opts.endpoints[i % opts.endpoints.length]!;
      const kv = new KVClient(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
      w.kvClients.push(kv);
      w.loops.push(w.clientLoop(i, endpoint, kv));
    }
    return w;
  }

  /** Every acknowledged write so far, in acknowledgement order. */
  get acknowledged(): readonly AcknowledgedWrite[] {
    return this.acked;
  }

  /** The recorded history (operations still in flight appear as unknown). */
  history(): Operation[] {
    return this.recorder.history();
  }

  /** The current time on the workload's clock (the history's clock). */
  now(): number {
    return this.opts.clock();
  }

  /**
   * Resolves once `count` more writes than now have been acknowledged; rejects after
   * `timeoutMs` (the message says how many arrived), or at once if the workload stopped.
   */
  async untilAcknowledged(count: number, timeoutMs: number): Promise<void> {
    const target = this.acked.length + count;
    if (this.acked.length >= target) return;
    if (this.stopping) throw new Error('the workload is stopped');
    let timer: NodeJS.Timeout | undefined;
    const reached = new Promise<void>((resolve) => this.ackWaiters.push({ count: target, resolve }));
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `only ${this.acked.length - (target - count)} of ${count} writes acknowledged in ${timeoutMs} ms ` +
        `(${JSON.stringify(this.stats())})`)), timeoutMs);
    });
    try {
      await Promise.race([reached, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Counts so far. */
  stats(): WorkloadStats {
    const sum = (f: keyof OperationCounts) => this.counts.put[f] + this.counts.get[f] + this.counts.cas[f];
    return {
      operations: this.operations,
      ok: sum('ok'),
      failed: sum('failed'),
      unknown: sum('unknown'),
      byType: { put: { ...this.counts.put }, get: { ...this.counts.get }, cas: { ...this.counts.cas } },
      casSucceeded: this.casSucceeded,
      casFailed: this.casFailed,
      acknowledgedWrites: this.acked.length,
      errors: { ...this.errors },
      limitReached: this.limitReached,
    };
  }

  /**
   * Responses whose header revision went back: below the same client's previous response
   * (`client`: each client talks to one member, whose applied revision only grows), or below
   * that of any response that completed before this request was sent (`real-time`: a
   * linearizable read or a write sees every write acknowledged before it began). Empty when
   * all is well.
   */
  revisionRegressions(): RevisionRegression[] {
    const found = [...this.clientRegressions];
    const byInvoke = [...this.samples].sort((a, b) => a.invokeMs - b.invokeMs);
    const byComplete = [...this.samples].sort((a, b) => a.completeMs - b.completeMs);
    let j = 0;
    let highest: RevisionSample | undefined;
    for (const s of byInvoke) {
      // Strictly before: equal times count as overlapping, as in the checker.
      while (j < byComplete.length && byComplete[j]!.completeMs < s.invokeMs) {
        const c = byComplete[j++]!;
        if (highest === undefined || c.revision > highest.revision) highest = c;
      }
      if (highest !== undefined && s.revision < highest.revision) {
        found.push({ client: s.client, kind: 'real-time', operation: s.id, revision: s.revision, earlierOperation: highest.id, earlierRevision: highest.revision });
      }
    }
    return found;
  }

  /** Stops issuing, waits for the requests in flight (each ends by its deadline), closes the clients. */
  async stop(): Promise<WorkloadStats> {
    this.stopping = true;
    await Promise.all(this.loops);
    for (const kv of this.kvClients) kv.close();
    return this.stats();
  }

  private async clientLoop(index: number, endpoint: string, kv: KVClient): Promise<void> {
    const { errorBackoffMs, weights, keyPrefix } = this.opts;
    const client = `c${index}@${endpoint}`;
    const rnd = new Random(this.opts.seed + index);
    // What this client last saw in each key: the expected value of its next cas.
    const lastSeen = new Map<string, string | undefined>();
    let lastRevision: { id: number; revision: number } | undefined;
    const total = weights.put + weights.get + weights.cas;
    for (let seq = 0; !this.stopping; seq++) {
      if (this.operations >= this.opts.maxOperations) {
        this.limitReached = true;
        return;
      }
      this.operations++;
      const key = rnd.pick(this.keys);
      const draw = rnd.next() * total;
      const type: OpType = draw < weights.put ? 'put' : draw < weights.put + weights.get ? 'get' : 'cas';
      const value = `${keyPrefix}v${index}.${seq}`;
      const input: KvInput =
        type === 'put' ? { type, key, value }
          : type === 'get' ? { type, key }
            : { type, key, expected: lastSeen.get(key), value };
      let op: PendingOperation<KvInput>;
      try {
        op = this.recorder.invoke(client, input);
      } catch {
        this.limitReached = true; // the recorder's own limit
        return;
      }
      try {
        const { revision, completeMs } = await this.perform(kv, op, lastSeen, client, endpoint);
        this.counts[type].ok++;
        this.samples.push({ id: op.id, client, invokeMs: op.invokeMs, completeMs, revision });
        if (lastRevision !== undefined && revision < lastRevision.revision) {
          this.clientRegressions.push({ client, kind: 'client', operation: op.id, revision, earlierOperation: lastRevision.id, earlierRevision: lastRevision.revision });
        }
        if (lastRevision === undefined || revision >= lastRevision.revision) lastRevision = { id: op.id, revision };
      } catch (err) {
        if (err instanceof ProtocolViolation) throw err;
        this.recorder.unknown(op);
        if (type === 'get') this.counts.get.failed++;
        else this.counts[type].unknown++;
        let name = errorName(err);
        if (this.errors[name] === undefined && Object.keys(this.errors).length >= MAX_ERROR_NAMES) name = 'other';
        this.errors[name] = (this.errors[name] ?? 0) + 1;
        if (!this.stopping) await sleep(errorBackoffMs);
      }
    }
  }

  /**
   * Sends `op`, completes it on the recorder, and returns the response's header revision with
   * the completion time: read right after the recorder's, so at least as late, and the
   * sample's interval still contains the real one.
   */
  private async perform(kv: KVClient, op: PendingOperation<KvInput>, lastSeen: Map<string, string | undefined>, client: string, endpoint: string): Promise<{ revision: number; completeMs: number }> {
    const { opDeadlineMs } = this.opts;
    const input = op.input;
    const key = Buffer.from(input.key);
    switch (input.type) {
      case 'put': {
        const res = await withDeadline(kv.put.bind(kv), putRequest({ key, value: Buffer.from(input.value) }), opDeadlineMs);
        const revision = revisionOf(res.header, 'put');
        this.recorder.complete(op as PendingOperation<PutInput>);
        const completeMs = this.opts.clock();
        lastSeen.set(input.key, input.value);
        this.acknowledge({ key: input.key, value: input.value, revision, client, endpoint, ackMs: completeMs });
        return { revision, completeMs };
      }
      case 'get': {
        const res = await withDeadline(kv.range.bind(kv), rangeRequest({ key }), opDeadlineMs);
        const value = res.kvs[0]?.value.toString();
        const revision = revisionOf(res.header, 'range');
        this.recorder.complete(op as PendingOperation<GetInput>, value);
        const completeMs = this.opts.clock();
        lastSeen.set(input.key, value);
        return { revision, completeMs };
      }
      case 'cas': {
        // Absent is `create_revision == 0`, as etcd's own recipes compare it.
        const compare: etcdserverpb.Compare = input.expected === undefined
          ? { result: etcdserverpb.Compare_CompareResult.EQUAL, target: etcdserverpb.Compare_CompareTarget.CREATE, key, createRevision: 0n, rangeEnd: Buffer.alloc(0) }
          : { result: etcdserverpb.Compare_CompareResult.EQUAL, target: etcdserverpb.Compare_CompareTarget.VALUE, key, value: Buffer.from(input.expected), rangeEnd: Buffer.alloc(0) };
        const res = await withDeadline(kv.txn.bind(kv), txnRequest({
          compare: [compare],
          success: [{ requestPut: putRequest({ key, value: Buffer.from(input.value) }) }],
          // The current value, so the next cas of this client has a fair chance.
          failure: [{ requestRange: rangeRequest({ key }) }],
        }), opDeadlineMs);
        const revision = revisionOf(res.header, 'txn');
        this.recorder.complete(op as PendingOperation<CasInput>, res.succeeded ? 'ok' : 'failed');
        const completeMs = this.opts.clock();
        if (res.succeeded) {
          this.casSucceeded++;
          lastSeen.set(input.key, input.value);
          this.acknowledge({ key: input.key, value: input.value, revision, client, endpoint, ackMs: completeMs });
        } else {
          this.casFailed++;
          lastSeen.set(input.key, res.responses[0]?.responseRange?.kvs[0]?.value.toString());
        }
        return { revision, completeMs };
      }
      case 'delete':
        throw new ProtocolViolation('the workload issues no deletes');
    }
  }

  private acknowledge(w: AcknowledgedWrite): void {
    this.acked.push(w);
    const n = this.acked.length;
    const ready = this.ackWaiters.filter((x) => x.count <= n);
    if (ready.length === 0) return;
    this.ackWaiters = this.ackWaiters.filter((x) => x.count > n);
    for (const x of ready) x.resolve();
  }
}

/**
 * A response no etcd server may send (no header, a revision past 2^53), or a bug in the
 * workload: never recorded as an outcome; it ends the client loop and fails `stop()`.
 */
class ProtocolViolation extends Error {}

/** An acknowledged write that a member does not have at its revision. */
export interface LostWrite {
  readonly write: AcknowledgedWrite;
  /** What the member has instead, for the failure message. */
  readonly found: string;
}

/**
 * Checks on the member at `endpoint` that every write of `acked` is readable at its revision
 * (a range at `revision` returns the value with that mod revision) or, if that revision was
 * compacted, superseded (the key's current mod revision is later). Linearizable reads, at
 * most `concurrency` (default 16) at a time, each with `deadlineMs` (default 5000) and asked
 * again up to `attempts` (default 30) times, 100 ms apart, on UNAVAILABLE, DEADLINE_EXCEEDED
 * or UNKNOWN. Returns the writes that are not there (empty when none lost).
 */
export async function findLostWrites(
  endpoint: string,
  acked: readonly AcknowledgedWrite[],
  opts: { concurrency?: number; deadlineMs?: number; attempts?: number } = {},
): Promise<LostWrite[]> {
  const kv = new KVClient(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  const deadlineMs = opts.deadlineMs ?? 5000;
  const lost: LostWrite[] = [];
  let next = 0;
  const maxAttempts = opts.attempts ?? 30;
  // A read that fails for a reason of the moment (an election right after the faults, a member
  // still catching up) is asked again; anything else, or too many failures, is thrown.
  const read = async (req: etcdserverpb.RangeRequest): Promise<etcdserverpb.RangeResponse> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withDeadline(kv.range.bind(kv), req, deadlineMs);
      } catch (err) {
        const code = (err as Partial<ServiceError>).code;
        if (!(code !== undefined && TRANSIENT_CODES.has(code)) || attempt >= maxAttempts) throw err;
        await sleep(100);
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (next < acked.length) {
      const w = acked[next++]!;
      const key = Buffer.from(w.key);
      let res: etcdserverpb.RangeResponse;
      try {
        res = await read(rangeRequest({ key, revision: BigInt(w.revision) }));
      } catch (err) {
        if (!/compacted/.test(String((err as Error).message))) throw err;
        const cur = (await read(rangeRequest({ key }))).kvs[0];
        const mod = cur === undefined ? undefined : toSafeNumber(cur.modRevision, 'mod revision');
        if (cur === undefined || mod! < w.revision || (mod === w.revision && cur.value.toString() !== w.value)) {
          lost.push({ write: w, found: `compacted; now ${cur === undefined ? 'absent' : `mod revision ${mod}`}` });
        }
        continue;
      }
      const kvAt = res.kvs[0];
      const mod = kvAt === undefined ? undefined : toSafeNumber(kvAt.modRevision, 'mod revision');
      if (kvAt === undefined || mod !== w.revision || kvAt.value.toString() !== w.value) {
        lost.push({ write: w, found: kvAt === undefined ? 'absent' : `${JSON.stringify(kvAt.value.toString())} at mod revision ${mod}` });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 16, 64)) }, worker));
  } finally {
    kv.close();
  }
  return lost;
}

/** One member's view once the cluster has converged. */
export interface MemberState {
  readonly endpoint: string;
  readonly revision: number;
  readonly raftIndex: number;
  readonly raftAppliedIndex: number;
  /** HashKV at the common revision. */
  readonly hash: number;
}

/**
 * Waits until every endpoint answers Status with the same revision, raft index and raft
 * applied index twice in a row `settleMs` apart (no writes may be running), then returns each member's
 * HashKV at that revision. Throws after `timeoutMs` with the last statuses seen. The caller
 * asserts the hashes are equal, so a failure shows the data differs, not that it timed out.
 */
export async function waitForConvergence(
  endpoints: readonly string[],
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<MemberState[]> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const settleMs = opts.settleMs ?? 200;
  const clients = endpoints.map((e) => new MaintenanceClient(e, credentials.createInsecure(), CHANNEL_OPTIONS));
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let previous = '';
  try {
    for (;;) {
      try {
        const statuses = await Promise.all(clients.map((c) => withDeadline(c.status.bind(c), {}, 1000)));
        const revs = statuses.map((s) => revisionOf(s.header, 'status'));
        const applied = statuses.map((s) => toSafeNumber(s.raftAppliedIndex, 'raft applied index'));
        const indexes = statuses.map((s) => toSafeNumber(s.raftIndex, 'raft index'));
        last = `revisions ${revs.join(',')} applied ${applied.join(',')} raft index ${indexes.join(',')}`;
        const same = revs.every((r) => r === revs[0]) && applied.every((a) => a === applied[0]) &&
          indexes.every((x) => x === indexes[0]);
        if (same && last === previous) {
          const revision = revs[0]!;
          const hashes = await Promise.all(clients.map((c) =>
            withDeadline(c.hashKv.bind(c), { revision: BigInt(revision) }, 5000)));
          return endpoints.map((endpoint, i) => ({
            endpoint, revision, raftIndex: indexes[i]!, raftAppliedIndex: applied[i]!, hash: hashes[i]!.hash,
          }));
        }
        previous = same ? last : '';
      } catch (err) {
        last = `error: ${(err as Error).message}`;
        previous = '';
      }
      if (Date.now() > deadline) throw new Error(`members did not converge in ${timeoutMs} ms: ${last}`);
      await sleep(settleMs);
    }
  } finally {
    for (const c of clients) c.close();
  }
}

/** Maintenance.Status of one endpoint with a deadline (leader ID, raft index, revision). */
export async function memberStatus(endpoint: string, deadlineMs = 1000): Promise<etcdserverpb.StatusResponse> {
  const c = new MaintenanceClient(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  try {
    return await withDeadline(c.status.bind(c), {}, deadlineMs);
  } finally {
    c.close();
  }
}
