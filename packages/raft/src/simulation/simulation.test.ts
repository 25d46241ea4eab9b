import { afterEach, describe, expect, it } from 'vitest';
import { Raft } from '../raft.js';
import { Simulator, optionsForSeed, runSeed } from './simulator.js';

/** Seeds on which a leader that counts its own entries before they are durable breaks safety. */
const SELF_ACK_CANARIES = [1387, 2617, 2647];

// Seeds that once failed, with what they found, and the canary seeds (which the mutated raft
// below must fail on). Each must keep passing with the real raft.
const REGRESSIONS: Array<[number, string]> = [
  [6, 'bootstrap learner treated as removed while replaying the first conf changes (simulator bug)'],
  [16, 'explicit joint config never left after faults stopped (simulator liveness driver)'],
  [1_000_970, 'crash after persisting a snapshot but before the hard state: restart rejected commit < snapshot index'],
  ...SELF_ACK_CANARIES.map((seed): [number, string] => [seed, 'canary: fails if a leader counts its own entries before they are durable']),
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

  it('a vacuous run would be noticed: a run with faults and proposals commits entries and elects leaders', () => {
    const res = new Simulator({ ...optionsForSeed(3), chaosTicks: 200 }).run();
    expect(res.ok).toBe(true);
    expect(res.committed).toBeGreaterThan(20);
    expect(res.leaders).toBeGreaterThanOrEqual(1);
  });

  describe('a broken raft is noticed', () => {
    // The mutation: the leader counts entries it appended towards the commit quorum at once,
    // before the caller made them durable (the rule onPersisted() exists for). A crash can then
    // lose an entry the cluster already committed; the checkers must catch it on the canaries.
    type Internals = { appendEntries(es: unknown[]): boolean };
    const proto = Raft.prototype as unknown as Internals;
    const original = proto.appendEntries;
    afterEach(() => { proto.appendEntries = original; });

    it.each(SELF_ACK_CANARIES)('canary seed %i fails when a leader acknowledges its own entries before they are durable', (seed) => {
      proto.appendEntries = function (this: Raft, es: unknown[]): boolean {
        const ok = original.call(this, es);
        const self = this as unknown as { id: bigint; prs: { progress: Map<bigint, { maybeUpdate(i: number): boolean }> };
          raftLog: { lastIndex(): number }; maybeCommit(): boolean };
        if (ok && self.prs.progress.get(self.id)?.maybeUpdate(self.raftLog.lastIndex())) self.maybeCommit();
        return ok;
      };
      const res = runSeed(seed);
      expect(res.ok).toBe(false);
      // The safety checker caught the lost committed entry (not a liveness timeout).
      expect(res.failure).toMatch(/^leader completeness: .* lacks committed entry/);
    });
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
