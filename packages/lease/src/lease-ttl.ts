/**
 * The largest TTL, in seconds, a lease may be granted (etcd's `MaxLeaseTTL`, about 285 years).
 * `grant` above it throws `LeaseTTLTooLargeError`.
 */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/**
 * etcd's minimum lease TTL: a lease must outlive one leader election, or a leader change
 * would expire every short lease before the new leader can accept keepalives. etcd computes
 * `ceil(((3 * electionTicks) / 2) * heartbeat)` with integer division on the ticks; so do we.
 * With etcd's defaults (10 ticks, 100 ms) this is 2 seconds.
 *
 * @throws RangeError when an argument is not a positive safe integer.
 */
export function minLeaseTtlSeconds(electionTicks: number, heartbeatIntervalMs: number): number {
  if (!Number.isSafeInteger(electionTicks) || electionTicks < 1) {
    throw new RangeError(`electionTicks must be a positive integer, got ${electionTicks}`);
  }
  if (!Number.isSafeInteger(heartbeatIntervalMs) || heartbeatIntervalMs < 1) {
    throw new RangeError(`heartbeatIntervalMs must be a positive integer, got ${heartbeatIntervalMs}`);
  }
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs) / 1000);
}
