import { Lessor, minLeaseTtlSeconds } from '@raftkv/lease';
import type { MvccStore } from '@raftkv/mvcc';
import { alarmName } from '../alarm/alarm-store.js';
import { Applier, DEFAULT_COMMIT_POLICY } from '../apply/applier.js';
import type { Membership } from '../cluster/membership.js';
import type { ServerConfig } from '../config/index.js';
import { BackendLeaseStore } from '../lease/backend-lease-store.js';
import type { Logger } from '../logger.js';

/** What committed entries are applied to: the lessor beside the MVCC store, and the applier that drives both. */
export interface StateMachine {
  readonly lessor: Lessor;
  readonly applier: Applier;
}

/**
 * Builds the lessor (recovered from the backend's lease bucket and leased keys) and the
 * applier. `onFatal` is called only for local failures (a closed store, a failed backend commit).
 */
export function buildStateMachine(
  store: MvccStore, membership: Membership, config: ServerConfig, log: Logger, onFatal: (err: unknown) => void,
): StateMachine {
  const lessor = new Lessor({
    clock: { nowMs: () => performance.now() },
    store: new BackendLeaseStore(store.bucket('lease')),
    // A test knob: etcd 3.4 has no flag for the interval (5 minutes).
    ...(Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) > 0
      ? { checkpointIntervalMs: Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) } : {}),
    minTtlSeconds: minLeaseTtlSeconds(Math.max(1, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)), config.heartbeatIntervalMs),
  });
  lessor.recover(leasedKeys(store, () => lessor.size > 0));
  store.setLeaseChecker((lease) => lessor.lookup(lease) !== undefined);
  const applier = new Applier(store, lessor, membership, onFatal, (entry) => {
    log.error('skipped a log entry that cannot be applied (a bug: please report it with this line)', { ...entry });
  }, {
    intervalMs: config.backendBatchIntervalMs || DEFAULT_COMMIT_POLICY.intervalMs,
    limitEntries: config.backendBatchLimit || DEFAULT_COMMIT_POLICY.limitEntries,
  });
  // etcd's lines: an alarm type raised or disarmed cluster-wide (through the log).
  applier.onAlarmChange = ({ change, alarm }) => {
    log.warn(change === 'raised' ? 'alarm raised' : 'alarm disarmed', { alarm: alarmName(alarm.alarm), from: alarm.memberID });
  };
  return { lessor, applier };
}

/**
 * Every live key that names a lease, for rebuilding the lessor's attachments. Lazy: the scan
 * starts when Lessor.recover reads the first key, after it loaded the leases; `anyLease` false
 * then (no lease to attach to) skips the scan of every key, 1-2 s at 100,000 keys.
 */
export function* leasedKeys(store: MvccStore, anyLease: () => boolean = () => true): Iterable<{ key: Uint8Array; lease: bigint }> {
  if (!anyLease()) return;
  const all = store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), keysOnly: true });
  for (const kv of all.kvs) if (kv.lease !== 0n) yield { key: kv.key, lease: kv.lease };
}
