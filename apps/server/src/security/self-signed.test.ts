// --auto-tls certificates: what etcd's SelfCert makes, usable by Node's TLS, reused when present.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { selfCert } from './self-signed.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('selfCert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-selfcert-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes an ECDSA P-521 certificate for the listen hosts, organisation etcd, a year, key 0600', async () => {
    const files = await selfCert(join(dir, 'fixtures', 'peer'), ['127.0.0.1:2380', 'localhost:2380', '[::1]:2380'], true, quiet);
    expect(files).toEqual({ certFile: join(dir, 'fixtures', 'peer', 'cert.pem'), keyFile: join(dir, 'fixtures', 'peer', 'key.pem') });
    const cert = new X509Certificate(readFileSync(files.certFile));
    expect(cert.subject).toBe('O=etcd');
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(365);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.ca).toBe(false);
    const text = execFileSync('openssl', ['x509', '-in', files.certFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(readFileSync(files.keyFile, 'utf8')).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(statSync(files.keyFile).mode & 0o777).toBe(0o600);
    // The pair loads into a TLS context (the key matches the certificate).
    expect(() => tls.createSecureContext({ cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) })).not.toThrow();
  });

  it('reuses the files already in the directory', async () => {
    const first = await selfCert(join(dir, 'client'), ['127.0.0.1:1'], false, quiet);
    const pem = readFileSync(first.certFile, 'utf8');
    await selfCert(join(dir, 'client'), ['127.0.0.1:1'], false, quiet);
    expect(readFileSync(first.certFile, 'utf8')).toBe(pem);
    const text = execFileSync('openssl', ['x509', '-in', first.certFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/TLS Web Server Authentication\n/);
  });
});
