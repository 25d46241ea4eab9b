import type { ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, mvccpb } from '@raftkv/api';
import type { Event } from '@raftkv/mvcc';
import type { WatchableStore, WatchResponse, WatchStream } from '@raftkv/watch';
import { keyValueToWire, toNumber } from '../apply/convert.js';
import type { ServerCore } from '../server-core.js';

type WatchCall = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

// Every watcher of a revision is handed the same Event objects: convert each once, not once
// per watcher (100k watchers on a prefix would otherwise convert one put 100k times).
const wireEvents = new WeakMap<Event, mvccpb.Event>();

function eventToWire(ev: Event): mvccpb.Event {
  let wire = wireEvents.get(ev);
  if (wire === undefined) {
    wire = {
      type: ev.type === 'put' ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE,
      kv: keyValueToWire(ev.kv),
      prevKv: ev.prevKv ? keyValueToWire(ev.prevKv) : undefined,
    };
    wireEvents.set(ev, wire);
  }
  return wire;
}

/**
 * The Watch service: one gRPC stream carries many watchers, each a watcher of the
 * WatchableStore. Responses leave in the order the stream queues them; when the HTTP/2 send
 * buffer is full the service stops taking from the queue (its watchers park, bounded) and stops
 * reading requests, until the buffer drains.
 */
export function watchService(core: ServerCore, hub: WatchableStore): etcdserverpb.WatchServer {
  return {
    watch: (call: WatchCall) => {
      let blocked = false;
      let closed = false;
      const pump = () => {
        if (closed) return;
        while (!blocked) {
          const resp = stream.poll();
          if (!resp) break;
          if (!call.write(toWire(resp))) {
            blocked = true;
            call.pause();
          }
        }
      };
      const stream: WatchStream = hub.newWatchStream({ onReadable: () => setImmediate(pump) });
      const toWire = (r: WatchResponse): etcdserverpb.WatchResponse => ({
        header: { ...core.header(r.revision) },
        watchId: r.watchId,
        created: r.created,
        canceled: r.canceled,
        compactRevision: BigInt(r.compactRevision),
        cancelReason: r.cancelReason,
        fragment: r.fragment,
        events: r.events.map(eventToWire),
      });
      call.on('drain', () => {
        blocked = false;
        call.resume();
        pump();
      });
      call.on('data', (req: etcdserverpb.WatchRequest) => {
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
      });
      const finish = () => {
        if (closed) return;
        closed = true;
        stream.close();
      };
      call.on('end', () => {
        finish();
        call.end();
      });
      call.on('cancelled', finish);
      call.on('error', finish);
      call.on('close', finish);
    },
  };
}
