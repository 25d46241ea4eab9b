import type { Revision } from './revision.js';

/**
 * One life of a key: from the put that created it to the tombstone that deleted it
 * (the current generation of a live key has no tombstone yet).
 */
export interface Generation {
  /** Version of the newest revision in `revs`. */
  ver: number;
  created: Revision;
  revs: Revision[];
}

/** Revision of `key` visible at some main revision, with its create revision and version. */
export interface KeyAt {
  modified: Revision;
  created: Revision;
  version: number;
}

/** Where compact/keep record the revisions they keep. */
export interface KeptRevisions {
  add(rev: Revision): void;
  delete(rev: Revision): void;
}

/**
 * Revisions compared by value (main, sub): what a compaction keeps, matched against
 * revisions decoded from LMDB keys. A compaction adds one per live key, so no string or
 * object is made per revision: a map from main to its sub (or to its subs, when a write
 * keeps several changes).
 */
export class RevisionSet implements KeptRevisions {
  private readonly byMain = new Map<number, number | Set<number>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(rev: Revision): void {
    const cur = this.byMain.get(rev.main);
    if (cur === undefined) {
      this.byMain.set(rev.main, rev.sub);
    } else if (typeof cur === 'number') {
      if (cur === rev.sub) return;
      this.byMain.set(rev.main, new Set([cur, rev.sub]));
    } else {
      if (cur.has(rev.sub)) return;
      cur.add(rev.sub);
    }
    this.count++;
  }

  delete(rev: Revision): void {
    const cur = this.byMain.get(rev.main);
    if (cur === undefined) return;
    if (typeof cur === 'number') {
      if (cur !== rev.sub) return;
      this.byMain.delete(rev.main);
    } else {
      if (!cur.delete(rev.sub)) return;
      if (cur.size === 0) this.byMain.delete(rev.main);
    }
    this.count--;
  }

  has(rev: Revision): boolean {
    const cur = this.byMain.get(rev.main);
    if (cur === undefined) return false;
    return typeof cur === 'number' ? cur === rev.sub : cur.has(rev.sub);
  }
}

/** Revision 0_0: what an empty generation and a key index without revisions hold (never changed). */
const NO_REVISION: Revision = Object.freeze({ main: 0, sub: 0 });


/**
 * The history of one key, as etcd's keyIndex: a list of generations, the last one
 * always open (empty after a deletion). A key whose only generation is empty has no
 * history left and is dropped from the tree by compaction.
 *
 * The open generation is the key index itself (its `ver`, `created` and revisions), and only
 * keys deleted before hold a list of older ones. An open generation of one revision holds no
 * array: that revision is `modified` (the newest revision of a key is always the last of its
 * open generation, when that is not empty). Most keys are written once, so a key costs its
 * string, this object and one Revision (a heap snapshot at 200,000 keys: an array of one was
 * 2 of the 5 objects and 56 of the 232 bytes per key, all of it marked by every full GC).
 */
export class KeyIndex {
  modified: Revision = NO_REVISION;
  /** Version of the open generation's newest revision; 0 when the open generation is empty. */
  ver = 0;
  created: Revision = NO_REVISION;
  /** The open generation's revisions when it has more than one, oldest first (else see above). */
  private more: Revision[] | undefined = undefined;
  /** Closed generations, oldest first, each ending with its tombstone; undefined when none. */
  private older: Generation[] | undefined = undefined;

  /**
   * `keyString`: the key as the tree holds it (latin1, see tree-index.ts), the same string
   * object: a Uint8Array per key cost ~90 bytes of heap more, and only a deletion needs the bytes.
   */
  constructor(readonly keyString: string) {}

  /**
   * A key whose older revisions were compacted away (or never stored): its history starts
   * from the stored revision `modified`, created at `created`, at version `ver`. Revisions
   * are never changed in place, so `created` may be shared between keys.
   */
  static restored(keyString: string, created: Revision, modified: Revision, ver: number): KeyIndex {
    const ki = new KeyIndex(keyString);
    ki.created = created;
    // A stored live key has version >= 1; 0 would read as an empty generation.
    ki.ver = Math.max(ver, 1);
    ki.modified = modified;
    return ki;
  }

  /** The key's bytes: a new plain Uint8Array (not a Buffer, nor a view into Buffer's pool) each call. */
  get key(): Uint8Array {
    const out = new Uint8Array(this.keyString.length);
    Buffer.from(out.buffer).write(this.keyString, 'latin1');
    return out;
  }

  /** The open generation's revisions, oldest first (a new array when it has fewer than two: for reading). */
  get revs(): Revision[] {
    return this.more ?? (this.ver > 0 ? [this.modified] : []);
  }

  /** The generations, oldest first, the open one last (new objects: for reading). */
  get generations(): Generation[] {
    const open: Generation = { ver: this.ver, created: this.created, revs: this.revs };
    return this.older === undefined ? [open] : [...this.older, open];
  }

  /** Number of revisions in the open generation. */
  private get openCount(): number {
    return this.more !== undefined ? this.more.length : this.ver > 0 ? 1 : 0;
  }

  /** Revision `j` of the open generation (j < openCount). */
  private openRev(j: number): Revision {
    return this.more !== undefined ? this.more[j]! : this.modified;
  }

  private get lastGen(): number {
    return this.older === undefined ? 0 : this.older.length;
  }

  /** Revision count of generation `i` (the open one is lastGen). */
  private countOf(i: number): number {
    return i === this.lastGen ? this.openCount : this.older![i]!.revs.length;
  }

  private revOf(i: number, j: number): Revision {
    return i === this.lastGen ? this.openRev(j) : this.older![i]!.revs[j]!;
  }

  put(rev: Revision): void {
    if (rev.main < this.modified.main || (rev.main === this.modified.main && rev.sub <= this.modified.sub)) {
      throw new Error(`mvcc: put with revision ${rev.main}_${rev.sub} not after ${this.modified.main}_${this.modified.sub}`);
    }
    if (this.ver === 0) {
      this.created = rev;
    } else if (this.more === undefined) {
      this.more = [this.modified, rev];
    } else {
      this.more.push(rev);
    }
    this.ver++;
    this.modified = rev;
  }

  /**
   * A copy that later changes to either object leave the other as it was: the generation
   * objects and the open generation's revisions are copied; closed generations' revision
   * arrays are shared (nothing changes them in place: compaction slices).
   */
  clone(): KeyIndex {
    const c = new KeyIndex(this.keyString);
    c.ver = this.ver;
    c.created = this.created;
    c.modified = this.modified;
    if (this.more !== undefined) c.more = this.more.slice();
    if (this.older !== undefined) c.older = this.older.map((g) => ({ ver: g.ver, created: g.created, revs: g.revs }));
    return c;
  }

  /** Ends the current generation; false when the key is not live (nothing to delete). */
  tombstone(rev: Revision): boolean {
    if (this.ver === 0) return false;
    this.put(rev);
    // After a put onto a live generation it has at least two revisions: `more` is set.
    (this.older ??= []).push({ ver: this.ver, created: this.created, revs: this.more! });
    this.ver = 0;
    this.created = NO_REVISION;
    this.more = undefined;
    return true;
  }

  isEmpty(): boolean {
    return this.older === undefined && this.ver === 0;
  }

  /** True when the key exists (has a live generation) at the newest revision. */
  isLive(): boolean {
    return this.ver > 0;
  }

  /** The newest revision of the key at `atRev`, or undefined if it did not exist then. */
  get(atRev: number): KeyAt | undefined {
    // The open generation first (most reads): its revisions are newest.
    if (this.more === undefined) {
      if (this.ver > 0 && this.modified.main <= atRev) return { modified: this.modified, created: this.created, version: this.ver };
    } else if (this.more[0]!.main <= atRev) {
      return KeyIndex.getIn(this.more, this.ver, this.created, atRev);
    }
    const older = this.older;
    if (older === undefined) return undefined;
    for (let i = older.length - 1; i >= 0; i--) {
      const g = older[i]!;
      // A closed generation whose tombstone is at or before atRev: the key was deleted then.
      if (g.revs[g.revs.length - 1]!.main <= atRev) return undefined;
      if (g.revs[0]!.main <= atRev) return KeyIndex.getIn(g.revs, g.ver, g.created, atRev);
    }
    return undefined;
  }

  private static getIn(revs: Revision[], ver: number, created: Revision, atRev: number): KeyAt | undefined {
    for (let n = revs.length - 1; n >= 0; n--) {
      const rev = revs[n]!;
      if (rev.main <= atRev) return { modified: rev, created, version: ver - (revs.length - n - 1) };
    }
    return undefined;
  }

  /** Every revision of the key (tombstones included), oldest first. */
  allRevisions(out: Array<{ rev: Revision; tombstone: boolean; key: KeyIndex }>): void {
    const last = this.lastGen;
    for (let i = 0; i <= last; i++) {
      const n = this.countOf(i);
      for (let j = 0; j < n; j++) {
        out.push({ rev: this.revOf(i, j), tombstone: i !== last && j === n - 1, key: this });
      }
    }
  }

  /**
   * Drops the revisions a compaction at `atRev` makes unreachable and adds the ones it
   * keeps (the newest revision <= atRev of the surviving generation) to `available`.
   */
  compact(atRev: number, available: KeptRevisions): void {
    const { genIdx, revIndex } = this.doCompact(atRev, available);
    let gi = genIdx;
    if (gi === this.lastGen) {
      // Sliced, never changed in place (a clone may share the array); nothing to drop: kept as is.
      if (revIndex > 0) {
        const more = this.more!.slice(revIndex);
        this.more = more.length > 1 ? more : undefined;
      }
    } else {
      const g = this.older![gi]!;
      if (revIndex > 0) g.revs = g.revs.slice(revIndex);
      // Only the tombstone left: the generation is gone entirely.
      if (g.revs.length === 1) {
        available.delete(g.revs[0]!);
        gi++;
      }
    }
    // Drop the first gi generations (the open one, this, always stays).
    if (gi > 0 && this.older !== undefined) this.older = gi >= this.older.length ? undefined : this.older.slice(gi);
  }

  /** Like {@link compact} without changing anything: what a compaction at atRev would keep. */
  keep(atRev: number, available: KeptRevisions): void {
    if (this.isEmpty()) return;
    const { genIdx, revIndex } = this.doCompact(atRev, available);
    const n = this.countOf(genIdx);
    if (n > 0 && revIndex === n - 1 && genIdx !== this.lastGen) {
      available.delete(this.revOf(genIdx, revIndex));
    }
  }

  private doCompact(atRev: number, available: KeptRevisions): { genIdx: number; revIndex: number } {
    let genIdx = 0;
    const last = this.lastGen;
    // Skip generations whose tombstone is at or before atRev: nothing in them survives.
    while (genIdx < last) {
      const revs = this.older![genIdx]!.revs;
      if (revs[revs.length - 1]!.main > atRev) break;
      genIdx++;
    }
    for (let i = this.countOf(genIdx) - 1; i >= 0; i--) {
      const rev = this.revOf(genIdx, i);
      if (rev.main <= atRev) {
        available.add(rev);
        return { genIdx, revIndex: i };
      }
    }
    return { genIdx, revIndex: -1 };
  }
}
