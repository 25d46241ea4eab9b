import type { ServerDuplexStream } from '@grpc/grpc-js';
import { EtcdErrors, etcdserverpb, type EtcdError } from '@raftkv/api';
import type { WatchableStore, WatchStream } from '@raftkv/watch';
import { toNumber } from '../apply/convert.js';
import type { ServerCore } from '../server-core.js';
import { passingEncoded } from './encoded-responses.js';
import { toServiceError } from './unary.js';
import { WatchResponseEncoder } from './watch-wire.js';

type WatchCall = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse | Buffer>;

/** What etcd adds to --max-request-bytes for gRPC framing (v3rpc grpcOverheadBytes). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** A write of gathered responses is closed at this size (the last response may pass it). */
const MAX_WRITE_BYTES = 128 * 1024;

/**
 * The Watch service definition with a serializer that passes pre-encoded responses through:
 * a response is its header fields (encoded per watcher) followed by shared event bytes.
 */
export const WatchServiceWithEncodedResponses = {
  watch: passingEncoded(etcdserverpb.WatchService.watch),
} as const;

/**
 * The Watch service: one gRPC stream carries many watchers, each a watcher of the
 * WatchableStore. Responses leave in the order the stream queues them; when the HTTP/2 send
 * buffer is full the service stops taking from the queue (its watchers park, bounded) and stops
 * reading requests, until the buffer drains.
 *
 * As etcd's, a stream whose client half-closes stays open and keeps delivering events; it
 * ends only when the client cancels, its deadline passes or the connection closes.
 */
export function watchService(core: ServerCore, hub: WatchableStore) {
  return {
    watch: (call: WatchCall) => {
      // Nothing may escape to grpc-js (a closed hub during shutdown throws, for one).
      try {
        serve(call);
      } catch (err) {
        call.emit('error', toServiceError(err));
      }
    },
  };

  function serve(call: WatchCall): void {
    if (core.isLearner) {
      call.emit('error', toServiceError(EtcdErrors.NotSupportedForLearner));
      return;
    }
    let blocked = false;
    let closed = false;
    // The queued responses leave together, as one write of up to MAX_WRITE_BYTES: a write per
    // response cost more than encoding it (grpc-js and Node's stream machinery per message).
    const encoder = new WatchResponseEncoder((revision) => core.header(revision));
    const pump = () => {
      if (closed) return;
      while (!blocked) {
        for (let resp = stream.poll(); resp; resp = encoder.pendingBytes < MAX_WRITE_BYTES ? stream.poll() : undefined) {
          encoder.add(resp);
        }
        const write = encoder.take();
        if (!write) break;
        if (!call.write(write)) {
          blocked = true;
          call.pause();
        }
      }
    };
    // etcd splits a fragmenting watcher's responses at --max-request-bytes plus the 512 KiB it
    // allows for gRPC overhead (v3rpc's grpcOverheadBytes), not at --max-request-bytes alone.
    const stream: WatchStream = hub.newWatchStream({ onReadable: () => setImmediate(pump), maxResponseBytes: core.config.maxRequestBytes + GRPC_OVERHEAD_BYTES });
    call.on('drain', () => {
      blocked = false;
      call.resume();
      pump();
    });
    const handleSafely = (req: etcdserverpb.WatchRequest): void => {
      // An exception here would escape grpc-js's event and stop the process: answer it on
      // this stream instead (INTERNAL for a bug, logged) and end the stream.
      try {
        handle(req);
      } catch (err) {
        if (closed) return;
        call.emit('error', toServiceError(err));
        finish();
      }
    };
    // With auth on (or a token sent), creates wait for the caller's check; later requests queue
    // behind them so the stream keeps their order.
    let checking: Promise<void> | undefined;
    const needsCheck = (): boolean => core.auth.isEnabled || call.metadata.get('token').length > 0 || call.metadata.get('authorization').length > 0;
    call.on('data', (req: etcdserverpb.WatchRequest) => {
      if (checking === undefined && !(req.createRequest && needsCheck())) {
        handleSafely(req);
        return;
      }
      checking = (checking ?? Promise.resolve()).then(async () => {
        if (closed) return;
        const refusal = req.createRequest ? await watchRefusal(req.createRequest) : undefined;
        if (closed) return;
        if (refusal === undefined) {
          handleSafely(req);
          return;
        }
        // etcd's answer to a refused create: watch ID -1, created and canceled, with the reason.
        const refused = etcdserverpb.WatchResponse.encode({
          header: core.header(core.store.currentRevision), watchId: -1n, created: true, canceled: true,
          compactRevision: 0n, cancelReason: refusal, fragment: false, events: [],
        }).finish();
        call.write(Buffer.from(refused.buffer, refused.byteOffset, refused.byteLength));
      });
    });
    /** etcd's isWatchPermitted: read permission on the key or range ("\0" counts as the key alone, as 3.4 does). */
    const watchRefusal = async (c: etcdserverpb.WatchCreateRequest): Promise<string | undefined> => {
      const rangeEnd = c.rangeEnd.length === 1 && c.rangeEnd[0] === 0 ? Buffer.alloc(0) : c.rangeEnd;
      try {
        const ai = (await core.authenticator.authInfo(call)) ?? { username: '', revision: 0 };
        core.auth.checkRange(ai, c.key, rangeEnd);
        return undefined;
      } catch (err) {
        // etcd sends Go's text of the status error ("rpc error: code = ... desc = ..."): clientv3
        // compares it whole (it retries a watch refused for an invalid token).
        for (const known of [EtcdErrors.InvalidAuthToken, EtcdErrors.AuthOldRevision, EtcdErrors.UserEmpty]) {
          if (known.is(err)) return goStatusText(known);
        }
        return goStatusText(EtcdErrors.PermissionDenied);
      }
    };
    const handle = (req: etcdserverpb.WatchRequest): void => {
      if (req.createRequest) {
        const c = req.createRequest;
        stream.watch({
          key: c.key,
          rangeEnd: c.rangeEnd.length > 0 ? c.rangeEnd : undefined,
          startRevision: Math.max(0, toNumber(c.startRevision)),
          watchId: c.watchId,
          noPut: c.filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NOPUT),
          noDelete: c.filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NODELETE),
          prevKv: c.prevKv,
          progressNotify: c.progressNotify,
          fragment: c.fragment,
        });
      } else if (req.cancelRequest) {
        stream.cancel(req.cancelRequest.watchId);
      } else if (req.progressRequest) {
        stream.requestProgress();
      }
      pump();
    };
    const finish = () => {
      if (closed) return;
      closed = true;
      stream.close();
    };
    // A client that half-closes still wants its events (one-shot watchers, the HTTP gateway):
    // as in etcd the stream lives on until the client cancels, the deadline passes or the
    // connection goes, which 'cancelled' / 'close' report: 'end' (half-close) ends nothing.
    call.on('cancelled', finish);
    call.on('error', finish);
    call.on('close', finish);
  }
}

/** Go's names of the gRPC codes auth refusals use. */
const GO_CODE_NAMES: Partial<Record<number, string>> = { 3: 'InvalidArgument', 7: 'PermissionDenied', 16: 'Unauthenticated' };

/** What Go's status.Error(code, desc).Error() prints. */
function goStatusText(err: EtcdError): string {
  return `rpc error: code = ${GO_CODE_NAMES[err.code] ?? `Code(${err.code})`} desc = ${err.message}`;
}
