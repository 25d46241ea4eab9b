import { authpb } from '@raftkv/api';
import { IntervalTree, type Interval } from './interval-tree.js';

/** etcd's NewBytesAffinePoint: the single key k as [k, k + "\0"). */
function point(key: Uint8Array): Interval {
  return { begin: key, end: Buffer.concat([key, Buffer.of(0)]) };
}

/** A range end of "\0" means "to the end": etcd stores it as empty, which compares as +infinity. */
function rangeEndOf(rangeEnd: Uint8Array): Uint8Array {
  return rangeEnd.length === 1 && rangeEnd[0] === 0 ? new Uint8Array(0) : rangeEnd;
}

/**
 * What one user may read and write: its roles' permissions in two interval trees (etcd's
 * unifiedRangePermissions, kept per user by range_perm_cache.go). Built on every auth change,
 * in etcd's order (roles by name, each role's permissions by key), asked on every request.
 */
export class RangePermissions {
  private readonly read = new IntervalTree();
  private readonly write = new IntervalTree();

  constructor(perms: Iterable<authpb.Permission>) {
    for (const p of perms) {
      // etcd's getMergedPerms: no range end is one key, "\0" is every key from `key` on.
      const ivl: Interval = p.rangeEnd.length === 0 ? point(p.key) : { begin: p.key, end: rangeEndOf(p.rangeEnd) };
      if (p.permType === authpb.Permission_Type.READ || p.permType === authpb.Permission_Type.READWRITE) this.read.insert(ivl);
      if (p.permType === authpb.Permission_Type.WRITE || p.permType === authpb.Permission_Type.READWRITE) this.write.insert(ivl);
    }
  }

  /**
   * etcd's isRangeOpPermitted: with no range end, whether a granted interval holds `key`
   * (checkKeyPoint); with one, whether granted intervals cover [key, rangeEnd) (checkKeyInterval;
   * "\0" = every key from `key` on).
   */
  permits(type: 'read' | 'write', key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
    const tree = type === 'read' ? this.read : this.write;
    if (rangeEnd === undefined || rangeEnd.length === 0) return tree.intersects(point(key));
    return tree.contains({ begin: key, end: rangeEndOf(rangeEnd) });
  }
}
