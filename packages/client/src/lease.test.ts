// The lost signal of a kept-alive lease fires when the lease's known life ends, not at the next
// renewal attempt: a Mutex or Election holder must learn it lost before anyone else can win.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Pool } from './connection.js';
import { Lease } from './lease.js';

/** A keep-alive stream whose answers the test sends by hand. */
class FakeKeepAliveCall extends EventEmitter {
  readonly written: bigint[] = [];
  write(req: { ID: bigint }): void { this.written.push(req.ID); }
  cancel(): void { this.emit('end'); }
  answer(ttl: bigint): void { this.emit('data', { ID: 1n, TTL: ttl }); }
}

function fakePool(call: FakeKeepAliveCall): Pool {
  const closed = new AbortController();
  return {
    authenticated: async () => undefined,
    bidi: () => ({ address: 'fake:1', call }),
    failover: () => undefined,
    isClosed: false,
    closeSignal: closed.signal,
  } as unknown as Pool;
}

afterEach(() => vi.useRealTimers());

describe('Lease keep-alive', () => {
  it('is lost exactly when the TTL after the last answered renewal\'s send time runs out', async () => {
    vi.useFakeTimers({ now: 0 });
    const call = new FakeKeepAliveCall();
    const lease = new Lease(fakePool(call), 1n, 3n, true);
    await vi.advanceTimersByTimeAsync(0);
    expect(call.written).toHaveLength(1); // the first renewal, sent at 0
    await vi.advanceTimersByTimeAsync(900);
    call.answer(3n); // answered late: the lease lives until 0 + 3 s, whatever the answer's delay
    await vi.advanceTimersByTimeAsync(3000 - 900 - 1);
    expect(lease.isLost).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.isLost).toBe(true); // at 3000, not at the next attempt (1900 + 1000 + 1000 = 3900)
    expect((await lease.lost).message).toMatch(/no renewal succeeded within its TTL/);
  });

  it('a renewal answered in time keeps it', async () => {
    vi.useFakeTimers({ now: 0 });
    const call = new FakeKeepAliveCall();
    const lease = new Lease(fakePool(call), 1n, 3n, true);
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(10);
      call.answer(3n);
      await vi.advanceTimersByTimeAsync(990);
    }
    expect(lease.isLost).toBe(false);
    expect(lease.keepAlives).toBe(5);
    lease.release();
  });
});
