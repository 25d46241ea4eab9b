import fc from 'fast-check';
import type { WalRecord } from '../record.js';

export const arbIndex = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

/** Any single record the encoder must round-trip (not necessarily a valid raft log). */
export const arbRecord: fc.Arbitrary<WalRecord> = fc.oneof(
  fc.record({
    type: fc.constant('entry' as const),
    term: arbIndex,
    index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    data: fc.uint8Array({ maxLength: 200 }),
  }),
  fc.record({
    type: fc.constant('hardState' as const),
    term: arbIndex,
    vote: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    commit: arbIndex,
  }),
  fc.record({ type: fc.constant('snapshot' as const), index: arbIndex, term: arbIndex }),
  fc.record({ type: fc.constant('metadata' as const), data: fc.uint8Array({ maxLength: 100 }) }),
);

/**
 * A raft-like record stream: entries never leave a gap (an entry at index <= last
 * truncates), with hard states and occasional snapshot markers mixed in.
 */
export const arbLogOps = (maxOps: number, maxData = 120): fc.Arbitrary<WalRecord[]> =>
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.record({ k: fc.constant('append' as const), n: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 0, max: maxData }) }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 5 }) }) },
        { weight: 2, arbitrary: fc.record({ k: fc.constant('hardState' as const), vote: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('snapshot' as const), back: fc.integer({ min: 0, max: 3 }) }) },
      ),
      { maxLength: maxOps },
    )
    .map((ops) => {
      const out: WalRecord[] = [];
      let last = 0;
      let term = 1;
      let marker = 0;
      let seq = 0;
      const entry = (index: number, size: number): WalRecord => {
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (seq * 31 + i) & 0xff;
        seq++;
        return { type: 'entry', term, index, data };
      };
      for (const op of ops) {
        switch (op.k) {
          case 'append':
            for (let i = 0; i < op.n; i++) out.push(entry(++last, op.size));
            break;
          case 'truncate': {
            // Raft never truncates at or below a snapshot.
            const at = Math.max(marker + 1, last - op.back);
            term++;
            out.push(entry(at, 8));
            last = at;
            break;
          }
          case 'hardState':
            out.push({ type: 'hardState', term, vote: op.vote, commit: Math.max(marker, last - 2, 0) });
            break;
          case 'snapshot': {
            const at = Math.max(marker, last - op.back);
            if (at > marker) {
              out.push({ type: 'snapshot', index: at, term });
              marker = at;
            }
            break;
          }
        }
      }
      return out;
    });
