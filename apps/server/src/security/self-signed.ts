/**
 * --auto-tls / --peer-auto-tls: a self-signed certificate, made as etcd's transport.SelfCert
 * makes it (ECDSA P-521, organisation "etcd", valid 365 days, server auth (+ client auth for
 * peers), the listen hosts as IP or DNS names), written as `cert.pem` and `key.pem` (EC
 * PRIVATE KEY, mode 0600) into the given directory. Files already there are reused.
 */
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../logger.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface SelfCertFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The certificate and key in `dir`, made first if either is missing.
 * @param hosts `host:port` of each listen URL (etcd passes URL.Host); the port is dropped.
 * @param clientAuth also valid for TLS client authentication (peers dial each other with it).
 */
export async function selfCert(dir: string, hosts: readonly string[], clientAuth: boolean, log: Logger): Promise<SelfCertFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
  if (await exists(certFile) && await exists(keyFile)) return { certFile, keyFile };

  const alg = { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const names: x509.JsonGeneralName[] = [];
  for (const host of hosts) {
    const h = hostOf(host);
    names.push(isIP(h) !== 0 ? { type: 'ip', value: h } : { type: 'dns', value: h });
  }
  const now = Date.now();
  // A positive 128-bit serial, as etcd's (its top bit cleared so DER keeps it unsigned).
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: 'O=etcd',
    notBefore: new Date(now),
    notAfter: new Date(now + 365 * DAY_MS),
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(clientAuth ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  await writeFile(certFile, cert.toString('pem') + '\n');
  log.info('created cert file', { path: certFile });
  const key = KeyObject.from(keys.privateKey).export({ type: 'sec1', format: 'pem' });
  await writeFile(keyFile, key, { mode: 0o600 });
  log.info('created key file', { path: keyFile });
  return { certFile, keyFile };
}

/** `host:port` or `[v6]:port` → host; a bare host as it is. */
function hostOf(hostPort: string): string {
  const m = /^\[([^\]]+)\](?::\d*)?$/.exec(hostPort);
  if (m) return m[1]!;
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}
