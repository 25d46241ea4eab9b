import { credentials } from '@grpc/grpc-js';
import { Client } from '@raftkv/client';
import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config/index.js';

/**
 * The member's client of itself, over its own client listener (etcd builds its Lock and Election
 * services on clientv3 recipes over an in-process client; grpc-js has no in-process transport).
 * Lazy: it dials on first use, after the listener is open. (A listen URL with port 0 is not
 * reachable this way: the port is only known once bound.)
 */
export function loopbackClient(config: ServerConfig): Client {
  const url = config.listenClientUrls[0];
  if (url === undefined) throw new Error('no client listener to reach the member from its Lock/Election services');
  const unix = url.protocol === 'unix:' || url.protocol === 'unixs:';
  const host = url.hostname === '' || url.hostname === '0.0.0.0' ? '127.0.0.1' : url.hostname === '[::]' ? '[::1]' : url.hostname;
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  // The front door listens on unix://<path> at `${host}${pathname}` (see front-door.ts).
  const endpoint = unix ? `unix:${url.host}${url.pathname}` : `${host}:${port}`;
  const tls = url.protocol === 'https:' || url.protocol === 'unixs:';
  const file = (path: string): Buffer | null => (path === '' ? null : readFileSync(path));
  const t = config.clientTls;
  // The member talks to itself: the server's own certificate serves as the client certificate
  // (for --client-cert-auth); the peer is this process, so its certificate is not checked again.
  const creds = tls
    ? credentials.createSsl(file(t.trustedCaFile), file(t.keyFile), file(t.certFile), { rejectUnauthorized: false, checkServerIdentity: () => undefined })
    : credentials.createInsecure();
  return new Client({ endpoints: [endpoint], credentials: creds, retryTimeoutMs: 5_000 });
}
