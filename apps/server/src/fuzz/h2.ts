// Raw HTTP/2 at a listener: the connection preface, then generated or malformed frames, over a
// plain TCP socket. Nothing here expects an answer; the runner checks the server afterwards.
import fc from 'fast-check';
import { connect as tcpConnect } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;

/** One frame: the 9-byte header (with `length` possibly lying about the payload) and the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer, length = payload.length): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length & 0xffffff, 0, 3);
  h.writeUInt8(type & 0xff, 3);
  h.writeUInt8(flags & 0xff, 4);
  h.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let v = value - max;
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

/** A header block of literal fields without indexing, new names (no Huffman): valid HPACK. */
export function hpackLiterals(headers: readonly [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

/** A gRPC message: the 5-byte prefix (compressed flag, length that may lie) and the bytes. */
export function grpcMessage(body: Buffer, length = body.length, compressed = 0): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt8(compressed, 0);
  h.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([h, body]);
}

export function grpcRequestHeaders(path: string, authority: string, extra: [string, string][] = []): Buffer {
  return hpackLiterals([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', authority],
    ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra]);
}

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));
const u32 = fc.constantFrom(0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xffffffff, 16_383, 16_384, 65_535, 65_536, 16_777_215, 16_777_216);
const streamId = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 0x7fffffff, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const anyFlags = fc.integer({ min: 0, max: 255 });

/** A piece of what the fuzzer writes after the preface: ready bytes, or an instruction. */
export type H2Piece = { bytes: Buffer } | { pauseMs: number };

const paths = ['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Put', '/etcdserverpb.Watch/Watch', '/etcdserverpb.Lease/LeaseKeepAlive',
  '/raftkvpb.Peer/Stream', '/raftkvpb.Peer/Snapshot', '/raftkvpb.Member/Members', '/nope', '', '*'];

const headerBlock = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...paths), fc.array(fc.tuple(fc.constantFrom('x', 'content-type', 'grpc-timeout', 'te', ':path', ':status', 'grpc-encoding', 'raftkv-cluster-id', 'a'.repeat(70_000)), fc.constantFrom('', 'application/grpc', '1n', '99999999H', 'gzip', 'zz', 'v'.repeat(5000))), { maxLength: 3 }))
    .map(([p, extra]) => grpcRequestHeaders(p, '127.0.0.1', extra)) },
  { weight: 2, arbitrary: bytes(64) },
  // Dynamic table size updates, indexed fields past the table, and huge string lengths.
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0x0f]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
    Buffer.from([0xbe]), Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xff, 0x0f, 0x61]), Buffer.from([0x20, 0x3f, 0xe1, 0x1f]),
    Buffer.from([0x00, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])) },
);

const oneFrame: fc.Arbitrary<H2Piece[]> = fc.oneof(
  fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), u32), { maxLength: 6 }).chain((params) => anyFlags.map((flags) => {
    const p = Buffer.alloc(params.length * 6);
    params.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v >>> 0, i * 6 + 2); });
    return [{ bytes: frame(FrameType.SETTINGS, flags & 1, 0, p) }];
  })),
  fc.tuple(streamId, anyFlags, headerBlock).map(([id, flags, block]) => [{ bytes: frame(FrameType.HEADERS, flags, id, block) }]),
  // A well-formed request stream, then a gRPC message whose prefix may lie about its length.
  fc.tuple(fc.constantFrom(1, 3, 5), fc.constantFrom(...paths), bytes(40), fc.constantFrom(undefined, 0, 1, 0xffffffff, 4 * 1024 * 1024), fc.constantFrom(0, 1, 2), fc.boolean())
    .map(([id, p, body, len, compressed, end]) => [
      { bytes: frame(FrameType.HEADERS, 0x4, id, grpcRequestHeaders(p, '127.0.0.1')) },
      { bytes: frame(FrameType.DATA, end ? 1 : 0, id, grpcMessage(body, len ?? body.length, compressed)) },
    ]),
  fc.tuple(streamId, anyFlags, bytes(64)).map(([id, flags, p]) => [{ bytes: frame(FrameType.DATA, flags, id, p) }]),
  fc.tuple(streamId, fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff)).map(([id, inc]) => {
    const p = Buffer.alloc(4); p.writeUInt32BE(inc >>> 0); return [{ bytes: frame(FrameType.WINDOW_UPDATE, 0, id, p) }];
  }),
  fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean(), fc.constantFrom(0, 1)).map(([n, ack, id]) =>
    [{ bytes: Buffer.concat(Array.from({ length: n }, () => frame(FrameType.PING, ack ? 1 : 0, id, Buffer.alloc(8)))) }]),
  fc.tuple(fc.integer({ min: 1, max: 3000 }), streamId).map(([n, id]) =>
    [{ bytes: Buffer.concat(Array.from({ length: n }, (_, i) => frame(FrameType.RST_STREAM, 0, (id + 2 * i) >>> 0, Buffer.from([0, 0, 0, 8])))) }]),
  fc.tuple(streamId, anyFlags, bytes(32)).map(([id, flags, p]) => [{ bytes: frame(FrameType.CONTINUATION, flags, id, p) }]),
  // HEADERS without END_HEADERS, then something other than its CONTINUATION.
  fc.tuple(fc.constantFrom(1, 3), bytes(16)).map(([id, p]) => [
    { bytes: frame(FrameType.HEADERS, 0, id, grpcRequestHeaders('/etcdserverpb.KV/Range', '127.0.0.1')) },
    { bytes: frame(FrameType.DATA, 0, id, p) },
  ]),
  // A long chain of CONTINUATIONs (header block growing without bound).
  fc.integer({ min: 10, max: 2000 }).map((n) => [
    { bytes: frame(FrameType.HEADERS, 0, 1, grpcRequestHeaders('/etcdserverpb.KV/Range', '127.0.0.1')) },
    { bytes: Buffer.concat(Array.from({ length: n }, () => frame(FrameType.CONTINUATION, 0, 1, hpackLiterals([['x-pad', 'p'.repeat(200)]])))) },
  ]),
  fc.tuple(fc.integer({ min: 0, max: 255 }), anyFlags, streamId, bytes(32)).map(([t, f, id, p]) => [{ bytes: frame(t, f, id, p) }]),
  fc.tuple(streamId, bytes(16)).map(([id, p]) => [{ bytes: frame(FrameType.PRIORITY, 0, id, p) }]),
  fc.tuple(streamId, bytes(16)).map(([id, p]) => [{ bytes: frame(FrameType.PUSH_PROMISE, 4, id, p) }]),
  fc.tuple(streamId, bytes(16)).map(([id, p]) => [{ bytes: frame(FrameType.GOAWAY, 0, id, p) }]),
  // A length field far past the frame size limit, with only part of the payload.
  fc.tuple(fc.integer({ min: 0, max: 9 }), fc.constantFrom(16_385, 1 << 20, 16_777_215), bytes(100)).map(([t, len, p]) => [{ bytes: frame(t, 0, 1, p, len) }]),
  bytes(200).map((b) => [{ bytes: b }]),
  fc.integer({ min: 1, max: 50 }).map((pauseMs) => [{ pauseMs }]),
);

export interface H2Script {
  readonly preface: 'valid' | 'none' | 'mutated';
  readonly pieces: H2Piece[];
  /** Cut the last piece in half before closing. */
  readonly tornTail: boolean;
  readonly close: 'end' | 'destroy' | 'linger';
}

export const h2ScriptArb: fc.Arbitrary<H2Script> = fc.record({
  preface: fc.oneof({ weight: 8, arbitrary: fc.constant('valid' as const) }, { weight: 1, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constant('mutated' as const) }),
  pieces: fc.array(oneFrame, { minLength: 1, maxLength: 8 }).map((a) => a.flat()),
  tornTail: fc.boolean(),
  close: fc.constantFrom('end' as const, 'destroy' as const, 'linger' as const),
});

/** Runs a script against host:port; resolves when the socket is closed (never rejects). */
export function sendH2(endpoint: string, script: H2Script, budgetMs = 2000): Promise<{ received: number; error?: string }> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve) => {
    let received = 0;
    let error: string | undefined;
    const socket = tcpConnect({ host: host!, port: Number(port) });
    const timer = setTimeout(() => socket.destroy(), budgetMs);
    socket.on('data', (d) => { received += d.length; });
    socket.on('error', (e) => { error = e.message; });
    socket.on('close', () => { clearTimeout(timer); resolve({ received, ...(error ? { error } : {}) }); });
    socket.on('connect', async () => {
      try {
        if (script.preface === 'valid') socket.write(PREFACE);
        else if (script.preface === 'mutated') { const p = Buffer.from(PREFACE); p[5] = 0x21; socket.write(p); }
        // The server's SETTINGS usually arrive first; clients do not wait for them, nor do we.
        socket.write(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)));
        const pieces = script.pieces;
        for (let i = 0; i < pieces.length; i++) {
          if (socket.destroyed) break;
          const piece = pieces[i]!;
          if ('pauseMs' in piece) { await new Promise((r) => setTimeout(r, piece.pauseMs)); continue; }
          const last = i === pieces.length - 1;
          socket.write(last && script.tornTail ? piece.bytes.subarray(0, Math.floor(piece.bytes.length / 2)) : piece.bytes);
        }
        if (script.close === 'linger') await new Promise((r) => setTimeout(r, 100));
        if (script.close === 'destroy') socket.destroy(); else socket.end();
      } catch (e) {
        error = (e as Error).message;
        socket.destroy();
      }
    });
  });
}
