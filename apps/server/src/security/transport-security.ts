/**
 * The member's TLS, from its configuration, checked and set up at start as etcd 3.4 does
 * (embed.configureClientListeners / configurePeerListeners): cipher suites parsed first (an
 * unknown name stops the start), --auto-tls certificates made in `<data-dir>/fixtures/client`
 * and `.../peer` when no cert/key is given, a warning for certificates beside http URLs, etcd's
 * error for an https URL without them, and the files loaded once so a bad one stops the start.
 */
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { ServerConfig, TlsConfig } from '../config/index.js';
import type { TlsServerSettings } from '../front-door/index.js';
import type { Logger } from '../logger.js';
import { CertificateProvider, type CertificateFiles } from './certificate-provider.js';
import { openSslCipherList } from './cipher-suites.js';

/** Peer TLS: the listener's settings and how to dial other members. */
export interface PeerSecurity {
  readonly provider: CertificateProvider;
  /** --peer-cert-allowed-cn: the CN a member's client certificate must carry ('' any). */
  readonly allowedCn: string;
  /** --peer-cert-allowed-hostname ('' any). */
  readonly allowedHostname: string;
  /** Check a dialing member's certificate SANs against its address (etcd's checkSAN). */
  readonly checkClientSan: boolean;
  /**
   * Credentials to dial https peer URLs with: this member's certificate, the trusted CA, as the
   * files held when last read (each call also starts a check of the files, so a rotated
   * certificate is used from a later dial on).
   */
  readonly channelCredentials: () => ChannelCredentials;
  /** The same certificate and trust as TLS options, for the raw raft streams to https peers (asked at every dial). */
  readonly rawTlsOptions: () => ConnectionOptions;
}

export interface TransportSecurity {
  /** Settings for the https:// and unixs:// client URLs; undefined when there are none. */
  readonly client?: CertificateProvider;
  /** Peer TLS; undefined when the member has no peer certificate (none given, no --peer-auto-tls). */
  readonly peer?: PeerSecurity;
}

const isSecure = (u: URL): boolean => u.protocol === 'https:' || u.protocol === 'unixs:';
const hasFiles = (t: TlsConfig): boolean => t.certFile !== '' || t.keyFile !== '';

/** Is the member configured for peer TLS (so https peer URLs can be dialled)? */
export function hasPeerTls(config: ServerConfig): boolean {
  return hasFiles(config.peerTls) || config.peerTls.autoTls;
}

/**
 * Sets up both sides' TLS.
 * @throws Error with etcd's message: an unknown cipher suite, an https client URL without
 *   cert/key, an https peer URL without them, or files that do not make a TLS context.
 */
export async function openTransportSecurity(config: ServerConfig, log: Logger): Promise<TransportSecurity> {
  const ciphers = openSslCipherList(config.cipherSuites);
  const client = await clientSide(config, ciphers, log);
  const peer = await peerSide(config, ciphers, log);
  return { ...(client ? { client } : {}), ...(peer ? { peer } : {}) };
}

async function autoFiles(
  side: 'client' | 'peer', given: CertificateFiles, autoTls: boolean, config: ServerConfig, urls: readonly URL[], log: Logger,
): Promise<CertificateFiles> {
  if (!autoTls) return given;
  if (given.certFile !== '' || given.keyFile !== '') {
    log.warn(`ignoring ${side} auto TLS since certs given`);
    return given;
  }
  // Loaded only for --auto-tls: @peculiar/x509 and its ASN.1 schemas cost ~0.2 s at start-up
  // (scripts/bundle.mjs leaves this module out of the bundle too).
  const { selfCert } = await import('./self-signed.js');
  const made = await selfCert(join(config.dataDir, 'fixtures', side), urls.map((u) => u.host), side === 'peer', log);
  // etcd's self-signed TLSInfo has no CA: nothing to verify the other side with.
  return { ...given, ...made, trustedCaFile: '' };
}

async function clientSide(config: ServerConfig, ciphers: string | undefined, log: Logger): Promise<CertificateProvider | undefined> {
  const t = config.clientTls;
  const given = { certFile: config.clientTls.certFile, keyFile: config.clientTls.keyFile, trustedCaFile: config.clientTls.trustedCaFile, crlFile: config.clientTls.crlFile };
  const files = await autoFiles('client', given, config.clientTls.autoTls, config, config.listenClientUrls, log);
  const empty = files.certFile === '' && files.keyFile === '';
  for (const u of config.listenClientUrls) {
    const url = u.href.replace(/\/$/, '');
    if (!isSecure(u)) {
      if (!empty) log.warn('scheme is HTTP while key and cert files are present; ignoring key and cert files', { 'client-url': url });
      if (t.clientCertAuth) log.warn('scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL', { 'client-url': url });
    } else if (empty) {
      throw new Error(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
    }
  }
  if (!config.listenClientUrls.some(isSecure)) return undefined;
  // etcd 3.4 requires and verifies client certificates when a trusted CA is given, too.
  const provider = new CertificateProvider({
    files, clientCertAuth: config.clientTls.clientCertAuth || files.trustedCaFile !== '', ciphers, side: 'client', log,
    allowedHostname: config.clientTls.allowedHostname,
  });
  await provider.load();
  log.info('starting with client TLS', { 'tls-info': tlsInfo(files, t.clientCertAuth), 'cipher-suites': config.cipherSuites });
  return provider;
}

async function peerSide(config: ServerConfig, ciphers: string | undefined, log: Logger): Promise<PeerSecurity | undefined> {
  const t = config.peerTls;
  const given = { certFile: config.peerTls.certFile, keyFile: config.peerTls.keyFile, trustedCaFile: config.peerTls.trustedCaFile, crlFile: config.peerTls.crlFile };
  const files = await autoFiles('peer', given, config.peerTls.autoTls, config, config.listenPeerUrls, log);
  const empty = files.certFile === '' && files.keyFile === '';
  if (!empty) log.info('starting with peer TLS', { 'tls-info': tlsInfo(files, t.clientCertAuth), 'cipher-suites': config.cipherSuites });
  for (const u of config.listenPeerUrls) {
    const url = u.href.replace(/\/$/, '');
    if (!isSecure(u)) {
      if (!empty) log.warn('scheme is HTTP while key and cert files are present; ignoring key and cert files', { 'peer-url': url });
      if (t.clientCertAuth) log.warn('scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL', { 'peer-url': url });
    } else if (empty) {
      throw new Error(`cannot listen on TLS for ${u.host}: KeyFile and CertFile are not presented`);
    }
  }
  if (empty) return undefined;
  if (t.allowedCn !== '' && t.allowedHostname !== '') {
    throw new Error(`AllowedCN and AllowedHostname are mutually exclusive (cn=${JSON.stringify(t.allowedCn)}, hostname=${JSON.stringify(t.allowedHostname)})`);
  }
  const provider = new CertificateProvider({ files, clientCertAuth: config.peerTls.clientCertAuth || files.trustedCaFile !== '', ciphers, side: 'peer', log });
  await provider.load();
  const selfSigned = t.autoTls && !hasFiles(t);
  let made: { from: TlsServerSettings; creds: ChannelCredentials } | undefined;
  const channelCredentials = (): ChannelCredentials => {
    void provider.settingsFor().catch(() => {});
    const current = provider.current;
    if (made?.from !== current) {
      const ctx = current.context;
      made = {
        from: current,
        creds: credentials.createSsl(
          (ctx.ca as Buffer | undefined) ?? null, ctx.key as Buffer, ctx.cert as Buffer,
          // etcd dials members that use self-signed certificates without verifying them (InsecureSkipVerify).
          selfSigned ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
        ),
      };
    }
    return made.creds;
  };
  const rawTlsOptions = (): ConnectionOptions => {
    void provider.settingsFor().catch(() => {});
    const ctx = provider.current.context;
    return {
      ca: ctx.ca, key: ctx.key, cert: ctx.cert,
      ...(selfSigned ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
    };
  };
  return {
    provider, allowedCn: config.peerTls.allowedCn, allowedHostname: config.peerTls.allowedHostname,
    checkClientSan: !config.peerTls.skipClientSanVerification, channelCredentials, rawTlsOptions,
  };
}

/** etcd's TLSInfo.String(). */
function tlsInfo(f: CertificateFiles, clientCertAuth: boolean): string {
  return `cert = ${f.certFile}, key = ${f.keyFile}, trusted-ca = ${f.trustedCaFile}, client-cert-auth = ${clientCertAuth}, crl-file = ${f.crlFile}`;
}
