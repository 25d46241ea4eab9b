import type { ServerDuplexStream } from '@grpc/grpc-js';
import { EtcdErrors, type etcdserverpb } from '@raftkv/api';
import type { ServerCore } from '../server-core.js';
import { toServiceError, unary } from './unary.js';

/**
 * The Lease service. Grants and revokes go through the log; keepalives and time-to-live are
 * answered by the leader's lessor, as in etcd: a follower forwards them to the leader.
 */
export function leaseService(core: ServerCore): etcdserverpb.LeaseServer {
  const header = () => core.header(core.store.currentRevision);
  return {
    leaseGrant: unary(async (req: etcdserverpb.LeaseGrantRequest) => {
      core.refuseOnLearner();
      const granted = await core.leaseGrant(req);
      return { header: header(), ID: granted.id, TTL: BigInt(granted.ttlSeconds), error: '' };
    }),
    leaseRevoke: unary(async (req: etcdserverpb.LeaseRevokeRequest) => {
      core.refuseOnLearner();
      await core.leaseRevoke(req.ID);
      return { header: header() };
    }),
    leaseTimeToLive: unary(async (req: etcdserverpb.LeaseTimeToLiveRequest) => {
      core.refuseOnLearner();
      try {
        const t = await core.leaseTimeToLive(req.ID, req.keys);
        return {
          header: header(), ID: req.ID, TTL: BigInt(t.ttl), grantedTTL: BigInt(t.grantedTtl),
          keys: t.keys.map((k) => Buffer.from(k, 'base64')),
        };
      } catch (err) {
        // etcd answers an unknown lease with TTL -1, not an error.
        if (EtcdErrors.LeaseNotFound.is(err)) return { header: header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
        throw err;
      }
    }),
    leaseLeases: unary(() => {
      core.refuseOnLearner();
      return { header: header(), leases: core.lessor.leases().map((ID) => ({ ID })) };
    }),
    leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
      if (core.isLearner) {
        call.emit('error', toServiceError(EtcdErrors.NotSupportedForLearner));
        return;
      }
      // Renewals may be forwarded to the leader: answer them one at a time, in request order.
      let chain = Promise.resolve();
      let failed = false;
      call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
        chain = chain.then(async () => {
          if (failed) return;
          // The header is taken before the renewal, so a revoke can never look older than it.
          const response: etcdserverpb.LeaseKeepAliveResponse = { header: header(), ID: req.ID, TTL: 0n };
          try {
            response.TTL = BigInt(await core.leaseRenew(req.ID));
          } catch (err) {
            if (!EtcdErrors.LeaseNotFound.is(err)) {
              failed = true;
              call.emit('error', toServiceError(err));
              return;
            }
            // etcd answers a keepalive of an unknown or expired lease with TTL 0.
          }
          call.write(response);
        });
      });
      call.on('end', () => void chain.then(() => call.end()));
      call.on('error', () => undefined);
    },
  };
}
