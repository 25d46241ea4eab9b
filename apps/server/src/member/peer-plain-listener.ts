// An http peer URL served by our own listener, not grpc-js's: the peer transport takes its raw
// streams off the connections and hands the rest (gRPC: snapshots, member RPCs, older members'
// streams) to grpc-js.
import type { Duplex } from 'node:stream';
import { listenPeerSockets, type PeerTlsListener } from '../security/peer-tls-listener.js';

/** Listens on `url` (http://host:port) and hands each connection to `accept`. */
export function listenPeerPlain(url: URL, accept: (socket: Duplex) => void): Promise<PeerTlsListener> {
  return listenPeerSockets(url, (socket) => {
    socket.setNoDelay(true);
    accept(socket);
  });
}
