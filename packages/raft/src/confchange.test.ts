import { describe, expect, it } from 'vitest';
import { ConfChanger, restoreConfState } from './confchange.js';
import { ConfChangeError } from './errors.js';
import { ProgressTracker } from './tracker.js';
import { ConfChangeType, type ConfChangeSingle, type ConfState } from './types.js';

const add = (id: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId: BigInt(id) });
const learner = (id: number): ConfChangeSingle => ({ type: ConfChangeType.AddLearnerNode, nodeId: BigInt(id) });
const remove = (id: number): ConfChangeSingle => ({ type: ConfChangeType.RemoveNode, nodeId: BigInt(id) });

function tracker(cs: Partial<ConfState>): ProgressTracker {
  const t = new ProgressTracker(4);
  restoreConfState(t, 10, { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, ...cs });
  return t;
}

function apply(t: ProgressTracker, f: (c: ConfChanger) => ReturnType<ConfChanger['simple']>): ConfState {
  const [cfg, prs] = f(new ConfChanger(t, 10));
  t.config = cfg;
  t.progress = prs;
  return t.confState();
}

describe('ConfChanger', () => {
  it('simple changes alter at most one voter', () => {
    const t = tracker({ voters: [1n, 2n, 3n] });
    expect(apply(t, (c) => c.simple([add(4)])).voters).toEqual([1n, 2n, 3n, 4n]);
    expect(() => new ConfChanger(t, 10).simple([add(5), remove(1)])).toThrow(/more than one voter/);
    // Adding a learner and changing one voter is fine.
    expect(apply(t, (c) => c.simple([learner(6), remove(4)]))).toMatchObject({ voters: [1n, 2n, 3n], learners: [6n] });
  });

  it('refuses to remove every voter', () => {
    const t = tracker({ voters: [1n] });
    expect(() => new ConfChanger(t, 10).simple([remove(1)])).toThrow(ConfChangeError);
  });

  it('joint: demoting a voter makes it a learner only when the joint config is left', () => {
    const t = tracker({ voters: [1n, 2n, 3n] });
    const joint = apply(t, (c) => c.enterJoint(true, [learner(3), add(4)]));
    expect(joint).toMatchObject({ voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], learners: [], learnersNext: [3n], autoLeave: true });
    expect(() => new ConfChanger(t, 10).simple([add(5)])).toThrow(/joint/);
    expect(() => new ConfChanger(t, 10).enterJoint(false, [add(5)])).toThrow(/already joint/);
    const left = apply(t, (c) => c.leaveJoint());
    expect(left).toEqual({ voters: [1n, 2n, 4n], votersOutgoing: [], learners: [3n], learnersNext: [], autoLeave: false });
  });

  it('joint: a removed voter keeps its progress until the joint config is left', () => {
    const t = tracker({ voters: [1n, 2n, 3n] });
    apply(t, (c) => c.enterJoint(false, [remove(3)]));
    expect(t.progress.has(3n)).toBe(true);
    apply(t, (c) => c.leaveJoint());
    expect(t.progress.has(3n)).toBe(false);
  });

  it.each([
    [{ voters: [1n, 2n, 3n] }],
    [{ voters: [1n, 2n], learners: [5n] }],
    [{ voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], learnersNext: [3n], autoLeave: true }],
    [{ voters: [4n], votersOutgoing: [1n, 2n, 3n], learners: [7n] }],
  ])('restore reproduces ConfState case %#', (cs) => {
    const t = tracker(cs);
    expect(t.confState()).toEqual(Object.assign({ voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, cs));
  });
});
