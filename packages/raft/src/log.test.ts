import { describe, expect, it } from 'vitest';
import { RaftLog } from './log.js';
import { MemoryStorage } from './storage.js';
import type { Entry } from './types.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: 0, data: new Uint8Array() });
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function logWith(terms: number[]): RaftLog {
  const log = new RaftLog(new MemoryStorage(), NO_LIMIT);
  log.append(terms.map((t, i) => ent(i + 1, t)));
  return log;
}

describe('RaftLog', () => {
  it.each([
    ['no conflict, all present', [ent(1, 1), ent(2, 2)], 0],
    ['new entries past the end', [ent(3, 3), ent(4, 4)], 4],
    ['conflict in the middle', [ent(2, 1), ent(3, 4)], 2],
    ['conflict at the first', [ent(1, 4)], 1],
  ])('findConflict: %s', (_n, ents, want) => {
    const log = logWith([1, 2, 3]);
    expect(log.findConflict(ents)).toBe(want);
  });

  it.each([
    // [index, term] -> largest index <= index whose term <= term
    [5, 2, 3],
    [5, 5, 5],
    [5, 0, 0],
    [2, 3, 2],
    [9, 1, 9],
  ])('findConflictByTerm(%i, %i) = %i on terms [1,1,2,4,5]', (index, term, want) => {
    const log = logWith([1, 1, 2, 4, 5]);
    expect(log.findConflictByTerm(index, term)).toBe(want);
  });

  it('maybeAppend rejects a mismatching previous entry and truncates a conflicting tail', () => {
    const log = logWith([1, 1, 1]);
    expect(log.maybeAppend(3, 2, 0, [ent(4, 2)])).toBeUndefined();
    expect(log.maybeAppend(1, 1, 2, [ent(2, 3)])).toBe(2);
    expect(log.lastIndex()).toBe(2);
    expect(log.committed).toBe(2);
  });

  it('maybeAppend never truncates committed entries', () => {
    const log = logWith([1, 1, 1]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [ent(2, 2)])).toThrow(/conflicts with committed/);
  });

  it('commits only up to entries that exist', () => {
    const log = logWith([1]);
    expect(() => log.commitTo(5)).toThrow(/out of range/);
  });

  it('maybeCommit requires the entry to carry the given term', () => {
    const log = logWith([1, 2]);
    expect(log.maybeCommit(1, 2)).toBe(false);
    expect(log.maybeCommit(2, 2)).toBe(true);
    expect(log.committed).toBe(2);
  });

  it('hands out committed entries for applying only once they are durable', () => {
    const storage = new MemoryStorage();
    const log = new RaftLog(storage, NO_LIMIT);
    log.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    log.commitTo(3);
    expect(log.nextEnts()).toEqual([]);
    storage.append(log.unstableEntries().slice(0, 2));
    log.stableTo(2, 1);
    expect(log.nextEnts().map((e) => e.index)).toEqual([1, 2]);
    log.appliedTo(2);
    storage.append(log.unstableEntries());
    log.stableTo(3, 1);
    expect(log.nextEnts().map((e) => e.index)).toEqual([3]);
  });

  it('stableTo ignores entries that were replaced after the Ready was taken', () => {
    const log = logWith([1, 1]);
    log.append([ent(2, 2)]);
    log.stableTo(2, 1);
    expect(log.unstable.offset).toBe(1);
    expect(log.unstableEntries().map((e) => e.term)).toEqual([1, 2]);
  });

  it('isUpToDate compares last term, then length', () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });
});
