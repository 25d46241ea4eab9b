/**
 * Where the raft log's logical clock comes from. Production uses {@link intervalTicker};
 * tests pass their own and call the registered callback to advance time deterministically.
 */
export interface Ticker {
  /** Calls `onTick` every `intervalMs` until the returned function is called. */
  every(intervalMs: number, onTick: () => void): () => void;
}

/** A `setInterval` ticker. Unref'd: a log left open must not keep the process alive. */
export const intervalTicker: Ticker = {
  every(intervalMs, onTick) {
    const timer = setInterval(onTick, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};
