/**
 * The Common Name of each verified client certificate, by the connection's remote
 * "address:port" (what gRPC's getPeer() reports, also through the front door's relays). The
 * front door records a connection once its certificate is verified and forgets it when it
 * closes; auth reads it for CN-based authentication (etcd's AuthInfoFromTLS).
 */
const byPeer = new Map<string, string>();

export function recordClientIdentity(remote: string, commonName: string, onClose: (forget: () => void) => void): void {
  byPeer.set(remote, commonName);
  onClose(() => {
    if (byPeer.get(remote) === commonName) byPeer.delete(remote);
  });
}

/** The verified certificate's CN of the connection `peer` ("address:port"), if it presented one. */
export function clientIdentity(peer: string): string | undefined {
  return byPeer.get(peer);
}
