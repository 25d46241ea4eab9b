/**
 * TLS settings from certificate files, re-read when they change: each handshake stats the
 * files (mtime, size, inode) and reads them again only when one changed, so a rotated
 * certificate is used from the next connection on without a restart (etcd reads its files
 * per handshake). A new set that does not load (a half-written key, a key that does not match
 * the certificate) keeps the previous settings and is logged; it is tried again at the next
 * handshake.
 */
import { stat, readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { TlsContextProvider, TlsServerSettings } from '../front-door/index.js';
import type { Logger } from '../logger.js';

/** The files of one side (clients or peers). Empty strings mean "not set". */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  readonly crlFile: string;
}

export interface CertificateProviderOptions {
  readonly files: CertificateFiles;
  /** Require and verify a certificate from the other side (--client-cert-auth, --peer-client-cert-auth). */
  readonly clientCertAuth: boolean;
  /** OpenSSL cipher list (see openSslCipherList); undefined: Node's default. */
  readonly ciphers?: string;
  /** --client-cert-allowed-hostname: a verified client certificate must be valid for this name. */
  readonly allowedHostname?: string;
  /** 'client' or 'peer', for log lines. */
  readonly side: string;
  readonly log: Logger;
}

/** etcd 3.4's floor (tls.VersionTLS12); its ceiling is Go's default, TLS 1.3. */
export const TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2';

/** Settings and the file versions they were read from. */
interface Loaded {
  readonly stamp: string;
  readonly settings: TlsServerSettings;
}

/**
 * A {@link TlsContextProvider} over certificate files. Call {@link load} once at start (it
 * throws if the files do not make a TLS context); then {@link settingsFor} per handshake.
 */
export class CertificateProvider implements TlsContextProvider {
  private loaded: Loaded | undefined;
  /** One reload at a time: handshakes arriving meanwhile share it. */
  private reloading: Promise<TlsServerSettings> | undefined;
  /** The stamp of a set that failed to load, so it is logged once, not per handshake. */
  private failedStamp: string | undefined;

  constructor(private readonly opts: CertificateProviderOptions) {}

  /** Reads the files; throws (with the file's name) if they do not make a TLS context. */
  async load(): Promise<TlsServerSettings> {
    const stamp = await this.stamp();
    this.loaded = { stamp, settings: await this.read() };
    return this.loaded.settings;
  }

  /** etcd's log line for a failed handshake (a refused client certificate, a client that is not TLS). */
  rejected(_url: URL, remoteAddress: string, error: Error): void {
    this.opts.log.warn('rejected connection', { 'remote-addr': remoteAddress, 'server-name': '', error: error.message });
  }

  /** The settings for the next handshake; re-reads the files if one changed since. */
  settingsFor(): Promise<TlsServerSettings> {
    this.reloading ??= this.refresh().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /** What the files held when last loaded (for dialing peers with the same identity). */
  get current(): TlsServerSettings {
    if (this.loaded === undefined) throw new Error('CertificateProvider: load() first');
    return this.loaded.settings;
  }

  private async refresh(): Promise<TlsServerSettings> {
    const previous = this.loaded;
    if (previous === undefined) return this.load();
    let stamp: string;
    try {
      stamp = await this.stamp();
    } catch (err) {
      this.logFailure('cannot stat', err, `stat-error:${String(err)}`);
      return previous.settings;
    }
    if (stamp === previous.stamp || stamp === this.failedStamp) return previous.settings;
    try {
      const settings = await this.read();
      // Files may change between the stat and the read; the next stat catches that.
      this.loaded = { stamp, settings };
      this.failedStamp = undefined;
      this.opts.log.info('reloaded TLS files', { side: this.opts.side, ...this.fileFields() });
      return settings;
    } catch (err) {
      this.logFailure('failed to reload TLS files; keeping the previous ones', err, stamp);
      return previous.settings;
    }
  }

  private logFailure(msg: string, err: unknown, stamp: string): void {
    if (this.failedStamp === stamp) return;
    this.failedStamp = stamp;
    this.opts.log.warn(msg, { side: this.opts.side, ...this.fileFields(), error: err instanceof Error ? err.message : String(err) });
  }

  private fileFields(): Record<string, string> {
    const f = this.opts.files;
    return { 'cert-file': f.certFile, 'key-file': f.keyFile, 'trusted-ca-file': f.trustedCaFile, 'crl-file': f.crlFile };
  }

  private paths(): [string, string][] {
    const f = this.opts.files;
    const all: [string, string][] = [['cert-file', f.certFile], ['key-file', f.keyFile], ['trusted-ca-file', f.trustedCaFile], ['crl-file', f.crlFile]];
    return all.filter(([, p]) => p !== '');
  }

  private async stamp(): Promise<string> {
    const parts = await Promise.all(this.paths().map(async ([what, p]) => {
      try {
        const s = await stat(p, { bigint: true });
        return `${p}:${s.ino}:${s.size}:${s.mtimeNs}`;
      } catch (err) {
        throw new Error(`cannot read ${what} ${p}: ${(err as Error).message}`);
      }
    }));
    return parts.join('|');
  }

  private async read(): Promise<TlsServerSettings> {
    const f = this.opts.files;
    const file = async (what: string, path: string): Promise<Buffer> => {
      try {
        return await readFile(path);
      } catch (err) {
        throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
      }
    };
    const context: tls.SecureContextOptions = {
      cert: await file('cert-file', f.certFile),
      key: await file('key-file', f.keyFile),
      minVersion: TLS_MIN_VERSION,
      ...(f.trustedCaFile !== '' ? { ca: await file('trusted-ca-file', f.trustedCaFile) } : {}),
      ...(f.crlFile !== '' ? { crl: await file('crl-file', f.crlFile) } : {}),
      ...(this.opts.ciphers !== undefined ? { ciphers: this.opts.ciphers } : {}),
    };
    try {
      // Throws for a key that does not match, a PEM that does not parse, a bad cipher list.
      tls.createSecureContext(context);
    } catch (err) {
      throw new Error(`TLS files ${f.certFile}, ${f.keyFile}: ${(err as Error).message}`);
    }
    const hostname = this.opts.allowedHostname ?? '';
    return {
      context, requestCert: this.opts.clientCertAuth, rejectUnauthorized: this.opts.clientCertAuth,
      // etcd's VerifyPeerCertificate for AllowedHostname, and its error.
      ...(hostname !== '' ? { checkClient: (cert) => (cert.checkHost(hostname) === undefined ? 'client certificate authentication failed' : undefined) } : {}),
    };
  }
}
