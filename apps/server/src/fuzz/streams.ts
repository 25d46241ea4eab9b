// Stream misuse: Watch and LeaseKeepAlive request sequences with half-close, cancel mid-stream,
// floods, mutated messages, and clients that never read.
import fc from 'fast-check';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { anyLease, applyMutations, int64, key, mutationArb, rangeEnd, revision, type Mutation } from './generate.js';

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
export async function runStream(endpoint: string, script: StreamScript, budgetMs = 1500): Promise<StreamResult> {
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
    for (const step of script.steps) {
      if (step.kind === 'pause') { await new Promise((r) => setTimeout(r, step.ms)); continue; }
      const bytes = applyMutations(encodeStreamMessage(script.stream, step.message), step.mutations);
      for (let i = 0; i < step.repeat; i++) {
        if (!call.write(bytes)) await Promise.race([new Promise((r) => call.once('drain', r)), ended, new Promise((r) => setTimeout(r, 200))]);
        if (statusCode !== undefined) break;
      }
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
