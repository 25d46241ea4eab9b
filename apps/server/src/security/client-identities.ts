/**
 * The Common Name of each verified client certificate, by its connection's four-tuple (local
 * and remote address and port; also what the front door's relays report). The front door
 * records a connection once its certificate is verified and forgets it when it closes; auth
 * reads it for CN-based authentication (etcd's AuthInfoFromTLS). The whole four-tuple, not just
 * the remote end: Linux may reuse a client port towards another server port, so a plain
 * connection could otherwise share a verified one's key.
 */
const byConnection = new Map<string, string>();

export interface ConnectionEnds {
  localAddress?: string | undefined;
  localPort?: number | undefined;
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

/** The map key of a connection; undefined when an end is unknown (unix sockets). */
export function connectionKey(c: ConnectionEnds): string | undefined {
  if (c.localAddress === undefined || c.localPort === undefined || c.remoteAddress === undefined || c.remotePort === undefined) return undefined;
  return `${c.localAddress}:${c.localPort}|${c.remoteAddress}:${c.remotePort}`;
}

export function recordClientIdentity(key: string, commonName: string, onClose: (forget: () => void) => void): void {
  byConnection.set(key, commonName);
  onClose(() => {
    if (byConnection.get(key) === commonName) byConnection.delete(key);
  });
}

/** The verified certificate's CN of the connection `key`, if it presented one. */
export function clientIdentity(key: string): string | undefined {
  return byConnection.get(key);
}
