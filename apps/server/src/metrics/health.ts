/** etcd 3.4's /health waits this long for its check through raft. */
export const HEALTH_READ_TIMEOUT_MS = 1_000;

/** What /health looks at in a member. */
export interface HealthSources {
  /** The leader's ID as this member knows it; 0 when there is none. */
  leaderId(): bigint;
  /**
   * Resolves once this member has applied a point confirmed by a quorum of the cluster (a
   * ReadIndex round); rejects (or never settles) when it cannot.
   */
  confirmQuorumRead(): Promise<unknown>;
  /**
   * Names of the alarms active in the cluster (etcd's AlarmType names: NOSPACE, CORRUPT).
   * raftkv has no alarm store yet: the default is none.
   */
  activeAlarms?(): readonly string[];
}

export interface HealthLog {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * etcd 3.4's health check (etcdserver/api/etcdhttp/metrics.go checkHealth), in its order: an
 * active alarm not excluded by `?exclude=NAME` → unhealthy; no leader → unhealthy; then a request
 * through raft must complete within {@link HEALTH_READ_TIMEOUT_MS}.
 *
 * etcd's request is a v2 QGET, a proposal that goes through the log (and its WAL fsync). raftkv
 * has no v2 store and asks for a ReadIndex instead: it proves the same things (a leader a quorum
 * still follows, and this member applying up to the cluster's commit point) without writing a
 * log entry per probe. Concurrent checks share one round, so probes of a member without quorum
 * cannot pile up requests in raft.
 */
export class HealthChecker {
  private inFlight: Promise<boolean> | undefined;

  constructor(
    private readonly sources: HealthSources,
    private readonly log: HealthLog,
    private readonly onResult: (healthy: boolean) => void = () => undefined,
    private readonly timeoutMs = HEALTH_READ_TIMEOUT_MS,
  ) {}

  async check(excludedAlarms: ReadonlySet<string> = new Set()): Promise<boolean> {
    const healthy = await this.evaluate(excludedAlarms);
    this.onResult(healthy);
    return healthy;
  }

  private evaluate(excludedAlarms: ReadonlySet<string>): Promise<boolean> | boolean {
    for (const alarm of this.sources.activeAlarms?.() ?? []) {
      if (excludedAlarms.has(alarm)) continue;
      this.log.warn('/health error due to an alarm', { alarm });
      return false;
    }
    if (this.sources.leaderId() === 0n) {
      this.log.warn('/health error; no leader (status code 503)');
      return false;
    }
    this.inFlight ??= this.quorumRead().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private quorumRead(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn('/health error; the read through raft did not complete in time (status code 503)', { timeoutMs: this.timeoutMs });
        resolve(false);
      }, this.timeoutMs);
      this.sources.confirmQuorumRead().then(
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.log.warn('/health error; the read through raft failed (status code 503)', { error: String(err) });
          resolve(false);
        },
      );
    });
  }
}
