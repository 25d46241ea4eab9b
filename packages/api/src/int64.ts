/**
 * Narrows a wire int64/uint64 (decoded as `bigint`) that counts something —
 * a revision, raft term or index, a version, a TTL — to a `number`.
 *
 * Such values stay far below 2^53 in practice; a larger one means a corrupt or hostile
 * peer, so it fails loudly instead of silently losing precision. IDs (member, cluster,
 * lease) are random 64-bit values and must stay `bigint`: do not pass them here.
 *
 * @throws RangeError if `value` is outside `[-(2^53-1), 2^53-1]`; the message names `field`.
 */
export function toSafeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`${field} ${value} is outside the safe integer range`);
  }
  return Number(value);
}
