import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';

/** A publish refused at once (no leader yet) is tried again this soon. */
const PUBLISH_RETRY_MS = 100;

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
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
    }
  }
  log.info('published member attributes', { name: core.self.name, clientUrls: core.self.clientUrls });
}
