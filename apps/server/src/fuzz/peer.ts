// Well-formed gRPC calls to a member's peer services (raftkvpb.Peer, raftkvpb.Member) with
// garbage bodies and headers. A peer frame must never crash a member.
import fc from 'fast-check';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { encodeFrame } from '@raftkv/peer-transport';
import { applyMutations, mutationArb, type Mutation } from './generate.js';

/** What the fuzzer knows about the member it calls, to get past the header checks sometimes. */
export interface PeerIds {
  readonly clusterId: bigint;
  readonly self: bigint;
  /** The other members (cluster mode). */
  readonly others: readonly bigint[];
}

type IdRef = 'cluster' | 'self' | 'other' | 'unknown' | 'garbage' | 'missing';

export type PeerCall =
  | { kind: 'member'; method: 'Members' | 'LeaseRenew' | 'LeaseTimeToLive' | 'MemberPromote' | 'Nope'; cluster: IdRef; body: Buffer }
  | { kind: 'stream'; path: 'Stream' | 'Snapshot'; cluster: IdRef; from: IdRef; to: IdRef; messages: Buffer[]; halfClose: boolean };

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
const idRef = (choices: IdRef[]): fc.Arbitrary<IdRef> => fc.constantFrom(...choices);
const rawBytes = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));

const memberBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(json({}), json(null), json([]), json('x'), json({ id: 'zz' }), json({ id: 'ffffffffffffffffff' }), json({ id: 1 }),
    json({ id: '' }), json({ id: '7777777' }), json({ id: '1001', keys: true }), json({ id: '-1' }), json({ id: { a: 1 } }),
    Buffer.from('{"id":"1001"', 'utf8'), Buffer.from('\u0000', 'utf8'), Buffer.alloc(0)),
  rawBytes(64),
);

/** A frame's messages: raw bytes too short or too odd to be a raft message, or a broken frame. */
const streamMessages: fc.Arbitrary<Buffer[]> = fc.array(fc.oneof(
  rawBytes(40),
  fc.array(rawBytes(3), { maxLength: 4 }).map((ms) => encodeFrame(ms)),
  fc.tuple(fc.array(rawBytes(3), { minLength: 1, maxLength: 3 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
    .map(([ms, mut]: [Buffer[], Mutation[]]) => applyMutations(encodeFrame(ms), mut)),
  fc.constantFrom(Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0, 0, 0]), Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
), { maxLength: 5 });

export const peerCallArb: fc.Arbitrary<PeerCall> = fc.oneof(
  fc.record({
    kind: fc.constant('member' as const),
    method: fc.constantFrom('Members' as const, 'LeaseRenew' as const, 'LeaseTimeToLive' as const, 'MemberPromote' as const, 'Nope' as const),
    cluster: idRef(['cluster', 'cluster', 'garbage', 'missing', 'unknown']),
    body: memberBody,
  }),
  fc.record({
    kind: fc.constant('stream' as const),
    path: fc.constantFrom('Stream' as const, 'Snapshot' as const),
    cluster: idRef(['cluster', 'cluster', 'garbage', 'missing']),
    from: idRef(['unknown', 'other', 'other', 'self', 'garbage', 'missing']),
    to: idRef(['self', 'self', 'unknown', 'garbage', 'missing']),
    messages: streamMessages,
    halfClose: fc.boolean(),
  }),
);

function idValue(ref: IdRef, ids: PeerIds): string | undefined {
  switch (ref) {
    case 'cluster': return ids.clusterId.toString(16);
    case 'self': return ids.self.toString(16);
    case 'other': return (ids.others[0] ?? 0xabcdefn).toString(16);
    case 'unknown': return 'abcdef0123';
    case 'garbage': return 'zz-not-hex';
    case 'missing': return undefined;
  }
}

const identity = (b: Buffer): Buffer => b;

/** Sends one call to a peer listener; resolves with the status code (never rejects). */
export async function sendPeerCall(peerEndpoint: string, call: PeerCall, ids: PeerIds, budgetMs = 1500): Promise<number | undefined> {
  const client = new Client(peerEndpoint, credentials.createInsecure());
  const md = new Metadata();
  const set = (name: string, ref: IdRef): void => { const v = idValue(ref, ids); if (v !== undefined) md.set(name, v); };
  try {
    if (call.kind === 'member') {
      set('raftkv-cluster-id', call.cluster);
      return await new Promise((resolve) => {
        client.makeUnaryRequest(`/raftkvpb.Member/${call.method}`, identity, identity, call.body, md, { deadline: Date.now() + budgetMs },
          (err) => resolve(err ? err.code : 0));
      });
    }
    set('raftkv-cluster-id', call.cluster);
    set('raftkv-from', call.from);
    set('raftkv-to', call.to);
    const path = `/raftkvpb.Peer/${call.path}`;
    return await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => { stream.cancel(); }, budgetMs);
      const done = (code: number | undefined): void => { clearTimeout(timer); resolve(code); };
      const stream = call.path === 'Stream'
        ? client.makeBidiStreamRequest(path, identity, identity, md, {})
        : client.makeClientStreamRequest(path, identity, identity, md, {}, (err) => done(err ? err.code : 0));
      stream.on('error', () => undefined);
      stream.on('status', (s: { code: number }) => done(s.code));
      if ('on' in stream && call.path === 'Stream') stream.on('data', () => undefined);
      for (const m of call.messages) stream.write(m);
      if (call.halfClose) stream.end();
      else setTimeout(() => stream.cancel(), 200);
    });
  } finally {
    client.close();
  }
}
