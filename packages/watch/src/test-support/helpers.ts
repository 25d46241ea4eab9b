import type { Event } from '@raftkv/mvcc';
import type { WatchResponse } from '../watch-response.js';

/** latin1: one byte per character. */
export const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
export const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** "put a@3" / "delete a@4": compact, readable event summaries for assertions. */
export function evText(e: Event): string {
  return `${e.type} ${str(e.kv.key)}@${e.kv.modRevision}`;
}

/** A response summarised to what a test usually asserts on. */
export function respText(r: WatchResponse): string {
  const parts = [`id=${r.watchId}`, `rev=${r.revision}`];
  if (r.created) parts.push('created');
  if (r.canceled) parts.push('canceled');
  if (r.compactRevision) parts.push(`compact=${r.compactRevision}`);
  if (r.cancelReason) parts.push(`reason=${r.cancelReason}`);
  if (r.fragment) parts.push('fragment');
  if (r.events.length > 0) parts.push(`[${r.events.map(evText).join(', ')}]`);
  return parts.join(' ');
}
