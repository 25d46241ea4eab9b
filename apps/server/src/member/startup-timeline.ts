import type { Logger } from '../logger.js';

/** A start-up phase, in the order a member passes them. */
export type StartupPhase =
  | 'modules loaded'
  | 'data dir locked'
  | 'identity resolved'
  | 'backend opened'
  | 'key index rebuilt'
  | 'peers listening'
  | 'wal replayed'
  | 'services built'
  | 'first leader known'
  | 'published'
  | 'ready';

/**
 * The start-up timeline: one debug line per phase with the milliseconds since the process
 * started (performance.now() counts from the process's time origin, so module loading is
 * included) and since the previous phase. `--log-level debug` shows where a slow start waits.
 */
export class StartupTimeline {
  private lastMs: number;
  private readonly seen = new Set<StartupPhase>();

  constructor(private readonly log: Logger, startMs = 0) {
    this.lastMs = startMs;
  }

  /** Logs `phase` reached now (or at `atMs`, a performance.now() reading); each phase once. */
  mark(phase: StartupPhase, fields?: Record<string, unknown>, atMs: number = performance.now()): void {
    if (this.seen.has(phase)) return;
    this.seen.add(phase);
    const cpu = process.cpuUsage();
    this.log.debug('start-up phase', {
      phase, 'since-start-ms': Math.round(atMs), 'phase-ms': Math.round(atMs - this.lastMs),
      // CPU of the whole process so far (every thread): on a busy machine the wall figures
      // include waits for a core, this does not.
      'cpu-ms': Math.round((cpu.user + cpu.system) / 1000), ...fields,
    });
    this.lastMs = atMs;
  }

  /** True once `phase` was marked. */
  has(phase: StartupPhase): boolean {
    return this.seen.has(phase);
  }
}
