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
 * The open generation is the key index itself (its `ver`, `created`, `revs`), and only keys
 * deleted before hold a list of older ones: a key with one generation costs one object and
 * its revisions' array instead of four objects (~80 bytes of heap less per key).
 */
export class KeyIndex implements Generation {
  modified: Revision = NO_REVISION;
  /** The open generation (see {@link Generation}). */
  ver = 0;
  created: Revision = NO_REVISION;
  revs: Revision[];
  /** Closed generations, oldest first, each ending with its tombstone; undefined when none. */
  private older: Generation[] | undefined = undefined;

  /**
   * `keyString`: the key as the tree holds it (latin1, see tree-index.ts), the same string
   * object: a Uint8Array per key cost ~90 bytes of heap more, and only a deletion needs the bytes.
   */
  constructor(readonly keyString: string, revs: Revision[] = []) {
    this.revs = revs;
  }

  /**
   * A key whose older revisions were compacted away (or never stored): its history starts
   * from the stored revision `modified`, created at `created`, at version `ver`. Revisions
   * are never changed in place, so `created` may be shared between keys.
   */
  static restored(keyString: string, created: Revision, modified: Revision, ver: number): KeyIndex {
    const ki = new KeyIndex(keyString, [modified]);
    ki.created = created;
    ki.ver = ver;
    ki.modified = modified;
    return ki;
  }

  /** The key's bytes: a new plain Uint8Array (not a Buffer, nor a view into Buffer's pool) each call. */
  get key(): Uint8Array {
    const out = new Uint8Array(this.keyString.length);
    Buffer.from(out.buffer).write(this.keyString, 'latin1');
    return out;
  }

  /** The generations, oldest first, the open one last (a new array: for reading). */
  get generations(): Generation[] {
    return this.older === undefined ? [this] : [...this.older, this];
  }

  private get count(): number {
    return this.older === undefined ? 1 : this.older.length + 1;
  }

  private generation(i: number): Generation {
    return this.older !== undefined && i < this.older.length ? this.older[i]! : this;
  }

  put(rev: Revision): void {
    if (rev.main < this.modified.main || (rev.main === this.modified.main && rev.sub <= this.modified.sub)) {
      throw new Error(`mvcc: put with revision ${rev.main}_${rev.sub} not after ${this.modified.main}_${this.modified.sub}`);
    }
    if (this.revs.length === 0) {
      // A new array of one: a push onto an empty array reserves 17 slots (~130 bytes of heap
      // more per key, and most keys are written once).
      this.created = rev;
      this.revs = [rev];
    } else {
      this.revs.push(rev);
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
    const c = new KeyIndex(this.keyString, this.revs.slice());
    c.ver = this.ver;
    c.created = this.created;
    c.modified = this.modified;
    if (this.older !== undefined) c.older = this.older.map((g) => ({ ver: g.ver, created: g.created, revs: g.revs }));
    return c;
  }

  /** Ends the current generation; false when the key is not live (nothing to delete). */
  tombstone(rev: Revision): boolean {
    if (this.revs.length === 0) return false;
    this.put(rev);
    (this.older ??= []).push({ ver: this.ver, created: this.created, revs: this.revs });
    this.ver = 0;
    this.created = NO_REVISION;
    this.revs = [];
    return true;
  }

  isEmpty(): boolean {
    return this.older === undefined && this.revs.length === 0;
  }

  /** True when the key exists (has a live generation) at the newest revision. */
  isLive(): boolean {
    return this.revs.length > 0;
  }

  private findGeneration(atRev: number): Generation | undefined {
    const last = this.count - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.generation(i);
      if (g.revs.length === 0) continue;
      // A closed generation whose tombstone is at or before atRev: the key was deleted then.
      if (i !== last && g.revs[g.revs.length - 1]!.main <= atRev) return undefined;
      if (g.revs[0]!.main <= atRev) return g;
    }
    return undefined;
  }

  /** The newest revision of the key at `atRev`, or undefined if it did not exist then. */
  get(atRev: number): KeyAt | undefined {
    const g = this.findGeneration(atRev);
    if (!g) return undefined;
    for (let n = g.revs.length - 1; n >= 0; n--) {
      const rev = g.revs[n]!;
      if (rev.main <= atRev) {
        return { modified: rev, created: g.created, version: g.ver - (g.revs.length - n - 1) };
      }
    }
    return undefined;
  }

  /** Every revision of the key (tombstones included), oldest first. */
  allRevisions(out: Array<{ rev: Revision; tombstone: boolean; key: KeyIndex }>): void {
    const last = this.count - 1;
    for (let i = 0; i <= last; i++) {
      const revs = this.generation(i).revs;
      for (let j = 0; j < revs.length; j++) {
        out.push({ rev: revs[j]!, tombstone: i !== last && j === revs.length - 1, key: this });
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
    const g = this.generation(gi);
    if (g.revs.length > 0) {
      // Sliced, never changed in place (a clone may share the array); nothing to drop: kept as is.
      if (revIndex > 0) g.revs = g.revs.slice(revIndex);
      // Only the tombstone left: the generation is gone entirely.
      if (g.revs.length === 1 && gi !== this.count - 1) {
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
    const g = this.generation(genIdx);
    if (g.revs.length > 0 && revIndex === g.revs.length - 1 && genIdx !== this.count - 1) {
      available.delete(g.revs[revIndex]!);
    }
  }

  private doCompact(atRev: number, available: KeptRevisions): { genIdx: number; revIndex: number } {
    let genIdx = 0;
    const last = this.count - 1;
    // Skip generations whose tombstone is at or before atRev: nothing in them survives.
    while (genIdx < last) {
      const g = this.generation(genIdx);
      if (g.revs[g.revs.length - 1]!.main > atRev) break;
      genIdx++;
    }
    const revs = this.generation(genIdx).revs;
    for (let i = revs.length - 1; i >= 0; i--) {
      if (revs[i]!.main <= atRev) {
        available.add(revs[i]!);
        return { genIdx, revIndex: i };
      }
    }
    return { genIdx, revIndex: -1 };
  }
}
