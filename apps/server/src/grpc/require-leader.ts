import { Metadata, ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { EtcdErrors } from '@raftkv/api';

/**
 * etcd's `hasleader: true` metadata (clientv3.WithRequireLeader; `etcdctl watch` and Kubernetes'
 * watches send it): the caller would rather hear "no leader" than be served by a member cut off
 * from its cluster, where a watch would otherwise stay silent for as long as the partition lasts.
 */
const REQUIRE_LEADER_KEY = 'hasleader';
const HAS_LEADER = 'true';

/**
 * Election timeouts in a row without a leader before open streams that asked for one are ended
 * (etcd's maxNoLeaderCnt): reconnecting a stream costs more than refusing a new call, so a
 * short election does not cut them.
 */
export const MAX_NO_LEADER_COUNT = 3;

export interface RequireLeader {
  /** Give it to the gRPC server's `interceptors`, after any that count calls (they then see the status). */
  readonly interceptor: ServerInterceptor;
  /** For a unary call served outside the interceptors (grpc/lean-unary.ts): the status refusing it, if any. */
  refuses(metadata: Metadata): { code: number; details: string } | undefined;
  /** Stops the leader monitor. */
  close(): void;
}

/**
 * A call carrying `hasleader: true` is refused with etcd's `no leader` while the member knows
 * no leader; a stream that was let in is ended the same way once the member has been without a
 * leader for {@link MAX_NO_LEADER_COUNT} election timeouts, as etcd's monitorLeader does. Calls
 * without the metadata are untouched.
 */
export function requireLeader(hasLeader: () => boolean, electionTimeoutMs: number): RequireLeader {
  const streams = new Set<ServerInterceptingCallInterface>();
  const noLeader = () => {
    const err = EtcdErrors.NoLeader.toServiceError();
    return { code: err.code!, details: err.details!, metadata: new Metadata() };
  };

  let noLeaderCount = 0;
  const monitor = setInterval(() => {
    noLeaderCount = hasLeader() ? 0 : noLeaderCount + 1;
    if (noLeaderCount < MAX_NO_LEADER_COUNT) return;
    const ending = [...streams];
    streams.clear();
    for (const call of ending) call.sendStatus(noLeader());
  }, electionTimeoutMs);
  monitor.unref();

  const interceptor: ServerInterceptor = (desc, call) => {
    const isStream = desc.requestStream || desc.responseStream;
    return new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, nextMetadata) => {
          if (metadata.get(REQUIRE_LEADER_KEY)[0] !== HAS_LEADER) {
            nextMetadata(metadata);
            return;
          }
          // Refused before the handler sees the call: nothing is read, proposed or watched.
          if (!hasLeader()) {
            call.sendStatus(noLeader());
            return;
          }
          if (isStream) streams.add(call);
          nextMetadata(metadata);
        },
        onCancel: () => {
          streams.delete(call);
        },
      }),
      sendStatus: (status, next) => {
        streams.delete(call);
        next(status);
      },
    });
  };

  const refuses = (metadata: Metadata) => (metadata.get(REQUIRE_LEADER_KEY)[0] === HAS_LEADER && !hasLeader() ? noLeader() : undefined);
  return { interceptor, refuses, close: () => clearInterval(monitor) };
}
