import { authpb } from '@raftkv/api';

/**
 * A half-open byte interval [begin, end); `end` undefined is +infinity (etcd's from-key "\0").
 * A single key k is [k, k + "\0").
 */
interface Interval { begin: Buffer; end: Buffer | undefined }

function compareEnd(a: Buffer | undefined, b: Buffer | undefined): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  return Buffer.compare(a, b);
}

function pointEnd(key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(key), Buffer.of(0)]);
}

/** The interval a permission grants, as etcd's getMergedPerms reads it. */
function permissionInterval(perm: authpb.Permission): Interval {
  const key = Buffer.from(perm.key);
  if (perm.rangeEnd.length === 0) return { begin: key, end: pointEnd(key) };
  if (perm.rangeEnd.length === 1 && perm.rangeEnd[0] === 0) return { begin: key, end: undefined };
  return { begin: key, end: Buffer.from(perm.rangeEnd) };
}

/** Sorted, disjoint, non-touching intervals covering the same keys as `list`. */
function merge(list: Interval[]): Interval[] {
  const sorted = list.filter((i) => compareEnd(i.begin, i.end) < 0).sort((a, b) => Buffer.compare(a.begin, b.begin));
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    // Touching intervals ([a,b) and [b,c)) cover [a,c) together, as etcd's Contains counts them.
    if (last && compareEnd(i.begin, last.end) <= 0) {
      if (compareEnd(i.end, last.end) > 0) last.end = i.end;
    } else {
      out.push({ begin: i.begin, end: i.end });
    }
  }
  return out;
}

/**
 * What one user may read and write: the union of its roles' permissions (etcd's
 * unifiedRangePermissions, which range_perm_cache.go keeps per user). Built once per auth
 * change, asked on every request.
 */
export class RangePermissions {
  private readonly read: Interval[];
  private readonly write: Interval[];

  constructor(perms: Iterable<authpb.Permission>) {
    const read: Interval[] = [];
    const write: Interval[] = [];
    for (const p of perms) {
      const ivl = permissionInterval(p);
      if (p.permType === authpb.Permission_Type.READ || p.permType === authpb.Permission_Type.READWRITE) read.push(ivl);
      if (p.permType === authpb.Permission_Type.WRITE || p.permType === authpb.Permission_Type.READWRITE) write.push(ivl);
    }
    this.read = merge(read);
    this.write = merge(write);
  }

  /**
   * etcd's isRangeOpPermitted: with no range end, whether `key` lies in a granted interval;
   * with one, whether granted intervals cover all of [key, rangeEnd) ("\0" = every key from `key` on).
   */
  permits(type: 'read' | 'write', key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
    const set = type === 'read' ? this.read : this.write;
    const begin = Buffer.from(key);
    if (rangeEnd === undefined || rangeEnd.length === 0) {
      return set.some((i) => Buffer.compare(i.begin, begin) <= 0 && compareEnd(begin, i.end) < 0);
    }
    const end = rangeEnd.length === 1 && rangeEnd[0] === 0 ? undefined : Buffer.from(rangeEnd);
    // Merged intervals never touch, so one of them must hold the whole query.
    return set.some((i) => Buffer.compare(i.begin, begin) <= 0 && compareEnd(end, i.end) <= 0);
  }
}
