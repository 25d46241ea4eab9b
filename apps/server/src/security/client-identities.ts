import { randomBytes } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';

/**
 * The Common Name of each verified client certificate, by its connection's four-tuple (local
 * and remote address and port; also what the front door's relays report). The front door
 * records a connection once its certificate is verified and forgets it when it closes; auth
 * reads it for CN-based authentication (etcd's AuthInfoFromTLS). The whole four-tuple, not just
 * the remote end: Linux may reuse a client port towards another server port, so a plain
 * connection could otherwise share a verified one's key.
 */
const byConnection = new Map<string, { readonly commonName: string }>();

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
  // Each connection forgets only its own entry: on loopback Linux reuses a four-tuple at once
  // (tcp_tw_reuse), so a closed connection's 'close' may come after a new connection with the
  // same ends, and the same CN, was recorded.
  const entry = { commonName };
  byConnection.set(key, entry);
  onClose(() => {
    if (byConnection.get(key) === entry) byConnection.delete(key);
  });
}

/** The verified certificate's CN of the connection `key`, if it presented one. */
export function clientIdentity(key: string): string | undefined {
  return byConnection.get(key)?.commonName;
}

/**
 * The metadata header by which the front door's HTTP/2 relay names the client connection of
 * each request. A relayed connection reaches gRPC as a JS stream, which has no addresses, so
 * grpc-js reports no ends for its calls. The value carries a secret made at start: the relay
 * drops any value a client sent, and no one outside the process can forge one.
 */
export const RELAYED_CONNECTION_HEADER = 'raftkv-relayed-connection';
const RELAY_SECRET = randomBytes(16).toString('hex');

/** The header value the relay adds for the connection `key`. */
export function relayedConnectionValue(key: string): string {
  return `${RELAY_SECRET} ${key}`;
}

/** The connection key a relay named, if the value is one of this process's relays'. */
export function keyOfRelayedConnection(value: string): string | undefined {
  return value.startsWith(`${RELAY_SECRET} `) ? value.slice(RELAY_SECRET.length + 1) : undefined;
}

/**
 * The key of the connection a gRPC call came on: from its ends, which grpc-js keeps on the call
 * object its server calls wrap (`call.call.getConnectionInfo()`, public on the interceptor API
 * since 1.10, not yet on the handler's call), or, for a relayed connection (no ends), from the
 * relay's header. Undefined if neither is there, which only turns CN auth off for the call.
 */
export function connectionKeyOfCall(call: { metadata: Metadata }): string | undefined {
  const inner = (call as { call?: { getConnectionInfo?: () => ConnectionEnds } }).call;
  const ends = typeof inner?.getConnectionInfo === 'function' ? inner.getConnectionInfo() : undefined;
  const direct = ends === undefined ? undefined : connectionKey(ends);
  if (direct !== undefined) return direct;
  const relayed = call.metadata.get(RELAYED_CONNECTION_HEADER)[0];
  return typeof relayed === 'string' ? keyOfRelayedConnection(relayed) : undefined;
}
