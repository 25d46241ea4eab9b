/**
 * Reconnect backoff: doubles from `initialMs` to `maxMs`, each delay jittered into
 * [delay/2, delay) with the injected `random`, so members that lost the same peer do not
 * redial it in lockstep. `reset()` after a stream is accepted.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number,
  ) {
    if (!(initialMs > 0 && maxMs >= initialMs)) throw new RangeError(`backoff: need 0 < initialMs <= maxMs, got ${initialMs}, ${maxMs}`);
  }

  /** The next delay in ms; each call doubles the base until it reaches the maximum. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.floor(base / 2 + (base / 2) * this.random()));
  }

  /** The largest delay: used when retrying soon cannot help (another cluster's member). */
  max(): number {
    this.attempt = 31;
    return this.next();
  }

  reset(): void {
    this.attempt = 0;
  }
}
