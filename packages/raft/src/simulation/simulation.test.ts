import { describe, expect, it } from 'vitest';
import { Simulator, optionsForSeed, runSeed } from './simulator.js';

// Seeds that once failed, with what they found, and canary seeds that a
// deliberately broken raft (mutation) fails on. Each must keep passing.
const REGRESSIONS: Array<[number, string]> = [
  [6, 'bootstrap learner treated as removed while replaying the first conf changes (simulator bug)'],
  [16, 'explicit joint config never left after faults stopped (simulator liveness driver)'],
  [1_000_970, 'crash after persisting a snapshot but before the hard state: restart rejected commit < snapshot index'],
  [1387, 'canary: fails if a leader counts its own entries before they are durable'],
  [2617, 'canary: fails if a leader counts its own entries before they are durable'],
  [2647, 'canary: fails if a leader counts its own entries before they are durable'],
  [15_196, 'learner with a higher term ignored the stale leader forever (no pre-vote/check-quorum): stalled'],
  [18_925, 'joining member that raised its term on a vote request ignored the leader forever: stalled'],
  [36_380, 'snapshot restored while a Ready with a leave-joint entry was being applied: config changed under it'],
  [72, 'snapshot dropped by a partition in flight was never reported, follower stuck in snapshot state'],
];

describe('deterministic simulation', () => {
  it('the same seed replays the same run', () => {
    const a: string[] = [];
    const b: string[] = [];
    runSeed(12345, (l) => a.push(l));
    runSeed(12345, (l) => b.push(l));
    expect(a.length).toBeGreaterThan(10);
    expect(b).toEqual(a);
  });

  it.each(REGRESSIONS)('regression seed %i (%s)', (seed) => {
    const res = runSeed(seed);
    expect(res.failure).toBeUndefined();
    expect(res.ok).toBe(true);
  });

  it('covers 3, 5 and 7 voters, learners, pre-vote and check-quorum across seeds', () => {
    const sizes = new Set<number>();
    let learners = 0;
    let preVote = 0;
    let checkQuorum = 0;
    for (let s = 1; s <= 200; s++) {
      const o = optionsForSeed(s);
      sizes.add(o.voters);
      if (o.learners > 0) learners++;
      if (o.preVote) preVote++;
      if (o.checkQuorum) checkQuorum++;
    }
    expect([...sizes].sort()).toEqual([3, 5, 7]);
    expect(learners).toBeGreaterThan(20);
    expect(preVote).toBeGreaterThan(50);
    expect(checkQuorum).toBeGreaterThan(50);
  });

  it('a broken checker would be noticed: a run with faults and proposals commits entries and elects leaders', () => {
    const res = new Simulator({ ...optionsForSeed(3), chaosTicks: 200 }).run();
    expect(res.ok).toBe(true);
    expect(res.committed).toBeGreaterThan(20);
    expect(res.leaders).toBeGreaterThanOrEqual(1);
  });

  const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 2000);
  it(`${SEEDS} random seeds keep every safety invariant and recover after faults stop`, () => {
    const failures: string[] = [];
    for (let seed = 1_000_000; seed < 1_000_000 + SEEDS; seed++) {
      const res = runSeed(seed);
      if (!res.ok) failures.push(`seed ${seed}: ${res.failure}`);
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
