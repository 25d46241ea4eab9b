import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { etcdserverpb } from '@raftkv/api';
import { LeaseNotFoundError } from '@raftkv/lease';
import type { ServerCore } from '../server-core.js';
import { toServiceError, unary } from './unary.js';

/**
 * The Lease service. Grants and revokes go through the log; keepalives and time-to-live are
 * answered by the leader's lessor (on one member: this one), as in etcd.
 */
export function leaseService(core: ServerCore): etcdserverpb.LeaseServer {
  const header = () => core.header(core.store.currentRevision);
  return {
    leaseGrant: unary(async (req: etcdserverpb.LeaseGrantRequest) => {
      const granted = await core.leaseGrant(req);
      return { header: header(), ID: granted.id, TTL: BigInt(granted.ttlSeconds), error: '' };
    }),
    leaseRevoke: unary(async (req: etcdserverpb.LeaseRevokeRequest) => {
      await core.leaseRevoke(req.ID);
      return { header: header() };
    }),
    leaseTimeToLive: unary((req: etcdserverpb.LeaseTimeToLiveRequest) => {
      try {
        const t = core.lessor.timeToLive(req.ID, { keys: req.keys });
        return {
          header: header(), ID: req.ID, TTL: BigInt(t.remainingTtlSeconds), grantedTTL: BigInt(t.grantedTtlSeconds),
          keys: t.keys.map((k) => Buffer.from(k.buffer, k.byteOffset, k.byteLength)),
        };
      } catch (err) {
        // etcd answers an unknown lease with TTL -1, not an error.
        if (err instanceof LeaseNotFoundError) return { header: header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
        throw err;
      }
    }),
    leaseLeases: unary(() => ({ header: header(), leases: core.lessor.leases().map((ID) => ({ ID })) })),
    leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
      call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
        // The header is taken before the renewal, so a revoke can never look older than it.
        const response: etcdserverpb.LeaseKeepAliveResponse = { header: header(), ID: req.ID, TTL: 0n };
        try {
          response.TTL = BigInt(core.lessor.renew(req.ID));
        } catch (err) {
          if (!(err instanceof LeaseNotFoundError)) {
            call.emit('error', toServiceError(err));
            return;
          }
          // etcd answers a keepalive of an unknown or expired lease with TTL 0.
        }
        call.write(response);
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  };
}
