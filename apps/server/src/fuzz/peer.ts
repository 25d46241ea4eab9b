// Well-formed gRPC calls to a member's peer services (raftkvpb.Peer, raftkvpb.Member) with
// garbage bodies and headers. A peer frame must never crash a member.
import fc from 'fast-check';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import net from 'node:net';
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
  | { kind: 'stream'; path: 'Stream' | 'Snapshot'; cluster: IdRef; from: IdRef; to: IdRef; messages: Buffer[]; halfClose: boolean }
  /** The raw peer stream (@raftkv/peer-transport's raw-stream.ts): a hello, then records as bytes, cut into writes anywhere. */
  | { kind: 'raw'; hello: 'good' | 'bad-magic' | 'short'; cluster: IdRef; from: IdRef; to: IdRef; records: Buffer[]; cuts: number[] };

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

/** Records of a raw stream: length-prefixed frames (well-formed, broken, or mutated), pings, and raw bytes. */
const rawRecords: fc.Arbitrary<Buffer[]> = fc.array(fc.oneof(
  streamMessages.map((ms) => Buffer.concat(ms.map((m) => lengthPrefixed(m)))),
  fc.constantFrom(Buffer.alloc(4), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0, 0, 3, 1, 2, 3]), Buffer.from([0x7f, 0, 0, 0])),
  rawBytes(24),
), { maxLength: 6 });

function lengthPrefixed(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

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

/** Raw peer streams: an arbitrary of its own, so the batches of the older seeds stay what they were. */
export const rawPeerCallArb: fc.Arbitrary<PeerCall> = fc.oneof(
  fc.record({
    kind: fc.constant('raw' as const),
    hello: fc.constantFrom('good' as const, 'good' as const, 'good' as const, 'bad-magic' as const, 'short' as const),
    cluster: idRef(['cluster', 'cluster', 'garbage']),
    from: idRef(['unknown', 'other', 'other', 'self', 'garbage']),
    to: idRef(['self', 'self', 'unknown', 'garbage']),
    records: rawRecords,
    cuts: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 4 }),
  }),
);

/** A raw hello's 64-bit ID for a reference ('garbage' and 'missing' are a fixed odd value). */
function rawId(ref: IdRef, ids: PeerIds): bigint {
  const v = idValue(ref, ids);
  return v === undefined || !/^[0-9a-f]+$/.test(v) ? 0xdeadbeefn : BigInt(`0x${v}`);
}

/**
 * Sends one raw stream to a peer listener; resolves with the status the member answered the
 * hello with (0 accepted, else a gRPC code), or undefined when it answered nothing (never rejects).
 */
export async function sendRawPeerStream(peerEndpoint: string, call: Extract<PeerCall, { kind: 'raw' }>, ids: PeerIds, budgetMs = 1500): Promise<number | undefined> {
  const [host, port] = [peerEndpoint.slice(0, peerEndpoint.lastIndexOf(':')), Number(peerEndpoint.slice(peerEndpoint.lastIndexOf(':') + 1))];
  const hello = Buffer.alloc(32);
  hello.write(call.hello === 'bad-magic' ? 'RAFTKVPX' : 'RAFTKVP1', 0, 'latin1');
  hello.writeBigUInt64BE(rawId(call.cluster, ids), 8);
  hello.writeBigUInt64BE(rawId(call.from, ids), 16);
  hello.writeBigUInt64BE(rawId(call.to, ids), 24);
  const bytes = Buffer.concat([call.hello === 'short' ? hello.subarray(0, 20) : hello, ...call.records]);
  return await new Promise<number | undefined>((resolve) => {
    let answer = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer.length > 8 && answer.subarray(0, 8).toString('latin1') === 'RAFTKVP1' ? answer[8] : undefined);
    };
    const timer = setTimeout(done, budgetMs);
    socket.on('data', (d: Buffer) => (answer = Buffer.concat([answer, d])));
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.once('connect', () => {
      // The bytes in writes cut at the given sizes, then the rest: a record may span writes.
      let off = 0;
      for (const c of call.cuts) {
        if (off >= bytes.length) break;
        socket.write(bytes.subarray(off, off + c));
        off += c;
      }
      if (off < bytes.length) socket.write(bytes.subarray(off));
      setTimeout(done, 200);
    });
  });
}

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
  if (call.kind === 'raw') return await sendRawPeerStream(peerEndpoint, call, ids, budgetMs);
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
