import { afterEach, describe, expect, it, vi } from 'vitest';
import { adjustTicksAtBoot } from './election-advance.js';

afterEach(() => vi.useRealTimers());

describe('adjustTicksAtBoot (etcd adjustTicks)', () => {
  it('a lone voter advances to one tick before its election timeout at once, flag or not', () => {
    const advanced: number[] = [];
    adjustTicksAtBoot({ voters: 1, activePeers: () => 0, advanceTicks: (n) => advanced.push(n), electionTicks: 10, enabled: false });
    expect(advanced).toEqual([9]);
  });

  it('with peers, waits until more than one is connected, then advances to two ticks before the timeout', () => {
    vi.useFakeTimers();
    let peers = 0;
    const advanced: number[] = [];
    adjustTicksAtBoot({ voters: 3, activePeers: () => peers, advanceTicks: (n) => advanced.push(n), electionTicks: 10, enabled: true });
    vi.advanceTimersByTime(200);
    peers = 1;
    vi.advanceTimersByTime(200);
    expect(advanced).toEqual([]);
    peers = 2;
    vi.advanceTimersByTime(10);
    expect(advanced).toEqual([8]);
    vi.advanceTimersByTime(1000);
    expect(advanced).toEqual([8]);
  });

  it('gives up after 5 s without peers, and does nothing with the flag off', () => {
    vi.useFakeTimers();
    let peers = 0;
    const advanced: number[] = [];
    adjustTicksAtBoot({ voters: 3, activePeers: () => peers, advanceTicks: (n) => advanced.push(n), electionTicks: 10, enabled: true });
    vi.advanceTimersByTime(5_100);
    peers = 2;
    vi.advanceTimersByTime(1_000);
    adjustTicksAtBoot({ voters: 3, activePeers: () => 2, advanceTicks: (n) => advanced.push(n), electionTicks: 10, enabled: false });
    vi.advanceTimersByTime(1_000);
    expect(advanced).toEqual([]);
  });
});
