// A fuzz batch's items: generated from its seed alone, so `--seed S --batches 1` replays one batch.
import fc from 'fast-check';
import { mutationArb, requestArb, type FuzzRequest, type Mutation } from './generate.js';
import { h2ScriptArb, type H2Script } from './h2.js';
import { NEVER_MUTATED } from './methods.js';
import { peerCallArb, rawPeerCallArb, type PeerCall } from './peer.js';
import { streamScriptArb, type StreamScript } from './streams.js';

export type Item =
  | { kind: 'unary'; request: FuzzRequest; member: number }
  | { kind: 'mutated'; request: FuzzRequest; mutations: Mutation[]; member: number }
  | { kind: 'stream'; script: StreamScript; member: number }
  | { kind: 'h2'; listener: 'client' | 'peer'; script: H2Script; member: number }
  | { kind: 'peer'; call: PeerCall; member: number };

/** Item kinds, and `rawPeer`: peer items that are raw peer streams (off by default, so older seeds replay as they were). */
export type MixKey = Item['kind'] | 'rawPeer';

const DEFAULT_MIX: Record<MixKey, number> = { unary: 80, mutated: 12, stream: 3, h2: 3, peer: 2, rawPeer: 0 };

function batchArb(size: number, mix: Record<MixKey, number>): fc.Arbitrary<Item[]> {
  const member = fc.nat(1000);
  const mutatable = requestArb().filter((r) => !NEVER_MUTATED.has(r.method));
  const item = fc.oneof(
    { weight: mix.unary, arbitrary: fc.record({ kind: fc.constant('unary' as const), request: requestArb(), member }) },
    { weight: mix.mutated, arbitrary: fc.record({ kind: fc.constant('mutated' as const), request: mutatable, mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }), member }) },
    { weight: mix.stream, arbitrary: fc.record({ kind: fc.constant('stream' as const), script: streamScriptArb, member }) },
    { weight: mix.h2, arbitrary: fc.record({ kind: fc.constant('h2' as const), listener: fc.constantFrom('client' as const, 'peer' as const), script: h2ScriptArb, member }) },
    { weight: mix.peer, arbitrary: fc.record({ kind: fc.constant('peer' as const), call: peerCallArb, member }) },
    ...(mix.rawPeer > 0 ? [{ weight: mix.rawPeer, arbitrary: fc.record({ kind: fc.constant('peer' as const), call: rawPeerCallArb, member }) }] : []),
  );
  return fc.array(item, { minLength: size, maxLength: size });
}

/** The items of one batch: a pure function of the seed. */
export function generateBatch(seed: number, size: number, mix: Partial<Record<MixKey, number>> = {}): Item[] {
  const [items] = fc.sample(batchArb(size, { ...DEFAULT_MIX, ...mix }), { seed, numRuns: 1 });
  return items!;
}
