import { describe, expect, it } from 'vitest';
import { EntryType, MemoryStorage, type Entry } from '@raftkv/raft';
import { SnapshotPolicy } from './snapshot-policy.js';

/** A log of entries 1..sizes.length, entry i holding sizes[i-1] data bytes. */
function log(sizes: number[]): MemoryStorage {
  const storage = new MemoryStorage();
  const entries: Entry[] = sizes.map((n, i) => ({ index: i + 1, term: 1, type: EntryType.Normal, data: new Uint8Array(n) }));
  storage.append(entries);
  return storage;
}

describe('SnapshotPolicy', () => {
  it('calls for a snapshot every snapshotCount applied entries', () => {
    const policy = new SnapshotPolicy({ snapshotCount: 10 });
    expect(policy.due(9, 0)).toBe(false);
    expect(policy.due(10, 0)).toBe(true);
    expect(policy.due(19, 10)).toBe(false);
    expect(policy.due(10, 10)).toBe(false);
  });

  it('calls for one once the applied entries hold snapshotBytes, and counts again after reset', () => {
    const policy = new SnapshotPolicy({ snapshotCount: 1000, snapshotBytes: 100 });
    policy.applied(60);
    expect(policy.due(1, 0)).toBe(false);
    policy.applied(40);
    expect(policy.due(2, 0)).toBe(true);
    policy.reset();
    expect(policy.due(3, 2)).toBe(false);
    // Nothing applied beyond the snapshot: never due, whatever the bytes.
    policy.applied(500);
    expect(policy.due(2, 2)).toBe(false);
  });

  it('keeps at most catchUpEntries entries below a snapshot', () => {
    const policy = new SnapshotPolicy({ snapshotCount: 100, snapshotCatchUpEntries: 3 });
    expect(policy.compactionIndex(log(Array(10).fill(1)), 10)).toBe(7);
  });

  it('keeps at most catchUpBytes of data, none when the newest entry alone is larger', () => {
    const policy = new SnapshotPolicy({ snapshotCount: 100, snapshotCatchUpEntries: 100, snapshotCatchUpBytes: 25 });
    expect(policy.compactionIndex(log([10, 10, 10, 10, 10]), 5)).toBe(3);
    expect(policy.compactionIndex(log([10, 10, 10, 10, 30]), 5)).toBe(5);
  });

  it('compacts everything up to the snapshot when no entries are kept', () => {
    const policy = new SnapshotPolicy({ snapshotCount: 100, snapshotCatchUpEntries: 0 });
    expect(policy.compactionIndex(log([1, 1, 1]), 3)).toBe(3);
  });
});
