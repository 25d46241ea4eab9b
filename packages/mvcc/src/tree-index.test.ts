import { describe, expect, test } from 'vitest';
import { TreeIndex, type RangeEnd } from './tree-index.js';

function treeOf(keys: string[]): TreeIndex {
  const t = new TreeIndex();
  keys.forEach((k, i) => t.put(k, { main: i + 2, sub: 0 }));
  return t;
}

function visited(t: TreeIndex, key: string, end: RangeEnd, stopAfter = Infinity): string[] {
  const out: string[] = [];
  t.visit(key, end, (k) => {
    out.push(k);
    return out.length < stopAfter;
  });
  return out;
}

describe('TreeIndex.visit', () => {
  const t = treeOf(['a', 'b', 'ba', 'c', 'd\xff', 'e']);
  test.each<{ key: string; end: RangeEnd; stop?: number; want: string[] }>([
    { key: 'b', end: undefined, want: ['b'] },
    { key: 'bb', end: undefined, want: [] },
    { key: 'b', end: 'c', want: ['b', 'ba'] },
    { key: 'b', end: 'ca', want: ['b', 'ba', 'c'] },
    { key: 'c', end: 'c', want: [] },
    { key: 'd', end: 'a', want: [] },
    { key: 'c', end: null, want: ['c', 'd\xff', 'e'] },
    { key: '', end: null, want: ['a', 'b', 'ba', 'c', 'd\xff', 'e'] },
    { key: 'f', end: null, want: [] },
    { key: 'a', end: null, stop: 2, want: ['a', 'b'] },
    { key: 'a', end: 'e', stop: 3, want: ['a', 'b', 'ba'] },
    { key: 'd', end: 'e', want: ['d\xff'] },
  ])('[$key, $end) stop after $stop', ({ key, end, stop, want }) => {
    expect(visited(t, key, end, stop)).toEqual(want);
  });

  test('an empty tree visits nothing', () => {
    expect(visited(new TreeIndex(), '', null)).toEqual([]);
    expect(visited(new TreeIndex(), 'a', 'b')).toEqual([]);
  });
});
