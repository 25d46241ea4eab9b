// Certificate files re-read when they change (rotation without a restart), a broken new set
// keeping the old one, and etcd's cipher suite names.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { afterAll, describe, expect, it, test } from 'vitest';
import { CertificateProvider } from './certificate-provider.js';
import { openSslCipherList } from './cipher-suites.js';
import { Pki } from './test-support/pki.js';

function recorder(): { lines: { msg: string; fields?: Record<string, unknown> }[]; log: { debug(): void; info(m: string, f?: Record<string, unknown>): void; warn(m: string, f?: Record<string, unknown>): void; error(m: string, f?: Record<string, unknown>): void } } {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  const push = (msg: string, fields?: Record<string, unknown>): void => void lines.push({ msg, fields });
  return { lines, log: { debug() {}, info: push, warn: push, error: push } };
}

describe('CertificateProvider', () => {
  const pki = new Pki();
  const one = pki.issue('one', 'server-one');
  const two = pki.issue('two', 'server-two');
  const live = { certFile: pki.path('live.crt'), keyFile: pki.path('live.key') };
  copyFileSync(one.certFile, live.certFile);
  copyFileSync(one.keyFile, live.keyFile);
  afterAll(() => pki.remove());

  const provider = (clientCertAuth: boolean, log = recorder().log): CertificateProvider => new CertificateProvider({
    files: { ...live, trustedCaFile: pki.caFile, crlFile: '' }, clientCertAuth, side: 'client', log,
  });

  it('loads the files: key, certificate, CA, TLS 1.2 at least, client certificates as asked', async () => {
    const s = await provider(true).load();
    expect(s.context.cert).toEqual(readFileSync(one.certFile));
    expect(s.context.ca).toEqual(readFileSync(pki.caFile));
    expect(s.context.minVersion).toBe('TLSv1.2');
    expect([s.requestCert, s.rejectUnauthorized]).toEqual([true, true]);
    const plain = await provider(false).load();
    expect([plain.requestCert, plain.rejectUnauthorized]).toEqual([false, false]);
  });

  it('hands out the same settings while the files are unchanged, new ones after a rotation', async () => {
    const { lines, log } = recorder();
    const p = provider(false, log);
    const first = await p.load();
    expect(await p.settingsFor()).toBe(first);
    expect(await p.settingsFor()).toBe(first);
    copyFileSync(two.certFile, live.certFile);
    copyFileSync(two.keyFile, live.keyFile);
    const rotated = await p.settingsFor();
    expect(rotated).not.toBe(first);
    expect(rotated.context.cert).toEqual(readFileSync(two.certFile));
    expect(await p.settingsFor()).toBe(rotated);
    expect(lines.map((l) => l.msg)).toEqual(['reloaded TLS files']);
    copyFileSync(one.certFile, live.certFile);
    copyFileSync(one.keyFile, live.keyFile);
  });

  it('keeps the previous settings when the new files do not load, logs it once, and takes a fixed set', async () => {
    const { lines, log } = recorder();
    const p = provider(false, log);
    const first = await p.load();
    // A certificate whose key is not (yet) the matching one: a rotation caught half-way.
    copyFileSync(two.certFile, live.certFile);
    expect(await p.settingsFor()).toBe(first);
    expect(await p.settingsFor()).toBe(first);
    expect(lines.map((l) => l.msg)).toEqual(['failed to reload TLS files; keeping the previous ones']);
    expect(String(lines[0]!.fields!['error'])).toMatch(/key values mismatch/);
    writeFileSync(live.keyFile, 'not a key');
    expect(await p.settingsFor()).toBe(first);
    expect(lines).toHaveLength(2);
    copyFileSync(two.keyFile, live.keyFile);
    const fixed = await p.settingsFor();
    expect(fixed.context.cert).toEqual(readFileSync(two.certFile));
    expect(lines.at(-1)!.msg).toBe('reloaded TLS files');
    copyFileSync(one.certFile, live.certFile);
    copyFileSync(one.keyFile, live.keyFile);
  });

  it('refuses to start on files that do not load, naming the file', async () => {
    const missing = new CertificateProvider({
      files: { certFile: pki.path('nope.crt'), keyFile: live.keyFile, trustedCaFile: '', crlFile: '' }, clientCertAuth: false, side: 'client', log: recorder().log,
    });
    await expect(missing.load()).rejects.toThrow(/cannot read cert-file .*nope\.crt/);
    const mismatched = new CertificateProvider({
      files: { certFile: two.certFile, keyFile: one.keyFile, trustedCaFile: '', crlFile: '' }, clientCertAuth: false, side: 'client', log: recorder().log,
    });
    await expect(mismatched.load()).rejects.toThrow(/key values mismatch/);
  });

  it('serves a handshake with each rotated certificate (a real TLS server asking per connection)', async () => {
    const p = provider(false);
    await p.load();
    const server = tls.createServer({});
    server.on('secureConnection', (s) => s.end());
    const raw = (await import('node:net')).createServer((socket) => {
      void p.settingsFor().then((s) => {
        server.setSecureContext(s.context);
        server.emit('connection', socket);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as { port: number }).port;
    const cn = (): Promise<string> => new Promise((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.caFile) }, () => {
        resolve(String(c.getPeerCertificate().subject.CN));
        c.destroy();
      });
      c.on('error', reject);
    });
    try {
      expect(await cn()).toBe('server-one');
      copyFileSync(two.certFile, live.certFile);
      copyFileSync(two.keyFile, live.keyFile);
      expect(await cn()).toBe('server-two');
    } finally {
      raw.close();
      copyFileSync(one.certFile, live.certFile);
      copyFileSync(one.keyFile, live.keyFile);
    }
  });
});

describe('openSslCipherList (--cipher-suites)', () => {
  test.each([
    [[], undefined],
    [['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'], 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-RSA-AES128-GCM-SHA256'],
    [['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_RSA_WITH_AES_128_CBC_SHA'],
      'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:AES128-SHA'],
    // etcd's tlsutil aliases, and a TLS 1.3 name (accepted, has no effect, as in Go).
    [['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'],
      'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-RSA-CHACHA20-POLY1305'],
  ])('%j → %s', (names, expected) => {
    expect(openSslCipherList(names)).toBe(expected);
  });

  test.each([['ECDHE-RSA-AES128-GCM-SHA256'], ['tls_ecdhe_rsa_with_aes_128_gcm_sha256'], ['TLS_FOO']])('refuses %s with etcd\'s message', (name) => {
    expect(() => openSslCipherList(['TLS_RSA_WITH_AES_128_CBC_SHA', name])).toThrow(`unexpected TLS cipher suite "${name}"`);
  });

  it('limits a TLS 1.2 handshake to the suites given', async () => {
    const pki = new Pki();
    try {
      const leaf = pki.issue('s', 'cipher-server');
      const ciphers = openSslCipherList(['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'])!;
      const server = tls.createServer({ cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile), ciphers, minVersion: 'TLSv1.2' }, (s) => s.end());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const connect = (clientCiphers: string): Promise<string> => new Promise((resolve) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.caFile), maxVersion: 'TLSv1.2', ciphers: clientCiphers }, () => {
          resolve(c.getCipher().standardName);
          c.destroy();
        });
        c.on('error', (e) => resolve(`error: ${e.message}`));
      });
      expect(await connect('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384')).toBe('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
      expect(await connect('ECDHE-RSA-AES128-GCM-SHA256')).toMatch(/^error: .*handshake failure/);
      server.close();
    } finally {
      pki.remove();
    }
  });
});
