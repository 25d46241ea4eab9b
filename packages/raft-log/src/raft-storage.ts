import {
  MemoryStorage,
  decodeSnapshot,
  encodeEntryHead,
  decodeEntry,
  encodeSnapshot,
  type Entry,
  type HardState,
  type Snapshot,
} from '@raftkv/raft';
import { SnapshotStore, Wal, type WalOptions, type WalRecord } from '@raftkv/wal';
import { forceStandalone, type ForceNewClusterOptions } from './force-new-cluster.js';

/** What start-up recovered from `member/snap` and `member/wal`. */
export interface RecoveredStorage {
  wal: Wal;
  snapshots: SnapshotStore;
  /** Raft's in-memory log: the latest snapshot, then the WAL's entries and hard state. */
  memory: MemoryStorage;
  /** The WAL's metadata (written by `create`, e.g. member and cluster ID). */
  metadata: Uint8Array;
  /** True when the WAL did not exist and was created now: a brand-new member. */
  created: boolean;
  /** The snapshot loaded at start-up (index 0 when there is none). */
  snapshot: Snapshot | undefined;
}

function assertSafe(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`raft-log: ${name} ${v} is not a safe non-negative integer`);
}

/**
 * Opens (or creates) the durable state of a member, as etcd's restartNode/startNode do:
 * the newest snapshot file that verifies, then the WAL read from that snapshot on. Entries
 * are raft's encoding (`encodeEntry`) with term and index repeated in the WAL record; a
 * mismatch between the two is corruption and throws.
 */
export async function openStorage(
  walDir: string,
  snapDir: string,
  metadata: Uint8Array,
  walOptions: WalOptions = {},
  force?: { self: bigint; options: ForceNewClusterOptions },
): Promise<RecoveredStorage> {
  const snapshots = new SnapshotStore(snapDir);
  const memory = new MemoryStorage();
  if (!(await Wal.exists(walDir))) {
    // A snapshot file without a WAL cannot be trusted to belong to this member's log.
    const wal = await Wal.create(walDir, metadata, walOptions);
    return { wal, snapshots, memory, metadata, created: true, snapshot: undefined };
  }
  const loaded = await snapshots.loadLatest();
  let snapshot: Snapshot | undefined;
  if (loaded) {
    snapshot = decodeSnapshot(await loaded.read());
    if (snapshot.metadata.index !== loaded.index || snapshot.metadata.term !== loaded.term) {
      throw new Error(`raft-log: snapshot file ${loaded.path} holds index ${snapshot.metadata.index} term ${snapshot.metadata.term}`);
    }
    memory.applySnapshot(snapshot);
  }
  const { wal, replay } = await Wal.open(walDir, {
    ...walOptions,
    ...(snapshot ? { fromSnapshot: { index: snapshot.metadata.index, term: snapshot.metadata.term } } : {}),
  });
  try {
    let entries: Entry[] = replay.entries.map((r) => {
      const e = decodeEntry(r.data);
      if (e.index !== r.index || e.term !== r.term) {
        throw new Error(`raft-log: WAL record at index ${r.index} term ${r.term} holds entry ${e.index}/${e.term}`);
      }
      return e;
    });
    let hardState: HardState | undefined = replay.hardState;
    if (hardState) {
      assertSafe('commit', hardState.commit);
      assertSafe('term', hardState.term);
    }
    if (force) {
      const r = forceStandalone(force.self, snapshot, entries, hardState, force.options);
      // Durable BEFORE raft starts: the forced entries (overwriting the dropped ones, as raft's
      // truncation does) and a hard state that commits them, in one synced append.
      await wal.append(readyRecords(undefined, r.forced.appended, r.hardState));
      entries = r.entries;
      hardState = r.hardState;
      force.options.onForced?.(r.forced);
    }
    if (hardState) memory.setHardState(hardState);
    memory.append(entries);
  } catch (err) {
    await wal.close();
    throw err;
  }
  return { wal, snapshots, memory, metadata: replay.metadata, created: false, snapshot };
}

/** The WAL records for one Ready: snapshot marker, then entries, then the hard state. */
export function readyRecords(snapshot: Snapshot | undefined, entries: readonly Entry[], hardState: HardState | undefined): WalRecord[] {
  const records: WalRecord[] = [];
  if (snapshot) records.push({ type: 'snapshot', index: snapshot.metadata.index, term: snapshot.metadata.term });
  // encodeEntry(e) in two parts, head and the entry's own data: the WAL copies both into its frame.
  for (const e of entries) records.push({ type: 'entry', term: e.term, index: e.index, head: encodeEntryHead(e), data: e.data });
  if (hardState) records.push({ type: 'hardState', term: hardState.term, vote: hardState.vote, commit: hardState.commit });
  return records;
}

/** Saves a snapshot file: raft's encoded snapshot (metadata with ConfState, and data). */
export function saveSnapshotFile(snapshots: SnapshotStore, snapshot: Snapshot): Promise<void> {
  return snapshots.save({ index: snapshot.metadata.index, term: snapshot.metadata.term }, encodeSnapshot(snapshot));
}
