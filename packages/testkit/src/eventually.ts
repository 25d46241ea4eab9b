/**
 * Polls `attempt` every 100 ms until it returns a value (errors count as "not yet"); throws after
 * `limitMs`, naming `what` and the last error. For waiting on a state real processes reach.
 */
export async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, limitMs = 20_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await attempt();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${limitMs} ms (${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
