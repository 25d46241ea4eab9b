// An http peer URL served by our own listener, not grpc-js's: the peer transport takes its raw
// streams off the connections and hands the rest (gRPC: snapshots, member RPCs, older members'
// streams) to grpc-js.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerTlsListener } from '../security/peer-tls-listener.js';

/** Listens on `url` (http://host:port) and hands each connection to `accept`. */
export async function listenPeerPlain(url: URL, accept: (socket: Duplex) => void): Promise<PeerTlsListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    accept(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    endpoint: `${url.hostname}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}
