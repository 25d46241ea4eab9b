import { authpb } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import { RangePermissions } from './range-permissions.js';

const { READ, WRITE, READWRITE } = authpb.Permission_Type;
const b = (s: string) => Buffer.from(s);
const perm = (permType: authpb.Permission_Type, key: string, rangeEnd = '') => ({ permType, key: b(key), rangeEnd: b(rangeEnd) });
const FROM_KEY = '\0';

// Cases after etcd's range_perm_cache_test.go and its key/range/prefix/from-key forms.
describe('RangePermissions (etcd range_perm_cache semantics)', () => {
  it.each<[string, authpb.Permission[], 'read' | 'write', string, string | undefined, boolean]>([
    ['a single key is granted', [perm(READ, 'foo')], 'read', 'foo', undefined, true],
    ['a neighbouring key is not', [perm(READ, 'foo')], 'read', 'foo0', undefined, false],
    ['READ grants no write', [perm(READ, 'foo')], 'write', 'foo', undefined, false],
    ['WRITE grants no read', [perm(WRITE, 'foo')], 'read', 'foo', undefined, false],
    ['READWRITE grants both', [perm(READWRITE, 'foo')], 'write', 'foo', undefined, true],
    ['a key inside a range', [perm(READ, 'a', 'c')], 'read', 'b', undefined, true],
    ['the range end is excluded', [perm(READ, 'a', 'c')], 'read', 'c', undefined, false],
    ['a sub-range is covered', [perm(READ, 'a', 'c')], 'read', 'ab', 'b', true],
    ['a wider range is not', [perm(READ, 'a', 'c')], 'read', 'a', 'd', false],
    ['touching ranges cover their union', [perm(READ, 'a', 'b'), perm(READ, 'b', 'c')], 'read', 'a', 'c', true],
    ['a gap between ranges is not covered', [perm(READ, 'a', 'b'), perm(READ, 'b0', 'c')], 'read', 'a', 'c', false],
    ['a key and the range after it join', [perm(READ, 'a'), perm(READ, 'a\0', 'c')], 'read', 'a', 'c', true],
    ['from-key grants every later key', [perm(READ, 'k', FROM_KEY)], 'read', 'zzzz', undefined, true],
    ['from-key covers a from-key query at or after it', [perm(READ, 'k', FROM_KEY)], 'read', 'm', FROM_KEY, true],
    ['a from-key query is wider than a range', [perm(READ, 'a', 'z')], 'read', 'm', FROM_KEY, false],
    ['a prefix grant covers the prefix query', [perm(READ, 'pre/', 'pre0')], 'read', 'pre/', 'pre0', true],
    ['a single-key grant does not cover a prefix query', [perm(READ, 'pre/')], 'read', 'pre/', 'pre0', false],
    ['nothing granted', [], 'read', 'a', undefined, false],
    // A range ending before its key names no key; etcd's answer depends on its tree's shape
    // (found by auth-differential.test.ts against etcd 3.4.23, seed 5 round 4).
    ['an inverted range inside the only grant', [perm(READ, 'c', 'd')], 'read', 'c', 'a\0', true],
    ['the same range once the tree prunes it', [perm(WRITE, 'a', 'b'), perm(READWRITE, 'b/'), perm(READ, 'c', 'd')], 'read', 'c', 'a\0', false],
    ['an empty key is past every grant', [perm(READ, 'a', FROM_KEY)], 'read', '', undefined, false],
  ])('%s', (_name, perms, type, key, rangeEnd, want) => {
    expect(new RangePermissions(perms).permits(type, b(key), rangeEnd === undefined ? undefined : b(rangeEnd))).toBe(want);
  });
});
