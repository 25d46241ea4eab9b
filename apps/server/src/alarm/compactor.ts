import { EtcdErrors } from '@raftkv/api';
import { goDuration } from '../config/go-values.js';
import type { Logger } from '../logger.js';

/** Time as the compactors see it: injected so tests drive it. */
export interface CompactorClock {
  nowMs(): number;
  /** Resolves after `ms`, or at once once `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const REAL_CLOCK: CompactorClock = {
  nowMs: () => performance.now(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  }),
};

/** What a compactor compacts: the leader's store, through the log like a client's Compact. */
export interface Compactable {
  /** The store's current revision. */
  currentRevision(): number;
  /** Only the leader compacts (etcd pauses the compactor on the other members). */
  isLeader(): boolean;
  /** Proposes a compaction at `revision`; rejects as the Compact call does. */
  compact(revision: number): Promise<void>;
}

/** etcd's revision compactor looks every 5 minutes. */
export const REVISION_INTERVAL_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
/** etcd's periodic compactor records a revision (and retries) every tenth of the period. */
const RETRY_DIVISOR = 10;

export interface AutoCompactor {
  /** Stops the loop; resolves once it has ended (a compaction under way is awaited). */
  stop(): Promise<void>;
}

/** A compaction the cluster already did (or a later one) is success, as in etcd. */
function compactedAlready(err: unknown): boolean {
  return EtcdErrors.Compacted.is(err);
}

/**
 * etcd 3.4's periodic compactor: records the current revision every tenth of the period
 * (capped at an hour); once a whole period has passed since the last success it compacts at
 * the revision recorded a period ago, then every min(period, 1 h). A failure is retried a
 * tenth of the period later. Returns at once; the loop runs until `stop`.
 */
export function startPeriodicCompactor(periodMs: number, target: Compactable, log: Logger, clock: CompactorClock = REAL_CLOCK): AutoCompactor {
  const compactInterval = Math.min(periodMs, HOUR_MS);
  const retryInterval = compactInterval / RETRY_DIVISOR;
  const retentions = Math.floor(periodMs / retryInterval) + 1;
  const stopped = new AbortController();
  const loop = (async () => {
    let revs: number[] = [];
    let lastSuccess = clock.nowMs();
    let baseInterval = periodMs;
    while (!stopped.signal.aborted) {
      revs.push(target.currentRevision());
      // revs[0] is always the revision of a period ago.
      if (revs.length > retentions) revs = revs.slice(1);
      await clock.sleep(retryInterval, stopped.signal);
      if (stopped.signal.aborted) return;
      if (!target.isLeader()) continue;
      if (clock.nowMs() - lastSuccess < baseInterval) continue;
      // The first compaction waits a whole period; later ones come every compactInterval.
      baseInterval = compactInterval;
      const rev = revs[0]!;
      log.info('starting auto periodic compaction', { revision: rev, 'compact-period': goDuration(periodMs) });
      try {
        await target.compact(rev);
      } catch (err) {
        if (!compactedAlready(err)) {
          log.warn('failed auto periodic compaction', {
            revision: rev, 'compact-period': goDuration(periodMs), 'retry-interval': goDuration(retryInterval), error: String(err),
          });
          continue;
        }
      }
      log.info('completed auto periodic compaction', {
        revision: rev, 'compact-period': goDuration(periodMs), took: goDuration(Math.round(clock.nowMs() - lastSuccess)),
      });
      lastSuccess = clock.nowMs();
    }
  })();
  return { stop: async () => { stopped.abort(); await loop; } };
}

/**
 * etcd 3.4's revision compactor: every `intervalMs` (5 minutes) it compacts at the current
 * revision minus `retention`, unless that is not positive or was compacted last time.
 */
export function startRevisionCompactor(
  retention: number, target: Compactable, log: Logger, clock: CompactorClock = REAL_CLOCK, intervalMs = REVISION_INTERVAL_MS,
): AutoCompactor {
  const stopped = new AbortController();
  const loop = (async () => {
    let prev = 0;
    while (!stopped.signal.aborted) {
      await clock.sleep(intervalMs, stopped.signal);
      if (stopped.signal.aborted) return;
      if (!target.isLeader()) continue;
      const rev = target.currentRevision() - retention;
      if (rev <= 0 || rev === prev) continue;
      const start = clock.nowMs();
      log.info('starting auto revision compaction', { revision: rev, 'revision-compaction-retention': retention });
      try {
        await target.compact(rev);
      } catch (err) {
        if (!compactedAlready(err)) {
          log.warn('failed auto revision compaction', {
            revision: rev, 'revision-compaction-retention': retention, 'retry-interval': goDuration(intervalMs), error: String(err),
          });
          continue;
        }
      }
      prev = rev;
      log.info('completed auto revision compaction', {
        revision: rev, 'revision-compaction-retention': retention, took: goDuration(Math.round(clock.nowMs() - start)),
      });
    }
  })();
  return { stop: async () => { stopped.abort(); await loop; } };
}

/**
 * The compactor --auto-compaction-mode and --auto-compaction-retention ask for, or undefined
 * when the retention is 0 (off). `retention` is milliseconds (periodic) or revisions.
 */
export function startAutoCompactor(
  mode: 'periodic' | 'revision', retention: number, target: Compactable, log: Logger,
  options: { clock?: CompactorClock; revisionIntervalMs?: number } = {},
): AutoCompactor | undefined {
  if (retention === 0) return undefined;
  return mode === 'periodic'
    ? startPeriodicCompactor(retention, target, log, options.clock)
    : startRevisionCompactor(retention, target, log, options.clock, options.revisionIntervalMs);
}
