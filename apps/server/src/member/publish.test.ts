import { EtcdErrors } from '@raftkv/api';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logger.js';
import type { ServerCore } from '../server-core.js';
import { publishMember } from './publish.js';

const log = createLogger('error');

/** The part of the server core publishing uses: a publish that fails `failures` times first. */
function coreFailing(failures: number): { core: ServerCore; calls: () => number } {
  let calls = 0;
  const core = {
    requestTimeoutMs: 1000,
    self: { id: 1n, name: 'a', peerUrls: [], clientUrls: [] },
    publish: async () => {
      calls++;
      if (calls <= failures) throw EtcdErrors.NoLeader;
    },
  };
  return { core: core as unknown as ServerCore, calls: () => calls };
}

describe('publishMember', () => {
  it('retries until the attributes are applied', async () => {
    const { core, calls } = coreFailing(3);
    await publishMember(core, () => false, log);
    expect(calls()).toBe(4);
  });

  it('gives up once the member is closing', async () => {
    const { core, calls } = coreFailing(Number.POSITIVE_INFINITY);
    let closing = false;
    const publishing = publishMember(core, () => closing, log);
    closing = true;
    await expect(publishing).rejects.toThrow(/stopped before publishing/);
    expect(calls()).toBe(1);
  });

  it('after a "no leader" refusal, retries as soon as a leader is known rather than after the full retry delay', async () => {
    vi.useFakeTimers();
    try {
      const { core, calls } = coreFailing(1);
      let leader = 0n;
      Object.defineProperty(core, 'leaderId', { get: () => leader });
      const publishing = publishMember(core, () => false, log);
      await vi.advanceTimersByTimeAsync(20);
      expect(calls()).toBe(1); // no leader yet: waiting
      leader = 7n;
      await vi.advanceTimersByTimeAsync(10);
      expect(calls()).toBe(2); // 30 ms in, well before the 100 ms retry
      await publishing;
    } finally {
      vi.useRealTimers();
    }
  });
});
