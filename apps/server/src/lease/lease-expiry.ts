import type { Lessor } from '@raftkv/lease';
import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';

/** How often the leader looks for expired leases and due checkpoints (etcd: every 500 ms). */
const EXPIRY_INTERVAL_MS = 500;
/** Revokes proposed per round at most; the lessor paces them further (its revoke rate). */
const MAX_REVOKES_PER_ROUND = 500;
const MAX_CHECKPOINTS_PER_ROUND = 1000;

/**
 * The leader's lease loop: expired leases become LeaseRevoke proposals, due remaining-TTL
 * checkpoints become one LeaseCheckpoint proposal. Only the leader runs it, so every member
 * revokes the same leases at the same point of the log.
 */
export function startLeaseExpiry(core: ServerCore, lessor: Lessor, log: Logger, onExpired?: () => void): () => void {
  const timer = setInterval(() => {
    if (!lessor.isPrimary) return;
    for (const id of lessor.expired(MAX_REVOKES_PER_ROUND)) {
      core.leaseRevoke(id).then(
        () => onExpired?.(),
        (err: unknown) => log.debug('lease revoke failed', { lease: id, error: String(err) }),
      );
    }
    const checkpoints = lessor.checkpoints(MAX_CHECKPOINTS_PER_ROUND);
    if (checkpoints.length > 0) {
      core.leaseCheckpoint(checkpoints.map((c) => ({ ID: c.id, remainingTTL: BigInt(c.remainingTtlSeconds) })))
        .catch((err: unknown) => log.warn('lease checkpoint failed', { error: String(err) }));
    }
  }, EXPIRY_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
