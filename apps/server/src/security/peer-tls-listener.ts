/**
 * An https peer URL: TLS terminated here (a tls.Server fed the listener's sockets, its settings
 * fetched per handshake so rotated peer certificates apply without a restart), then the
 * member's checks as etcd makes them (a verified client certificate with --peer-client-cert-auth
 * or a trusted CA, --peer-cert-allowed-cn / -hostname, the certificate's SANs against the
 * caller's address unless --experimental-peer-skip-client-san-verification, the CRL), each
 * refusal logged as etcd's "rejected connection" with the reason. Accepted connections are
 * handed on (to grpc-js's connection injector).
 */
import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { TlsServerSettings } from '../front-door/index.js';
import type { Logger } from '../logger.js';
import type { PeerSecurity } from './transport-security.js';

export interface PeerTlsListener {
  /** host:port bound. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Bounds a peer that connects and never finishes its handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Listens on `url` (https://host:port) and hands each accepted, checked TLS connection to `accept`. */
export async function listenPeerTls(
  url: URL, peer: PeerSecurity, accept: (secured: tls.TLSSocket) => void, log: Logger,
): Promise<PeerTlsListener> {
  const tlsServer = tls.createServer({ ALPNProtocols: ['h2'], handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  const pending = new WeakMap<net.Socket, TlsServerSettings>();
  let current: TlsServerSettings | undefined;
  const reject = (remote: string, secured: tls.TLSSocket | undefined, error: string): void => {
    const fields: Record<string, unknown> = { 'remote-addr': remote, 'server-name': secured?.servername || '' };
    const raw = secured?.getPeerX509Certificate();
    if (raw !== undefined) {
      const sans = sanList(raw);
      fields['ip-addresses'] = sans.ips;
      fields['dns-names'] = sans.dns;
    }
    log.warn('rejected connection', { ...fields, error });
    secured?.destroy();
  };
  tlsServer.on('secureConnection', (secured: tls.TLSSocket) => {
    secured.on('error', () => {});
    // tls.Server wraps the socket it was fed; `_parent` is that socket (see front-door.ts).
    const raw = (secured as unknown as { _parent?: net.Socket })._parent;
    const settings = raw === undefined ? undefined : pending.get(raw);
    if (raw === undefined || settings === undefined) return void secured.destroy();
    const remote = `${raw.remoteAddress}:${raw.remotePort}`;
    void check(secured, settings, peer, raw.remoteAddress ?? '').then((why) => {
      if (why !== undefined) reject(remote, secured, why);
      else if (!secured.destroyed) accept(secured);
    }, (err: unknown) => reject(remote, secured, String(err)));
  });
  tlsServer.on('tlsClientError', (err: Error, secured: tls.TLSSocket) => {
    const raw = (secured as unknown as { _parent?: net.Socket })._parent;
    reject(raw ? `${raw.remoteAddress}:${raw.remotePort}` : 'unknown', undefined, err.message);
  });

  return listenPeerSockets(url, (socket) => {
    void peer.provider.settingsFor().then((settings) => {
      if (socket.destroyed) return;
      if (settings !== current) {
        tlsServer.setSecureContext(settings.context);
        current = settings;
      }
      // The client certificate is asked for here and checked in `check`, so a refusal is logged with its reason.
      const s = tlsServer as tls.Server & { requestCert: boolean; rejectUnauthorized: boolean };
      s.requestCert = settings.requestCert;
      s.rejectUnauthorized = false;
      pending.set(socket, settings);
      tlsServer.emit('connection', socket);
    }, () => socket.destroy());
  });
}

/** A TCP server on the peer URL's host and port, handing each connection to `onSocket`; close destroys them all. */
export async function listenPeerSockets(url: URL, onSocket: (socket: net.Socket) => void): Promise<PeerTlsListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
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

/** Why a member's connection is refused, or undefined to accept it. */
async function check(secured: tls.TLSSocket, settings: TlsServerSettings, peer: PeerSecurity, remoteIp: string): Promise<string | undefined> {
  const cert = secured.getPeerX509Certificate();
  if (settings.requestCert) {
    if (cert === undefined) return "tls: client didn't provide a certificate";
    if (!secured.authorized) return `tls: failed to verify client's certificate: ${String(secured.authorizationError)}`;
    if (peer.allowedCn !== '' && subjectCn(cert) !== peer.allowedCn) return 'client certificate authentication failed';
    if (peer.allowedHostname !== '' && cert.checkHost(peer.allowedHostname) === undefined) return 'client certificate authentication failed';
  }
  if (cert !== undefined && peer.checkClientSan) return checkSan(cert, remoteIp);
  return undefined;
}

/** etcd's checkCertSAN: a certificate with SANs must name the caller's address (an IP, or a DNS name resolving to it). */
async function checkSan(cert: X509Certificate, remoteIp: string): Promise<string | undefined> {
  const { ips, dns } = sanList(cert);
  if (ips.length === 0 && dns.length === 0) return undefined;
  const host = remoteIp.replace(/^::ffff:/, '');
  if (ips.length > 0 && cert.checkIP(host) !== undefined) return undefined;
  if (dns.length === 0) return `x509: certificate is valid for ${ips.join(', ')}, not ${host}`;
  for (const name of dns) {
    const addrs = await lookup(name, { all: true }).catch(() => []);
    if (addrs.some((a) => a.address === host)) return undefined;
  }
  return `tls: ${JSON.stringify(host)} does not match any of DNSNames ${JSON.stringify(dns)}`;
}

function subjectCn(cert: X509Certificate): string {
  const line = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  return line === undefined ? '' : line.slice(3);
}

function sanList(cert: X509Certificate): { ips: string[]; dns: string[] } {
  const ips: string[] = [];
  const dns: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('IP Address:')) ips.push(part.slice('IP Address:'.length));
    else if (part.startsWith('DNS:')) dns.push(part.slice(4));
  }
  return { ips, dns };
}
