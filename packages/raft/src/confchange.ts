import { ConfChangeError } from './errors.js';
import {
  cloneTrackerConfig,
  isJoint,
  newProgress,
  type ProgressMap,
  type ProgressTracker,
  type TrackerConfig,
} from './tracker.js';
import { ConfChangeType, type ConfChangeSingle, type ConfState } from './types.js';

/**
 * Computes a new membership from the current one and a change, without
 * touching the tracker: the caller switches to the result. Every method
 * throws `ConfChangeError` if the change is not allowed.
 */
export class ConfChanger {
  constructor(
    private readonly tracker: ProgressTracker,
    /** New members start probing from here. */
    private readonly lastIndex: number,
  ) {}

  /** Enter a joint config: outgoing = current voters, incoming = current voters with `ccs` applied. */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError('config is already joint');
    if (cfg.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    cfg.outgoing = new Set(cfg.incoming);
    this.apply(cfg, prs, ccs);
    cfg.autoLeave = autoLeave;
    return this.checkAndReturn(cfg, prs);
  }

  /** Leave the joint config: drop the outgoing voters, demote learnersNext to learners. */
  leaveJoint(): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (!isJoint(cfg)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of cfg.learnersNext) {
      cfg.learners.add(id);
      prs.get(id)!.isLearner = true;
    }
    cfg.learnersNext = new Set();
    for (const id of cfg.outgoing) {
      if (!cfg.incoming.has(id) && !cfg.learners.has(id)) prs.delete(id);
    }
    cfg.outgoing = new Set();
    cfg.autoLeave = false;
    return this.checkAndReturn(cfg, prs);
  }

  /** A change that alters at most one voter, applied in one step (no joint config). */
  simple(ccs: readonly ConfChangeSingle[]): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(cfg, prs, ccs);
    let changed = 0;
    for (const id of this.tracker.config.incoming) if (!cfg.incoming.has(id)) changed++;
    for (const id of cfg.incoming) if (!this.tracker.config.incoming.has(id)) changed++;
    if (changed > 1) throw new ConfChangeError('more than one voter changed without entering joint config');
    return this.checkAndReturn(cfg, prs);
  }

  private apply(cfg: TrackerConfig, prs: ProgressMap, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // ID 0 carries no change (etcd does the same); it lets an entry be a no-op.
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.makeLearner(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.remove(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.UpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf change type ${String(cc.type)}`);
      }
    }
    if (cfg.incoming.size === 0) throw new ConfChangeError('removed all voters');
  }

  private makeVoter(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (!pr) {
      this.initProgress(cfg, prs, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    cfg.incoming.add(id);
  }

  private makeLearner(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (!pr) {
      this.initProgress(cfg, prs, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop it as a voter but keep its progress.
    this.remove(cfg, prs, id);
    prs.set(id, pr);
    // A voter of the outgoing config cannot be a learner until the joint config is left.
    if (cfg.outgoing.has(id)) {
      cfg.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      cfg.learners.add(id);
    }
  }

  private remove(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    if (!prs.has(id)) return;
    cfg.incoming.delete(id);
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    // Still a voter of the outgoing config: keep its progress until we leave joint.
    if (!cfg.outgoing.has(id)) prs.delete(id);
  }

  private initProgress(cfg: TrackerConfig, prs: ProgressMap, id: bigint, isLearner: boolean): void {
    if (isLearner) cfg.learners.add(id);
    else cfg.incoming.add(id);
    const pr = newProgress(Math.max(this.lastIndex, 1), this.tracker.maxInflight, isLearner);
    // Treat a new member as active so check-quorum does not step down right after adding it.
    pr.recentActive = true;
    prs.set(id, pr);
  }

  private checkAndCopy(): [TrackerConfig, ProgressMap] {
    const cfg = cloneTrackerConfig(this.tracker.config);
    const prs: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) prs.set(id, pr.clone());
    checkInvariants(cfg, prs);
    return [cfg, prs];
  }

  private checkAndReturn(cfg: TrackerConfig, prs: ProgressMap): [TrackerConfig, ProgressMap] {
    checkInvariants(cfg, prs);
    return [cfg, prs];
  }
}

function checkInvariants(cfg: TrackerConfig, prs: ProgressMap): void {
  for (const set of [cfg.incoming, cfg.outgoing, cfg.learners, cfg.learnersNext]) {
    for (const id of set) if (!prs.has(id)) throw new ConfChangeError(`no progress for ${id}`);
  }
  for (const id of cfg.learnersNext) {
    if (!cfg.outgoing.has(id)) throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    if (prs.get(id)!.isLearner) throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
  }
  for (const id of cfg.learners) {
    if (cfg.outgoing.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    if (cfg.incoming.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    if (!prs.get(id)!.isLearner) throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
  }
  if (!isJoint(cfg)) {
    if (cfg.learnersNext.size > 0) throw new ConfChangeError('cfg.LearnersNext must be empty when not joint');
    if (cfg.autoLeave) throw new ConfChangeError('AutoLeave must be false when not joint');
  }
}

/**
 * Rebuild the tracker's config from a ConfState (at start-up or after a
 * snapshot) by replaying it as a sequence of changes from an empty config.
 */
export function restoreConfState(tracker: ProgressTracker, lastIndex: number, cs: ConfState): [TrackerConfig, ProgressMap] {
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((id) => ({ type: ConfChangeType.AddNode, nodeId: id }));
  const incoming: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((id) => ({ type: ConfChangeType.RemoveNode, nodeId: id })),
    ...cs.voters.map((id) => ({ type: ConfChangeType.AddNode, nodeId: id })),
    ...cs.learners.map((id) => ({ type: ConfChangeType.AddLearnerNode, nodeId: id })),
    ...cs.learnersNext.map((id) => ({ type: ConfChangeType.AddLearnerNode, nodeId: id })),
  ];
  const step = (f: (c: ConfChanger) => [TrackerConfig, ProgressMap]): void => {
    const [cfg, prs] = f(new ConfChanger(tracker, lastIndex));
    tracker.config = cfg;
    tracker.progress = prs;
  };
  if (outgoing.length === 0) {
    // Only voters and learners: add them one at a time. An empty ConfState stays empty.
    for (const cc of incoming) {
      // A change that adds the first voter is allowed even though intermediate configs have none.
      const [cfg, prs] = simpleAllowEmpty(tracker, lastIndex, cc);
      tracker.config = cfg;
      tracker.progress = prs;
    }
  } else {
    for (const cc of outgoing) step((c) => c.simple([cc]));
    step((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  return [tracker.config, tracker.progress];
}

/** Like `simple`, but tolerates zero voters (a learner added before any voter while restoring). */
function simpleAllowEmpty(tracker: ProgressTracker, lastIndex: number, cc: ConfChangeSingle): [TrackerConfig, ProgressMap] {
  try {
    return new ConfChanger(tracker, lastIndex).simple([cc]);
  } catch (e) {
    if (!(e instanceof ConfChangeError) || e.message !== 'removed all voters') throw e;
    const cfg = cloneTrackerConfig(tracker.config);
    const prs: ProgressMap = new Map(tracker.progress);
    cfg.learners.add(cc.nodeId);
    const pr = newProgress(Math.max(lastIndex, 1), tracker.maxInflight, true);
    pr.recentActive = true;
    prs.set(cc.nodeId, pr);
    return [cfg, prs];
  }
}
