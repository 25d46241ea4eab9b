import type { Compactor } from './compactor.js';
import { MvccError } from './errors.js';
import type { KeySpace } from './key-space.js';
import type { KeyValue } from './key-value.js';
import type { Event } from './kv.js';
import { assertRevisionNumber } from './revision.js';
import { keyString } from './tree-index.js';

/**
 * The history of `space` read back from its backend, for catching up watchers: the contract is
 * MvccStore.eventsBetween's (the store checks it is open first).
 */
export function historyEvents(
  space: KeySpace,
  compactor: Compactor,
  fromRevision: number,
  toRevision: number,
  limit: number,
  withPrevKv: boolean,
): Event[] {
  assertRevisionNumber(fromRevision, 'fromRevision');
  assertRevisionNumber(toRevision, 'toRevision');
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  if (fromRevision < space.compactMainRev) throw new MvccError('compacted', space.compactMainRev);
  if (fromRevision > space.currentRev + 1) throw new MvccError('future_revision');
  const from = Math.max(fromRevision, 1);
  const to = Math.min(toRevision, space.currentRev);
  const out: Array<{ ev: Event; ks: string }> = [];
  let revStart = 0;
  let lastMain = -1;
  space.backend.scan(from, to, (rev, tombstone, stored) => {
    if (rev.main !== lastMain) {
      if (out.length >= limit) return false;
      revStart = out.length;
      lastMain = rev.main;
    }
    const ks = keyString(stored.key);
    // At the compacted revision itself only what compaction keeps is history.
    if (rev.main <= space.compactMainRev && !compactor.isReachable(ks, rev)) return true;
    const kv: KeyValue = tombstone ? { ...stored, modRevision: rev.main } : stored;
    out.push({ ev: { type: tombstone ? 'delete' : 'put', kv }, ks });
    return true;
  });
  // Drop a revision that went past the limit, unless it is the only one.
  if (out.length > limit && revStart > 0) out.length = revStart;
  if (withPrevKv) for (const { ev, ks } of out) space.attachPrevKv(ev, ks);
  return out.map((o) => o.ev);
}
