// The two servers every client test runs against: the built raftkv and the reference etcd 3.4.
import { startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

export type Kind = 'raftkv' | 'etcd';
export const KINDS: Kind[] = ['raftkv', 'etcd'];

export function startOne(kind: Kind): Promise<ServerProcess> {
  return kind === 'raftkv' ? startRaftkv() : startEtcd();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `attempt` until it returns a value (errors count as "not yet"); throws after `limitMs`. */
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
    await sleep(100);
  }
}
