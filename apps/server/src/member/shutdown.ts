/** A shutdown step did not finish within the shutdown deadline. */
export class ShutdownTimeoutError extends Error {
  constructor(readonly step: string, deadlineMs: number) {
    super(`raftkv: shutdown did not finish within ${deadlineMs} ms (stuck in "${step}")`);
    this.name = 'ShutdownTimeoutError';
  }
}

interface Step {
  readonly name: string;
  readonly close: () => void | Promise<void>;
}

/**
 * The member's parts in the order they were started, closed in reverse: what was started last
 * (the front door) stops first, the data dir locks go last. A start that fails half-way closes
 * what it had started the same way.
 *
 * A step that throws is reported and the next one still runs (so the locks are released). A
 * step that does not finish by the deadline stops the shutdown there: the steps before it in
 * the stack may still be in use by it (closing the backend under a raft node that is still
 * applying would lose its writes), and the WAL already holds everything acknowledged.
 */
export class ShutdownStack {
  private readonly steps: Step[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly onStepError: (step: string, err: unknown) => void = () => {}) {}

  /** Registers the close of a part that has just started. */
  add(name: string, close: () => void | Promise<void>): void {
    if (this.closing) throw new Error(`raftkv: "${name}" started during shutdown`);
    this.steps.push({ name, close });
  }

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Closes every part, newest first, once (later calls get the same promise). Rejects with
   * {@link ShutdownTimeoutError} naming the stuck step if `deadlineMs` passes, else with the
   * first error a step threw, after every step ran.
   */
  close(deadlineMs: number): Promise<void> {
    this.closing ??= this.run(deadlineMs);
    return this.closing;
  }

  private async run(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let firstError: unknown;
    for (const step of this.steps.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(step.close).then(() => 'done' as const), timedOut]);
        if (outcome === 'timeout') throw new ShutdownTimeoutError(step.name, deadlineMs);
      } catch (err) {
        if (err instanceof ShutdownTimeoutError) throw err;
        this.onStepError(step.name, err);
        firstError ??= err;
      } finally {
        clearTimeout(timer);
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}
