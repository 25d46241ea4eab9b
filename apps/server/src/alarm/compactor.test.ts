// The auto compactors on an injected clock: which revision is compacted when, as etcd 3.4's
// v3compactor does it (periodic.go, revision.go).
import { EtcdErrors } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../logger.js';
import { goDuration } from '../config/go-values.js';
import { startPeriodicCompactor, startRevisionCompactor, type CompactorClock } from './compactor.js';

class ManualClock implements CompactorClock {
  now = 0;
  private timers: Array<{ at: number; resolve(): void }> = [];
  nowMs(): number {
    return this.now;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.timers.push({ at: this.now + ms, resolve: done });
      signal.addEventListener('abort', done);
    });
  }
  /** Moves time forward in `stepMs` steps, letting the loop run after each due timer. */
  async advance(ms: number, stepMs: number): Promise<void> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += stepMs;
      const due = this.timers.filter((t) => t.at <= this.now);
      this.timers = this.timers.filter((t) => t.at > this.now);
      for (const t of due) t.resolve();
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    }
  }
}

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function recordingLog(): Logger & { msgs: string[] } {
  const msgs: string[] = [];
  return { msgs, debug: () => {}, info: (m) => void msgs.push(m), warn: (m) => void msgs.push(m), error: () => {} };
}

/** A store whose revision is 100 + the seconds elapsed; records each compaction as [second, revision]. */
function target(clock: ManualClock, opts: { leader?: () => boolean; fail?: (n: number) => unknown } = {}) {
  const compactions: Array<[number, number]> = [];
  let calls = 0;
  return {
    compactions,
    currentRevision: () => 100 + Math.floor(clock.now / 1000),
    isLeader: opts.leader ?? (() => true),
    compact: async (revision: number) => {
      const err = opts.fail?.(calls++);
      if (err) throw err;
      compactions.push([clock.now / 1000, revision]);
    },
  };
}

describe('periodic compactor', () => {
  it('waits one period, compacts at the revision of a period ago, then every period', async () => {
    const clock = new ManualClock();
    const t = target(clock);
    const c = startPeriodicCompactor(10_000, t, quiet, clock);
    await clock.advance(35_000, 500);
    await c.stop();
    // etcd records a revision every tenth of the period and keeps 11: after the first
    // compaction the oldest kept is 11 records old.
    expect(t.compactions).toEqual([[10, 100], [20, 109], [30, 119]]);
  });

  it('with a period over an hour, compacts every hour at the revision of a period ago', async () => {
    const clock = new ManualClock();
    const t = target(clock);
    const c = startPeriodicCompactor(2 * 3_600_000, t, quiet, clock);
    await clock.advance(4 * 3_600_000, 60_000);
    await c.stop();
    const hours = t.compactions.map(([s]) => s / 3600);
    expect(hours).toEqual([2, 3, 4]);
    // The revision compacted is about two hours (21 records of 6 minutes) older than the time.
    for (const [s, rev] of t.compactions) expect(100 + s - rev).toBeGreaterThanOrEqual(2 * 3600);
  });

  it('compacts only while leader (etcd pauses it on the other members)', async () => {
    const clock = new ManualClock();
    let leader = false;
    const t = target(clock, { leader: () => leader });
    const c = startPeriodicCompactor(10_000, t, quiet, clock);
    await clock.advance(25_000, 500);
    expect(t.compactions).toEqual([]);
    leader = true;
    await clock.advance(1_000, 500);
    await c.stop();
    expect(t.compactions).toHaveLength(1);
    expect(t.compactions[0]![0]).toBe(26);
  });

  it('retries a failed compaction a tenth of the period later; "already compacted" counts as done', async () => {
    const clock = new ManualClock();
    const log = recordingLog();
    const t = target(clock, { fail: (n) => (n === 0 ? new Error('no leader') : n === 1 ? EtcdErrors.Compacted : undefined) });
    const c = startPeriodicCompactor(10_000, t, log, clock);
    await clock.advance(21_000, 500);
    await c.stop();
    // t=10 fails, t=11 is "compacted" (a success, not recorded by the target), the next at t=21.
    expect(t.compactions).toEqual([[21, 110]]);
    expect(log.msgs.slice(0, 4)).toEqual([
      'starting auto periodic compaction', 'failed auto periodic compaction',
      'starting auto periodic compaction', 'completed auto periodic compaction',
    ]);
  });
});

describe('revision compactor', () => {
  it('every interval, compacts at the current revision minus the retention, never twice at one revision', async () => {
    const clock = new ManualClock();
    let rev = 5;
    const compactions: number[] = [];
    const c = startRevisionCompactor(10, {
      currentRevision: () => rev, isLeader: () => true, compact: async (r) => void compactions.push(r),
    }, quiet, clock, 1000);
    await clock.advance(2000, 500); // revision 5: nothing to keep 10 of
    rev = 30;
    await clock.advance(3000, 500); // 20, then nothing new
    rev = 31;
    await clock.advance(1000, 500);
    await c.stop();
    expect(compactions).toEqual([20, 21]);
  });

  it('uses etcd\'s 5 minute interval by default', async () => {
    const clock = new ManualClock();
    const compactions: number[] = [];
    const c = startRevisionCompactor(1, { currentRevision: () => 50, isLeader: () => true, compact: async (r) => void compactions.push(r) }, quiet, clock);
    await clock.advance(299_000, 1000);
    expect(compactions).toEqual([]);
    await clock.advance(1_000, 1000);
    await c.stop();
    expect(compactions).toEqual([49]);
  });
});

it.each<[number, string]>([[0, '0s'], [100, '100ms'], [1000, '1s'], [1500, '1.5s'], [600_000, '10m0s'], [3_600_000, '1h0m0s'], [5_400_000, '1h30m0s']])(
  'goDuration(%i) = %s', (ms, text) => expect(goDuration(ms)).toBe(text));
