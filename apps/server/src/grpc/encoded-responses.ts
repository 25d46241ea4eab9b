/** Marks a Buffer of complete gRPC frames: the patched grpc-js (patches/) writes it as it is. */
const FRAMED = Symbol.for('raftkv.grpc.framed');
/** How many messages a marked Buffer holds (for grpc_server_msg_sent_total). */
const FRAMED_COUNT = Symbol('raftkv.grpc.framed.count');
type Framed = Buffer & { [FRAMED]?: boolean; [FRAMED_COUNT]?: number };

/** gRPC's frame prefix: a compressed flag byte and a 4-byte big-endian length. */
export const FRAME_PREFIX_BYTES = 5;

/**
 * Marks `frames` (`messages` gRPC messages, each with its frame prefix) to be written unchanged:
 * grpc-js would otherwise allocate a second buffer for the prefix and copy the message into it.
 */
export function markFramed(frames: Buffer, messages: number): Buffer {
  (frames as Framed)[FRAMED] = true;
  (frames as Framed)[FRAMED_COUNT] = messages;
  return frames;
}

/** Whether `write` carries its own frame prefixes (see {@link markFramed}). */
export function isFramed(write: Buffer): boolean {
  return (write as Framed)[FRAMED] === true;
}

/** How many gRPC messages a response handed to grpc-js carries: 1, or the count of a framed write. */
export function messagesInWrite(message: unknown): number {
  return Buffer.isBuffer(message) ? ((message as Framed)[FRAMED_COUNT] ?? 1) : 1;
}

/**
 * A method definition whose serializer passes a Buffer through as it is: the handler encoded the
 * response itself (by hand, or on a worker) where the generated encoder cost too much. Anything
 * else goes through the method's own serializer.
 */
export function passingEncoded<M extends { responseSerialize: (value: never) => Buffer }>(
  method: M,
): Omit<M, 'responseSerialize'> & { responseSerialize: (value: Parameters<M['responseSerialize']>[0] | Buffer) => Buffer } {
  const encode = method.responseSerialize as (value: Parameters<M['responseSerialize']>[0]) => Buffer;
  return { ...method, responseSerialize: (value) => (Buffer.isBuffer(value) ? value : encode(value)) };
}
