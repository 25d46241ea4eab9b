import { EtcdErrors } from '@raftkv/api';
import { LeaseNotFoundError, type Lessor } from '@raftkv/lease';

/** How often a renewal of an expired lease looks again whether its revoke has been applied. */
const REVOKE_POLL_MS = 10;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The TTL of lease `id` once renewed, if the lessor renews it at once (primary, lease live);
 * `undefined` otherwise, with nothing changed. Keepalive's hot path: no promise, no async frame.
 */
export function renewAtOnce(lessor: Lessor, id: bigint): number | undefined {
  try {
    return lessor.renew(id);
  } catch {
    return undefined;
  }
}

/**
 * etcd's Lessor.Renew on the primary: renews lease `id` and gives its TTL, as a number when
 * renewed at once (see {@link renewAtOnce}), else as a promise. The renewal of a lease that has
 * expired but whose revoke is not applied yet (the leader's expiry loop proposes it within
 * ~500 ms) is not answered at once: as etcd, it waits for that revoke and then rejects with
 * LeaseNotFoundError. So a client told "not found" never finds the lease or its keys later, and
 * the answer's header revision includes the revoke's deletes.
 *
 * Every failure is a rejection (never a throw): LeaseNotFoundError; NotPrimaryError if this
 * lessor is not or stops being primary (etcd's demotion: the caller retries where the leader is
 * now); `Stopped` once `stopped()` holds; `Timeout` at `deadlineMs` (a wall-clock time, as
 * `Date.now()`).
 */
export function renewOnPrimary(lessor: Lessor, id: bigint, until: { deadlineMs: number; stopped(): boolean }): number | Promise<number> {
  return renewAtOnce(lessor, id) ?? renewOrAwaitRevoke(lessor, id, until);
}

async function renewOrAwaitRevoke(lessor: Lessor, id: bigint, until: { deadlineMs: number; stopped(): boolean }): Promise<number> {
  for (;;) {
    try {
      return lessor.renew(id);
    } catch (err) {
      // Unknown (or already revoked), or not primary: answered at once.
      if (!(err instanceof LeaseNotFoundError) || lessor.lookup(id) === undefined) throw err;
    }
    if (until.stopped()) throw EtcdErrors.Stopped;
    if (Date.now() >= until.deadlineMs) throw EtcdErrors.Timeout;
    await sleep(REVOKE_POLL_MS);
  }
}
