import {
  ConfChangeType,
  EntryType,
  decodeEntryConfChange,
  encodeConfChange,
  type Entry,
  type HardState,
  type Snapshot,
} from '@raftkv/raft';

/** etcd's `--force-new-cluster`, as {@link RaftLogOptions.forceNewCluster} takes it. */
export interface ForceNewClusterOptions {
  /**
   * An index the state machine has applied (mvcc's consistent index): committed, even where the
   * WAL's hard state lags (a commit-only hard state rides the next synced append).
   */
  appliedIndex: number;
  /** Context of the AddNode entry added for this member when it is not a voter (etcd adds itself then). */
  selfContext: Uint8Array;
  /** Told what was forced, before the log starts (for etcd's log lines). */
  onForced?(forced: ForcedRestart): void;
}

export interface ForcedRestart {
  /** The commit index the forced entries start after. */
  commitIndex: number;
  /** Entries above it dropped (never known committed). */
  discardedEntries: number;
  /** The conf-change entries appended (and committed) after it. */
  appended: Entry[];
  /** Members removed from the configuration. */
  removed: bigint[];
  /** Whether an AddNode of this member was appended first. */
  addedSelf: boolean;
}

/**
 * etcd's restartAsStandaloneNode (etcdserver/raft.go): drop the entries above the commit index,
 * then append — at the last term, as committed — conf changes that make this member the only
 * voter: AddNode of itself first if it is not a voter (a configuration never empties), then
 * RemoveNode of every other member the snapshot and the remaining log name. The data stays;
 * applying those entries updates the membership exactly as a removal through the cluster would,
 * so the log, snapshots and backend stay consistent. Unlike etcd 3.4, learners of the
 * snapshot's configuration are removed too (etcd keeps them: a learner of a one-member cluster
 * that is gone).
 */
export function forceStandalone(
  self: bigint,
  snapshot: Snapshot | undefined,
  entries: readonly Entry[],
  hardState: HardState | undefined,
  opts: ForceNewClusterOptions,
): { entries: Entry[]; hardState: HardState; forced: ForcedRestart } {
  const snapIndex = snapshot?.metadata.index ?? 0;
  const lastIndex = entries.at(-1)?.index ?? snapIndex;
  const commit = Math.min(lastIndex, Math.max(hardState?.commit ?? 0, snapIndex, opts.appliedIndex));
  const kept = entries.filter((e) => e.index <= commit);
  const term = Math.max(hardState?.term ?? 0, entries.at(-1)?.term ?? snapshot?.metadata.term ?? 0);

  const voters = new Set<bigint>(snapshot?.metadata.confState.voters ?? []);
  const learners = new Set<bigint>([
    ...(snapshot?.metadata.confState.learners ?? []), ...(snapshot?.metadata.confState.learnersNext ?? []),
  ]);
  for (const id of snapshot?.metadata.confState.votersOutgoing ?? []) voters.add(id);
  const change = (type: ConfChangeType, id: bigint): void => {
    switch (type) {
      case ConfChangeType.AddNode: voters.add(id); learners.delete(id); break;
      case ConfChangeType.AddLearnerNode: learners.add(id); voters.delete(id); break;
      case ConfChangeType.RemoveNode: voters.delete(id); learners.delete(id); break;
      default: break; // UpdateNode changes no one's role
    }
  };
  for (const e of kept) {
    if (e.type === EntryType.Normal) continue;
    const cc = decodeEntryConfChange(e);
    if (!cc) continue;
    if ('nodeId' in cc) change(cc.type, cc.nodeId);
    else for (const c of cc.changes) change(c.type, c.nodeId);
  }

  const appended: Entry[] = [];
  const append = (type: ConfChangeType, nodeId: bigint, context: Uint8Array): void => {
    appended.push({ term, index: commit + appended.length + 1, type: EntryType.ConfChange, data: encodeConfChange({ type, nodeId, context }) });
  };
  const addedSelf = !voters.has(self);
  if (addedSelf) append(ConfChangeType.AddNode, self, opts.selfContext);
  const removed = [...new Set([...voters, ...learners])].filter((id) => id !== self).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of removed) append(ConfChangeType.RemoveNode, id, new Uint8Array(0));

  const newCommit = appended.at(-1)?.index ?? commit;
  return {
    entries: [...kept, ...appended],
    hardState: { term, vote: hardState?.vote ?? 0n, commit: newCommit },
    forced: { commitIndex: commit, discardedEntries: entries.length - kept.length, appended, removed, addedSelf },
  };
}
