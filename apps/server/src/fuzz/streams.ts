// Stream misuse: Watch and LeaseKeepAlive request sequences with half-close, cancel mid-stream,
// floods, mutated messages, and clients that never read.
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { Client, Metadata, credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { anyLease, applyMutations, int64, key, mutationArb, POOL_LEASES, rangeEnd, revision, type Mutation } from './generate.js';

export type StreamStep =
  | { kind: 'send'; message: Record<string, unknown>; repeat: number; mutations: Mutation[] }
  | { kind: 'pause'; ms: number };

export interface StreamScript {
  readonly stream: 'Watch' | 'LeaseKeepAlive';
  readonly steps: StreamStep[];
  /** Read the responses, or leave them unread (the server must bound what it buffers). */
  readonly read: boolean;
  /** How the client ends: half-close and wait, cancel at once, or cancel after a wait. */
  readonly end: 'halfclose' | 'cancel' | 'wait-cancel';
}

const filter = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 1 }) }, { weight: 1, arbitrary: fc.constantFrom(2, 5, -1, 99) });

const watchMessage: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 5, arbitrary: fc.record({
    createRequest: fc.record({
      key: key(), rangeEnd: rangeEnd(), startRevision: revision(), progressNotify: fc.boolean(),
      filters: fc.array(filter, { maxLength: 3 }), prevKv: fc.boolean(),
      watchId: fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 5n }) }, { weight: 1, arbitrary: int64() }),
      fragment: fc.boolean(),
    }),
  }) },
  { weight: 2, arbitrary: fc.record({ cancelRequest: fc.record({ watchId: fc.oneof(fc.bigInt({ min: -1n, max: 5n }), int64()) }) }) },
  { weight: 2, arbitrary: fc.constant({ progressRequest: {} }) },
  { weight: 1, arbitrary: fc.constant({}) },
);

const keepAliveMessage = fc.record({ ID: anyLease() });

const steps = (message: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<StreamStep[]> => fc.array(fc.oneof(
  { weight: 6, arbitrary: fc.record({
    kind: fc.constant('send' as const), message,
    repeat: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 2000 }) }),
    mutations: fc.oneof({ weight: 5, arbitrary: fc.constant([] as Mutation[]) }, { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 1, max: 100 }) }) },
), { minLength: 1, maxLength: 8 });

export const streamScriptArb: fc.Arbitrary<StreamScript> = fc.oneof(
  fc.record({ stream: fc.constant('Watch' as const), steps: steps(watchMessage), read: fc.boolean(), end: fc.constantFrom('halfclose' as const, 'cancel' as const, 'wait-cancel' as const) }),
  fc.record({ stream: fc.constant('LeaseKeepAlive' as const), steps: steps(keepAliveMessage), read: fc.boolean(), end: fc.constantFrom('halfclose' as const, 'cancel' as const, 'wait-cancel' as const) }),
);

const identity = (b: Buffer): Buffer => b;

export function encodeStreamMessage(stream: StreamScript['stream'], message: Record<string, unknown>): Buffer {
  if (stream === 'Watch') return Buffer.from(etcdserverpb.WatchRequest.encode(etcdserverpb.WatchRequest.fromPartial(message)).finish());
  return Buffer.from(etcdserverpb.LeaseKeepAliveRequest.encode(etcdserverpb.LeaseKeepAliveRequest.fromPartial(message)).finish());
}

export interface StreamResult { readonly responses: number; readonly status: number | undefined; readonly details: string }

/** Runs one script on a fresh channel to endpoint; resolves within about `budgetMs` (never rejects). */
export async function runStream(endpoint: string, script: StreamScript, budgetMs = 1500, writes?: WriteRunner): Promise<StreamResult> {
  const client = new Client(endpoint, credentials.createInsecure());
  const path = script.stream === 'Watch' ? '/etcdserverpb.Watch/Watch' : '/etcdserverpb.Lease/LeaseKeepAlive';
  const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata(), { deadline: Date.now() + budgetMs + 1000 });
  let responses = 0;
  let statusCode: number | undefined;
  let details = '';
  const ended = new Promise<void>((resolve) => {
    call.on('status', (s: { code: number; details: string }) => { statusCode = s.code; details = s.details; resolve(); });
    call.on('error', () => undefined);
  });
  if (script.read) call.on('data', () => { responses++; });
  try {
    const workload = streamWorkload(script);
    for (const [s, step] of script.steps.entries()) {
      if (step.kind === 'pause') await new Promise((r) => setTimeout(r, step.ms));
      else {
        const bytes = applyMutations(encodeStreamMessage(script.stream, step.message), step.mutations);
        for (let i = 0; i < step.repeat; i++) {
          if (!call.write(bytes)) await Promise.race([new Promise((r) => call.once('drain', r)), ended, new Promise((r) => setTimeout(r, 200))]);
          if (statusCode !== undefined) break;
        }
      }
      if (writes) for (const w of workload[s]!) await writes(w);
    }
    if (script.end === 'halfclose') {
      call.end();
      await Promise.race([ended, new Promise((r) => setTimeout(r, 300))]);
    } else if (script.end === 'wait-cancel') {
      await Promise.race([ended, new Promise((r) => setTimeout(r, 200))]);
    }
  } finally {
    call.cancel();
    await Promise.race([ended, new Promise((r) => setTimeout(r, 500))]);
    client.close();
  }
  return { responses, status: statusCode, details };
}

// ------------------------------------------------------------------ the workload beside a stream

/** A write the runner makes on both servers at a point of a Watch script (same bytes, same order). */
export type StreamWrite =
  | { op: 'put'; key: Buffer; value: Buffer; lease: bigint }
  | { op: 'delete'; key: Buffer; rangeEnd: Buffer }
  /** A txn of big puts: with prev_kv its events exceed --max-request-bytes, so fragments appear. */
  | { op: 'big-txn'; keys: Buffer[]; valueBytes: number };

/** Makes one write on both servers; the runner compares the outcomes. */
export type WriteRunner = (w: StreamWrite) => Promise<void>;

const WRITE_KEYS = ['', '\0', 'a', 'a/1', 'a/2', 'b', 'foo', 'foo/bar', '\xff'].map((k) => Buffer.from(k, 'latin1'));

/**
 * The writes made after each step of a Watch script (none for LeaseKeepAlive): a pure function
 * of the script, drawn from a PRNG seeded by its content rather than from the script's
 * arbitrary, so adding the workload changed no batch that the seeds replay.
 */
export function streamWorkload(script: StreamScript): StreamWrite[][] {
  if (script.stream !== 'Watch') return script.steps.map(() => []);
  const digest = createHash('sha1').update(JSON.stringify(script, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))).digest();
  let x = digest.readUInt32LE(0) | 1;
  const next = (n: number): number => {
    // xorshift32: deterministic, enough for choosing among a few options
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
  const watched = script.steps.flatMap((s) => {
    const c = s.kind === 'send' ? (s.message['createRequest'] as { key?: Buffer } | undefined) : undefined;
    return c?.key && c.key.length <= 64 ? [c.key] : [];
  });
  const keys = [...WRITE_KEYS, ...watched];
  const pick = (): Buffer => keys[next(keys.length)]!;
  return script.steps.map(() => {
    const out: StreamWrite[] = [];
    const n = next(10) < 4 ? 0 : 1 + next(3);
    for (let i = 0; i < n; i++) {
      const r = next(100);
      if (r < 70) {
        const value = Buffer.alloc(next(12), next(256));
        out.push({ op: 'put', key: pick(), value, lease: next(4) === 0 ? POOL_LEASES[next(POOL_LEASES.length)]! : 0n });
      } else if (r < 97) {
        const kinds = [Buffer.alloc(0), Buffer.from([0]), pick()];
        out.push({ op: 'delete', key: pick(), rangeEnd: kinds[next(kinds.length)]! });
      } else {
        out.push({ op: 'big-txn', keys: [...new Set(Array.from({ length: 7 }, pick))], valueBytes: 200_000 });
      }
    }
    return out;
  });
}

// ------------------------------------------------------------------ one script on both servers

/** One side of a compared stream: every response decoded on arrival, the time of the last one. */
class StreamSession<Res> {
  readonly responses: Res[] = [];
  readonly sent: unknown[] = [];
  end: { code: number; details: string } | undefined;
  private endedByClient = false;
  lastActivity = Date.now();
  private readonly client: Client;
  private readonly call: ClientDuplexStream<Buffer, Buffer>;
  readonly ended: Promise<void>;

  constructor(endpoint: string, path: string, decode: (b: Buffer) => Res, deadlineMs: number) {
    this.client = new Client(endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    this.call = this.client.makeBidiStreamRequest(path, identity, identity, new Metadata(), { deadline: Date.now() + deadlineMs });
    this.ended = new Promise<void>((resolve) => {
      this.call.on('status', (s: { code: number; details: string }) => {
        if (!this.endedByClient) this.end = { code: s.code, details: s.details };
        this.lastActivity = Date.now();
        resolve();
      });
      this.call.on('error', () => undefined);
    });
    this.call.on('data', (b: Buffer) => {
      this.lastActivity = Date.now();
      try {
        this.responses.push(decode(b));
      } catch (err) {
        // A response that does not decode is a finding of its own; keep it visible in the comparison.
        this.end ??= { code: -1, details: `undecodable response: ${(err as Error).message}` };
      }
    });
  }

  get done(): boolean {
    return this.end !== undefined || this.endedByClient;
  }

  async send(bytes: Buffer, decoded: unknown): Promise<void> {
    if (this.done) return;
    this.sent.push(decoded);
    if (!this.call.write(bytes)) await Promise.race([new Promise((r) => this.call.once('drain', r)), this.ended]);
  }

  halfClose(): void {
    if (!this.done) this.call.end();
  }

  async close(): Promise<void> {
    if (this.end === undefined) this.endedByClient = true;
    this.call.cancel();
    await Promise.race([this.ended, new Promise((r) => setTimeout(r, 500))]);
    this.client.close();
  }
}

export interface PairResult<Req, Res> {
  /** A settle ran out of time (maxSettleMs): one side may not have answered everything, so nothing is compared. */
  readonly unsettled: boolean;
  readonly etcd: { sent: (Req | undefined)[]; responses: Res[]; end: { code: number; details: string } | undefined };
  readonly raftkv: { sent: (Req | undefined)[]; responses: Res[]; end: { code: number; details: string } | undefined };
}

export interface PairOptions {
  /** Both sides quiet this long: the step's answers are in (etcd syncs unsynced watchers every 100 ms). */
  quietMs?: number;
  /** The most one settle waits. */
  maxSettleMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one read script on etcd and raftkv side by side: each step is sent to both and both
 * streams settle (no response for `quietMs`, and as many created / keepalive answers as
 * requests sent), then the workload's writes for that step are made on both and both settle
 * again before the next step, so
 * what each side answered depends on the request sequence and not on timing. Pauses are skipped
 * (settling replaces them). Never rejects.
 */
export async function runStreamPair(
  endpoints: { etcd: string; raftkv: string }, script: StreamScript, writes: WriteRunner, opts: PairOptions = {},
): Promise<PairResult<etcdserverpb.WatchRequest | etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.WatchResponse | etcdserverpb.LeaseKeepAliveResponse>> {
  const quietMs = opts.quietMs ?? 150;
  const maxSettleMs = opts.maxSettleMs ?? 5000;
  const watch = script.stream === 'Watch';
  const path = watch ? '/etcdserverpb.Watch/Watch' : '/etcdserverpb.Lease/LeaseKeepAlive';
  const decodeRes = (b: Buffer): etcdserverpb.WatchResponse | etcdserverpb.LeaseKeepAliveResponse =>
    (watch ? etcdserverpb.WatchResponse.decode(b) : etcdserverpb.LeaseKeepAliveResponse.decode(b));
  const decodeReq = (b: Buffer): etcdserverpb.WatchRequest | etcdserverpb.LeaseKeepAliveRequest | undefined => {
    try {
      return watch ? etcdserverpb.WatchRequest.decode(b) : etcdserverpb.LeaseKeepAliveRequest.decode(b);
    } catch {
      return undefined;
    }
  };
  const deadlineMs = 60_000;
  const sides = [new StreamSession(endpoints.etcd, path, decodeRes, deadlineMs), new StreamSession(endpoints.raftkv, path, decodeRes, deadlineMs)] as const;
  // What a side must have answered before it can be quiet: one created per create, one answer per keepalive.
  const expected = (sent: unknown[]): number => (watch ? sent.filter((r) => (r as etcdserverpb.WatchRequest | undefined)?.createRequest !== undefined).length : sent.length);
  const answered = (s: StreamSession<unknown>): number => (watch ? s.responses.filter((r) => (r as etcdserverpb.WatchResponse).created).length : s.responses.length);
  let unsettled = false;
  const settle = async (): Promise<void> => {
    const start = Date.now();
    for (;;) {
      const now = Date.now();
      if (now - start >= maxSettleMs) {
        unsettled = true;
        return;
      }
      const ready = sides.every((s) => s.done || (now - s.lastActivity >= quietMs && answered(s) >= expected(s.sent)));
      if (ready && now - start >= quietMs) return;
      await sleep(20);
    }
  };
  try {
    const workload = streamWorkload(script);
    for (const [i, step] of script.steps.entries()) {
      if (step.kind === 'send') {
        const bytes = applyMutations(encodeStreamMessage(script.stream, step.message), step.mutations);
        const decoded = decodeReq(bytes);
        await Promise.all(sides.map(async (s) => {
          for (let r = 0; r < step.repeat && !s.done; r++) await s.send(bytes, decoded);
        }));
        // The servers read requests asynchronously: a write made before they are handled would
        // race with them (a created response's revision, a watcher's first event).
        await settle();
      }
      if (workload[i]!.length > 0) {
        for (const w of workload[i]!) await writes(w);
        await settle();
      }
      if (sides.every((s) => s.done)) break;
    }
    if (script.end === 'halfclose') {
      for (const s of sides) s.halfClose();
      // LeaseKeepAlive ends with OK once every request read is answered; Watch stays open.
      await Promise.race([Promise.all(sides.map((s) => s.ended)), sleep(watch ? quietMs : 3000)]);
    }
  } finally {
    await Promise.all(sides.map((s) => s.close()));
  }
  const rec = (s: StreamSession<etcdserverpb.WatchResponse | etcdserverpb.LeaseKeepAliveResponse>) => ({
    sent: s.sent as (etcdserverpb.WatchRequest | etcdserverpb.LeaseKeepAliveRequest | undefined)[], responses: s.responses, end: s.end,
  });
  return { unsettled, etcd: rec(sides[0]), raftkv: rec(sides[1]) };
}
