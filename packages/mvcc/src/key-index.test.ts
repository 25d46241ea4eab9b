import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeyIndex, RevisionSet, type KeyAt } from './key-index.js';
import type { Revision } from './revision.js';

/** etcd's keyIndex as written there: every generation a list, the open one last. */
class ModelKeyIndex {
  gens: Array<{ ver: number; created: Revision; revs: Revision[] }> = [{ ver: 0, created: { main: 0, sub: 0 }, revs: [] }];

  put(rev: Revision): void {
    const g = this.gens[this.gens.length - 1]!;
    if (g.revs.length === 0) g.created = rev;
    g.revs.push(rev);
    g.ver++;
  }

  tombstone(rev: Revision): boolean {
    if (this.gens[this.gens.length - 1]!.revs.length === 0) return false;
    this.put(rev);
    this.gens.push({ ver: 0, created: { main: 0, sub: 0 }, revs: [] });
    return true;
  }

  get(atRev: number): KeyAt | undefined {
    const last = this.gens.length - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.gens[i]!;
      if (g.revs.length === 0) continue;
      if (i !== last && g.revs[g.revs.length - 1]!.main <= atRev) return undefined;
      if (g.revs[0]!.main > atRev) continue;
      for (let n = g.revs.length - 1; n >= 0; n--) {
        if (g.revs[n]!.main <= atRev) return { modified: g.revs[n]!, created: g.created, version: g.ver - (g.revs.length - n - 1) };
      }
    }
    return undefined;
  }

  private doCompact(atRev: number, kept: RevisionSet): { genIdx: number; revIndex: number } {
    let genIdx = 0;
    while (genIdx < this.gens.length - 1) {
      const revs = this.gens[genIdx]!.revs;
      if (revs[revs.length - 1]!.main > atRev) break;
      genIdx++;
    }
    const revs = this.gens[genIdx]!.revs;
    for (let i = revs.length - 1; i >= 0; i--) {
      if (revs[i]!.main <= atRev) {
        kept.add(revs[i]!);
        return { genIdx, revIndex: i };
      }
    }
    return { genIdx, revIndex: -1 };
  }

  compact(atRev: number, kept: RevisionSet): void {
    let { genIdx, revIndex } = this.doCompact(atRev, kept);
    const g = this.gens[genIdx]!;
    if (g.revs.length > 0) {
      if (revIndex > 0) g.revs = g.revs.slice(revIndex);
      if (g.revs.length === 1 && genIdx !== this.gens.length - 1) {
        kept.delete(g.revs[0]!);
        genIdx++;
      }
    }
    this.gens = this.gens.slice(genIdx);
  }

  keep(atRev: number, kept: RevisionSet): void {
    if (this.gens.length === 1 && this.gens[0]!.revs.length === 0) return;
    const { genIdx, revIndex } = this.doCompact(atRev, kept);
    const g = this.gens[genIdx]!;
    if (g.revs.length > 0 && revIndex === g.revs.length - 1 && genIdx !== this.gens.length - 1) kept.delete(g.revs[revIndex]!);
  }

  isEmpty(): boolean {
    return this.gens.length === 1 && this.gens[0]!.revs.length === 0;
  }
}

const keptList = (s: RevisionSet, upTo: number): string[] => {
  const out: string[] = [];
  for (let main = 0; main <= upTo; main++) for (let sub = 0; sub < 3; sub++) if (s.has({ main, sub })) out.push(`${main}_${sub}`);
  return out;
};

const op = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), subs: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('tombstone' as const), subs: fc.constant(1) }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ kind: fc.constant('keep' as const), back: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ kind: fc.constant('clone' as const) }),
);

describe('KeyIndex', () => {
  it('reads, keeps and compacts like etcd keyIndex under any sequence of puts, deletes and compactions', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 40 }), (restored, ops) => {
        let ki = new KeyIndex('k');
        const model = new ModelKeyIndex();
        let main = 1;
        if (restored) {
          const created = { main: 1, sub: 0 };
          const rev = { main: 2, sub: 1 };
          ki = KeyIndex.restored('k', created, rev, 3);
          model.gens = [{ ver: 3, created, revs: [rev] }];
          main = 2;
        }
        let compacted = 0;
        for (const o of ops) {
          if (o.kind === 'put' || o.kind === 'tombstone') {
            main++;
            for (let sub = 0; sub < o.subs; sub++) {
              const rev = { main, sub };
              if (o.kind === 'put') {
                ki.put(rev);
                model.put(rev);
              } else {
                expect(ki.tombstone(rev)).toBe(model.tombstone(rev));
              }
            }
          } else if (o.kind === 'compact' || o.kind === 'keep') {
            const at = Math.max(compacted, main - o.back);
            const a = new RevisionSet();
            const b = new RevisionSet();
            if (o.kind === 'compact') {
              compacted = at;
              ki.compact(at, a);
              model.compact(at, b);
            } else {
              ki.keep(at, a);
              model.keep(at, b);
            }
            expect(keptList(a, main)).toEqual(keptList(b, main));
          } else {
            const before = ki;
            ki = ki.clone();
            // The copy's later changes leave the original as it was.
            ki.put({ main: main + 1, sub: 0 });
            expect(before.get(main + 1)).toEqual(model.get(main + 1));
            ki = before.clone();
          }
          expect(ki.isEmpty()).toBe(model.isEmpty());
          expect(ki.isLive()).toBe(model.gens[model.gens.length - 1]!.revs.length > 0);
          expect(ki.generations.map((g) => ({ ...g, revs: [...g.revs] }))).toEqual(model.gens);
          for (let at = compacted; at <= main + 1; at++) expect(ki.get(at)).toEqual(model.get(at));
          const all: Array<{ rev: Revision; tombstone: boolean; key: KeyIndex }> = [];
          ki.allRevisions(all);
          const want = model.gens.flatMap((g, i) =>
            g.revs.map((rev, j) => ({ rev, tombstone: i !== model.gens.length - 1 && j === g.revs.length - 1, key: ki })));
          expect(all).toEqual(want);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a revision not after the newest one', () => {
    const ki = new KeyIndex('k');
    ki.put({ main: 2, sub: 0 });
    expect(() => ki.put({ main: 2, sub: 0 })).toThrow(/not after/);
    expect(() => ki.put({ main: 1, sub: 5 })).toThrow(/not after/);
    expect(ki.get(2)).toEqual({ modified: { main: 2, sub: 0 }, created: { main: 2, sub: 0 }, version: 1 });
  });
});
