import { describe, expect, it } from 'vitest';
import { Inflights, Progress, ProgressState } from './progress.js';
import { jointCommitted, jointVoteResult, majorityCommitted, majorityVoteResult, UNBOUNDED_INDEX, VoteResult } from './quorum.js';

const set = (...ids: number[]): Set<bigint> => new Set(ids.map(BigInt));
const acks = (m: Record<number, number>) => (id: bigint) => m[Number(id)];

describe('quorum', () => {
  it.each([
    [[1, 2, 3], { 1: 5, 2: 4, 3: 3 }, 4],
    [[1, 2, 3], { 1: 5 }, 0],
    [[1, 2, 3, 4], { 1: 5, 2: 5, 3: 1, 4: 1 }, 1],
    [[1, 2, 3, 4, 5], { 1: 9, 2: 8, 3: 7, 4: 1, 5: 1 }, 7],
    [[1], { 1: 3 }, 3],
  ])('majorityCommitted(%j, %j) = %i', (voters, m, want) => {
    expect(majorityCommitted(set(...voters), acks(m))).toBe(want);
  });

  it('an empty config does not constrain the commit index; a joint config takes the minimum', () => {
    expect(majorityCommitted(set(), acks({}))).toBe(UNBOUNDED_INDEX);
    expect(jointCommitted(set(1, 2, 3), set(), acks({ 1: 5, 2: 5, 3: 5 }))).toBe(5);
    expect(jointCommitted(set(1, 2, 3), set(3, 4, 5), acks({ 1: 9, 2: 9, 3: 2, 4: 2, 5: 1 }))).toBe(2);
  });

  it.each([
    [[1, 2, 3], { 1: true, 2: true }, VoteResult.Won],
    [[1, 2, 3], { 1: true, 2: false }, VoteResult.Pending],
    [[1, 2, 3], { 1: true, 2: false, 3: false }, VoteResult.Lost],
    [[1, 2, 3, 4], { 1: true, 2: true }, VoteResult.Pending],
    [[], {}, VoteResult.Won],
  ])('majorityVoteResult(%j, %j) = %i', (voters, v, want) => {
    const votes = new Map(Object.entries(v).map(([k, b]) => [BigInt(k), b]));
    expect(majorityVoteResult(set(...voters), votes)).toBe(want);
  });

  it('a joint election needs both majorities', () => {
    const votes = new Map([
      [1n, true],
      [2n, true],
      [4n, false],
      [5n, false],
    ]);
    expect(jointVoteResult(set(1, 2, 3), set(3, 4, 5), votes)).toBe(VoteResult.Lost);
    votes.set(3n, true);
    expect(jointVoteResult(set(1, 2, 3), set(1, 2, 3), votes)).toBe(VoteResult.Won);
  });
});

describe('progress and inflights', () => {
  it('inflights fill up to the limit and free in order', () => {
    const ins = new Inflights(3);
    ins.add(1);
    ins.add(2);
    ins.add(3);
    expect(ins.full()).toBe(true);
    expect(() => ins.add(4)).toThrow();
    ins.freeLE(2);
    expect(ins.count()).toBe(1);
    ins.freeFirstOne();
    expect(ins.count()).toBe(0);
  });

  it.each([
    // state, match, next, rejected, hint -> ok, next
    [ProgressState.Replicate, 5, 10, 4, 0, false, 10],
    [ProgressState.Replicate, 5, 10, 9, 0, true, 6],
    [ProgressState.Probe, 0, 10, 5, 0, false, 10],
    [ProgressState.Probe, 0, 10, 9, 3, true, 4],
    [ProgressState.Probe, 0, 10, 9, 20, true, 9],
    [ProgressState.Probe, 0, 2, 1, 0, true, 1],
  ])('maybeDecrTo in state %i match %i next %i rejected %i hint %i', (state, match, next, rejected, hint, ok, wantNext) => {
    const pr = new Progress(next, new Inflights(4), false);
    pr.state = state;
    pr.match = match;
    expect(pr.maybeDecrTo(rejected, hint)).toBe(ok);
    expect(pr.next).toBe(wantNext);
  });

  it('is paused: probe after one send, replicate when the window is full, always in snapshot', () => {
    const pr = new Progress(1, new Inflights(1), false);
    expect(pr.isPaused()).toBe(false);
    pr.probeSent = true;
    expect(pr.isPaused()).toBe(true);
    pr.becomeReplicate();
    expect(pr.isPaused()).toBe(false);
    pr.inflights.add(1);
    expect(pr.isPaused()).toBe(true);
    pr.becomeSnapshot(10);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(11);
  });
});
