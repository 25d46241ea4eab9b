import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';

/** A refused publish is tried again this soon, or as soon as a leader appears (checked this often). */
const PUBLISH_RETRY_MS = 100;
const LEADER_POLL_MS = 5;

/**
 * Proposes this member's attributes (name, client URLs) and waits until they are applied
 * here. As etcd, a member serves clients only after that: it needs a leader, and means
 * everything committed before is applied locally. Gives up only when `isClosed()`.
 */
export async function publishMember(core: ServerCore, isClosed: () => boolean, log: Logger): Promise<void> {
  for (;;) {
    try {
      // A catching-up member applies its publish entry only after everything before it.
      await core.publish(core.requestTimeoutMs);
      break;
    } catch (err) {
      if (isClosed()) throw new Error('raftkv: stopped before publishing');
      log.debug('publishing member attributes failed, retrying', { error: String(err) });
      // At boot the refusal is "no leader": retry the moment an election ends, not up to 100 ms later.
      const hadLeader = core.leaderId !== 0n;
      for (let waited = 0; waited < PUBLISH_RETRY_MS && (hadLeader || core.leaderId === 0n); waited += LEADER_POLL_MS) {
        await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
      }
    }
  }
  log.info('published member attributes', { name: core.self.name, clientUrls: core.self.clientUrls });
}
