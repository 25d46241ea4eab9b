import { describe, expect, it } from 'vitest';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { MemoryStorage, limitSize } from './storage.js';
import { emptyConfState, type Entry } from './types.js';

const ent = (index: number, term: number, size = 0): Entry => ({ index, term, type: 0, data: new Uint8Array(size) });

/** Storage with a snapshot at 3 (term 3) and entries 4..5 (terms 4, 5). */
function storage(): MemoryStorage {
  const s = new MemoryStorage();
  s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5)]);
  s.createSnapshot(3, emptyConfState(), new Uint8Array());
  s.compact(3);
  return s;
}

describe('MemoryStorage', () => {
  it('reports first and last index around the snapshot', () => {
    const s = storage();
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 5]);
  });

  it.each([
    [2, CompactedError],
    [3, 3],
    [4, 4],
    [5, 5],
    [6, UnavailableError],
  ])('term(%i)', (i, want) => {
    const s = storage();
    if (typeof want === 'number') expect(s.term(i)).toBe(want);
    else expect(() => s.term(i)).toThrow(want);
  });

  it.each([
    [3, 4, Number.MAX_SAFE_INTEGER, CompactedError],
    [4, 6, Number.MAX_SAFE_INTEGER, [4, 5]],
    [4, 6, 0, [4]],
    [4, 5, Number.MAX_SAFE_INTEGER, [4]],
  ] as const)('entries(%i, %i, max %i)', (lo, hi, max, want) => {
    const s = storage();
    if (Array.isArray(want)) expect(s.entries(lo, hi, max).map((e) => e.index)).toEqual(want);
    else expect(() => s.entries(lo, hi, max)).toThrow(want as unknown as typeof CompactedError);
  });

  it('append truncates a conflicting tail and ignores entries covered by the snapshot', () => {
    const s = storage();
    s.append([ent(2, 2), ent(3, 3), ent(4, 6), ent(5, 6), ent(6, 6)]);
    expect([4, 5, 6].map((i) => s.term(i))).toEqual([6, 6, 6]);
    s.append([ent(5, 7)]);
    expect(s.lastIndex()).toBe(5);
    expect(s.term(5)).toBe(7);
  });

  it('refuses to append past a gap', () => {
    const s = storage();
    expect(() => s.append([ent(7, 7)])).toThrow(/missing log entry/);
  });

  it('applySnapshot replaces everything and rejects older snapshots', () => {
    const s = storage();
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 10, term: 9, confState: emptyConfState() } });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 9]);
    expect(() =>
      s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 5, confState: emptyConfState() } }),
    ).toThrow(SnapshotOutOfDateError);
  });

  it('compact and createSnapshot reject indexes already covered', () => {
    const s = storage();
    expect(() => s.compact(3)).toThrow(CompactedError);
    expect(() => s.createSnapshot(3, undefined, new Uint8Array())).toThrow(SnapshotOutOfDateError);
  });

  it('limitSize keeps a prefix within the limit but at least one entry', () => {
    const es = [ent(1, 1, 10), ent(2, 1, 10), ent(3, 1, 10)];
    expect(limitSize(es, 0).length).toBe(1);
    expect(limitSize(es, 52).length).toBe(2);
    expect(limitSize(es, 1000).length).toBe(3);
  });
});
