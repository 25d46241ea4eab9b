/**
 * The frame: one gRPC message on the `raftkvpb.Peer/Stream` call, carrying a batch of raft
 * messages (each already encoded by `@raftkv/raft`'s `encodeMessage`).
 *
 * Layout, all integers unsigned 32-bit big-endian:
 *
 * ```
 * [count] ([length] [length bytes]) × count
 * ```
 *
 * The frame is exactly that long: a decoder refuses trailing bytes, a length that runs past the
 * end, and a count that cannot fit in the frame, so a corrupt frame fails loudly instead of
 * yielding a half-right batch.
 */

/** Bytes of the count header and of each length prefix. */
export const FRAME_HEADER_BYTES = 4;
export const FRAME_LENGTH_PREFIX_BYTES = 4;

/** Thrown by {@link decodeFrame} for bytes that are not a well-formed frame. */
export class FrameError extends Error {
  override name = 'FrameError';
}

/** Bytes a frame holding messages of these sizes takes on the wire. */
export function frameBytes(messageBytes: number, messages: number): number {
  return FRAME_HEADER_BYTES + messages * FRAME_LENGTH_PREFIX_BYTES + messageBytes;
}

/**
 * Encodes `msgs` as one frame. The messages are copied; the caller may reuse them. With
 * `headroomBytes`, the frame starts that many (unwritten) bytes into the buffer: room for a
 * transport's own prefix without a second copy.
 */
export function encodeFrame(msgs: readonly Uint8Array[], headroomBytes = 0): Buffer {
  let total = 0;
  for (const m of msgs) total += m.byteLength;
  const out = Buffer.allocUnsafe(headroomBytes + frameBytes(total, msgs.length));
  let off = out.writeUInt32BE(msgs.length, headroomBytes);
  for (const m of msgs) {
    off = out.writeUInt32BE(m.byteLength, off);
    out.set(m, off);
    off += m.byteLength;
  }
  if (off !== out.byteLength) throw new Error(`frame: wrote ${off} of ${out.byteLength} bytes`);
  return out;
}

/**
 * Decodes a frame into its messages (views into `frame`, not copies).
 *
 * @throws FrameError when the frame is malformed or holds more than `maxMessages` messages.
 */
export function decodeFrame(frame: Uint8Array, maxMessages: number): Uint8Array[] {
  if (frame.byteLength < FRAME_HEADER_BYTES) throw new FrameError(`frame: ${frame.byteLength} bytes, shorter than its header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = view.getUint32(0);
  if (count > maxMessages) throw new FrameError(`frame: ${count} messages, more than the limit ${maxMessages}`);
  if (count * FRAME_LENGTH_PREFIX_BYTES > frame.byteLength - FRAME_HEADER_BYTES) {
    throw new FrameError(`frame: ${count} messages cannot fit in ${frame.byteLength} bytes`);
  }
  const msgs: Uint8Array[] = new Array<Uint8Array>(count);
  let off = FRAME_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (off + FRAME_LENGTH_PREFIX_BYTES > frame.byteLength) throw new FrameError(`frame: message ${i} length prefix truncated`);
    const len = view.getUint32(off);
    off += FRAME_LENGTH_PREFIX_BYTES;
    if (len > frame.byteLength - off) throw new FrameError(`frame: message ${i} of ${len} bytes runs past the end`);
    msgs[i] = frame.subarray(off, off + len);
    off += len;
  }
  if (off !== frame.byteLength) throw new FrameError(`frame: ${frame.byteLength - off} trailing bytes`);
  return msgs;
}
