import type { ReadPacing } from '@raftkv/mvcc';

/**
 * How long reads (Hash, HashKV, big ranges) share the event loop: a turn of it (setImmediate,
 * so I/O and timers — raft ticks, heartbeats, other requests — run) every few thousand
 * entries, about 5 ms of work on the machines we measured.
 */
export const READ_PACING: ReadPacing = {
  entriesPerStep: 4096,
  pause: () => new Promise<void>((resolve) => setImmediate(resolve)),
};
