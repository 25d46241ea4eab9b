import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Refusal } from './peer-service.js';
import { decodeHello, encodeStatus, RAW_ACCEPTED, RAW_HELLO_BYTES, RAW_PONG, RecordReader } from './raw-stream.js';

const PONG = Buffer.from([RAW_PONG]);

/** What the receiving side of a raw stream asks of the transport. */
export interface RawInboundHost {
  /** A sender that does not finish its hello within this time is dropped. */
  helloTimeoutMs: number;
  maxFrameBytes: number;
  /** Checks the hello's IDs and admits `stream` as the sender's inbound stream, or refuses. */
  accept(ids: { clusterId: bigint; from: bigint; to: bigint }, stream: { end(): void }): { from: bigint } | Refusal;
  /** A received frame; a refusal ends the stream (a malformed frame). */
  receiveFrame(from: bigint, frame: Buffer): Refusal | undefined;
  /** A record that is no frame (too long, too short): the stream ends. */
  badRecord(from: bigint, error: string): void;
  /** The stream of `from` ended. */
  ended(from: bigint, stream: { end(): void }): void;
}

/** Serves one raw peer stream (see `raw-stream.ts`) on `socket`, whose first bytes are its hello. */
export function serveRawStream(socket: Duplex, host: RawInboundHost): void {
  const deadline = setTimeout(() => socket.destroy(), host.helloTimeoutMs);
  deadline.unref();
  let hello: Buffer | undefined;
  let from: bigint | undefined;
  let reader: RecordReader | undefined;
  const stream = { end: () => void socket.end() };
  const drop = (): void => {
    if (from !== undefined) host.ended(from, stream);
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    if (reader !== undefined) {
      const bad = reader.push(chunk);
      if (bad !== undefined) {
        host.badRecord(from!, bad);
        drop();
      }
      return;
    }
    hello = hello === undefined ? chunk : Buffer.concat([hello, chunk]);
    if (hello.length < RAW_HELLO_BYTES) return;
    clearTimeout(deadline);
    const ids = decodeHello(hello);
    if (ids === undefined) return void socket.destroy();
    const res = host.accept(ids, stream);
    // The sender closes the connection once it has read the refusal.
    if (!('from' in res)) return void socket.end(encodeStatus(res.code, res.details));
    const sender = res.from;
    from = sender;
    socket.write(encodeStatus(RAW_ACCEPTED));
    reader = new RecordReader(host.maxFrameBytes, (frame) => {
      // Nothing after a malformed frame of the same read is taken.
      if (!socket.destroyed && host.receiveFrame(sender, frame) !== undefined) drop();
    }, () => void (socket.destroyed || socket.write(PONG)));
    const rest = hello.subarray(RAW_HELLO_BYTES);
    hello = undefined;
    if (rest.length > 0) socket.emit('data', rest);
  });
  socket.once('close', () => {
    clearTimeout(deadline);
    if (from !== undefined) host.ended(from, stream);
  });
  socket.resume();
}
