import type { WalRecord } from '../record.js';
import type { WalReplay } from '../replay.js';

/**
 * Naive model of replay: apply records one by one to a plain array indexed by log
 * index, then cut at the latest snapshot marker.
 */
export function modelReplay(metadata: Uint8Array, records: readonly WalRecord[]): WalReplay {
  let log: Array<{ term: number; index: number; data: Uint8Array }> = [];
  let marker: { index: number; term: number } | undefined;
  let hardState: WalReplay['hardState'];
  let meta = metadata;
  for (const r of records) {
    if (r.type === 'entry') {
      log = log.filter((e) => e.index < r.index);
      log.push({ term: r.term, index: r.index, data: r.data });
    } else if (r.type === 'snapshot') {
      if (!marker || r.index >= marker.index) marker = { index: r.index, term: r.term };
    } else if (r.type === 'hardState') {
      hardState = { term: r.term, vote: r.vote, commit: r.commit };
    } else {
      meta = r.data;
    }
  }
  const out: WalReplay = { metadata: meta, entries: log.filter((e) => e.index > (marker?.index ?? 0)) };
  if (hardState) out.hardState = hardState;
  if (marker) out.snapshot = marker;
  return out;
}
