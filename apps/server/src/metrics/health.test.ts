import { describe, expect, test } from 'vitest';
import { HealthChecker, type HealthSources } from './health.js';

const quiet = { warn: () => undefined };
const never = (): Promise<unknown> => new Promise(() => undefined);

function checker(sources: Partial<HealthSources>, results: boolean[] = [], timeoutMs = 1_000): HealthChecker {
  return new HealthChecker({ leaderId: () => 1n, confirmQuorumRead: () => Promise.resolve(), ...sources }, quiet, (ok) => results.push(ok), timeoutMs);
}

describe('HealthChecker, etcd 3.4 checkHealth in its order', () => {
  test.each([
    ['a leader and a read through raft that completes', {}, [], true],
    ['no leader', { leaderId: () => 0n }, [], false],
    ['an active alarm', { activeAlarms: () => ['NOSPACE'] }, [], false],
    ['an active alarm excluded by ?exclude=', { activeAlarms: () => ['NOSPACE'] }, ['NOSPACE'], true],
    ['one of two alarms excluded', { activeAlarms: () => ['NOSPACE', 'CORRUPT'] }, ['NOSPACE'], false],
    ['the read through raft fails', { confirmQuorumRead: () => Promise.reject(new Error('etcdserver: request timed out')) }, [], false],
  ] as const)('%s', async (_name, sources, excluded, want) => {
    const results: boolean[] = [];
    expect(await checker(sources, results).check(new Set(excluded))).toBe(want);
    // etcd counts each answer in health_success / health_failures.
    expect(results).toEqual([want]);
  });

  test('an alarm or no leader answers without asking raft', async () => {
    let reads = 0;
    const confirmQuorumRead = (): Promise<unknown> => {
      reads++;
      return Promise.resolve();
    };
    expect(await checker({ confirmQuorumRead, leaderId: () => 0n }).check()).toBe(false);
    expect(await checker({ confirmQuorumRead, activeAlarms: () => ['CORRUPT'] }).check()).toBe(false);
    expect(reads).toBe(0);
  });

  test('a read that does not complete within the timeout is unhealthy (a member without quorum)', async () => {
    expect(await checker({ confirmQuorumRead: never }, [], 30).check()).toBe(false);
  });

  test('concurrent checks share one read through raft; the next check asks again', async () => {
    let reads = 0;
    let release!: () => void;
    const confirmQuorumRead = (): Promise<unknown> => {
      reads++;
      return new Promise<void>((resolve) => (release = resolve));
    };
    const h = checker({ confirmQuorumRead });
    const all = Promise.all([h.check(), h.check(), h.check()]);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await all).toEqual([true, true, true]);
    expect(reads).toBe(1);
    const next = h.check();
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await next).toBe(true);
    expect(reads).toBe(2);
  });
});
