const COUNTER_BITS = 8n;
const TIME_BITS = 40n;
const SUFFIX_BITS = TIME_BITS + COUNTER_BITS;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;

/**
 * Unique 64-bit IDs for requests and leases, shaped as etcd's: the member's low 16 bits, then
 * 48 bits that start at (milliseconds since the epoch << 8) and count up. IDs from different
 * members never collide, and a restarted member starts past its earlier IDs unless it made more
 * than 256 per millisecond of its previous life.
 */
export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    this.suffix = (BigInt(nowMs) & ((1n << TIME_BITS) - 1n)) << COUNTER_BITS;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & SUFFIX_MASK;
    return this.prefix | this.suffix;
  }
}
