// Client TLS on the real binary: etcdctl over https with --cacert, mutual TLS (--client-cert-auth),
// --auto-tls, certificates rotated without a restart, and etcd's start errors (checked against
// the real etcd). Certificates are made by openssl for each run.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { etcdctl, freePort, removeDir, requireBinary, raftkvNodeArgs, spawnTracked, startEtcd, startRaftkv, tempDir, type ServerProcess } from '@raftkv/testkit';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pki } from '../security/test-support/pki.js';

/** A raftkv member serving clients on https://127.0.0.1:<port> only, with `flags`. */
async function startTls(flags: string[]): Promise<{ server: ServerProcess; url: string }> {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const server = await startRaftkv({ port, args: ['--listen-client-urls', url, '--advertise-client-urls', url, ...flags] });
  return { server, url };
}

/** The CN of the certificate presented to a new connection. */
function presentedCn(url: string, ca: Buffer): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca, ALPNProtocols: ['h2'] }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.destroy();
    });
    s.on('error', reject);
  });
}

/** Runs a binary to its exit; stdout and stderr together. */
function runToExit(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('client TLS on the real binary', () => {
  const pki = new Pki();
  const server1 = pki.issue('server1', 'raftkv-server-1');
  const server2 = pki.issue('server2', 'raftkv-server-2');
  const clientCert = pki.issue('client', 'raftkv-client');
  const revoked = pki.issue('revoked', 'raftkv-revoked');
  const elsewhere = pki.issue('elsewhere', 'raftkv-elsewhere', 'DNS:elsewhere.example');
  const crl = pki.revoke('revoked');
  const other = new Pki('other-ca', pki.dir);
  const stranger = other.issue('stranger', 'stranger');
  const live = { certFile: pki.path('live.crt'), keyFile: pki.path('live.key') };
  copyFileSync(server1.certFile, live.certFile);
  copyFileSync(server1.keyFile, live.keyFile);
  const started: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of started) {
      await s.stop();
      removeDir(s.dataDir);
    }
    pki.remove();
  });

  describe('--cert-file/--key-file, rotated without a restart', () => {
    let url: string;
    beforeAll(async () => {
      const m = await startTls(['--cert-file', live.certFile, '--key-file', live.keyFile]);
      started.push(m.server);
      url = m.url;
    }, 60_000);

    it('serves etcdctl over https with --cacert; without the CA the certificate is refused', async () => {
      const put = await etcdctl(url, ['--cacert', pki.caFile, 'put', 'k', 'v']);
      expect([put.code, put.stdout.trim()]).toEqual([0, 'OK']);
      const get = await etcdctl(url, ['--cacert', pki.caFile, 'get', 'k']);
      expect(get.stdout.trim().split('\n')).toEqual(['k', 'v']);
      const status = await etcdctl(url, ['--cacert', pki.caFile, 'endpoint', 'status', '-w', 'json']);
      expect(status.code).toBe(0);
      const unknownCa = await etcdctl(url, ['--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'k']);
      expect(unknownCa.code).not.toBe(0);
      // etcdctl over plain http gets nothing from a TLS port.
      const plain = await etcdctl(url.replace('https:', 'http:'), ['--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'k']);
      expect(plain.code).not.toBe(0);
    });

    it('a new connection sees a certificate replaced on disk; a broken replacement keeps the last good one', async () => {
      const ca = readFileSync(pki.caFile);
      expect(await presentedCn(url, ca)).toBe('raftkv-server-1');
      copyFileSync(server2.certFile, live.certFile);
      copyFileSync(server2.keyFile, live.keyFile);
      expect(await presentedCn(url, ca)).toBe('raftkv-server-2');
      // Half a rotation: the new certificate without its key.
      copyFileSync(server1.certFile, live.certFile);
      expect(await presentedCn(url, ca)).toBe('raftkv-server-2');
      const get = await etcdctl(url, ['--cacert', pki.caFile, 'get', 'k']);
      expect(get.stdout.trim().split('\n')).toEqual(['k', 'v']);
      expect(started[0]!.output()).toMatch(/"msg":"failed to reload TLS files; keeping the previous ones".*key values mismatch/);
      copyFileSync(server1.keyFile, live.keyFile);
      expect(await presentedCn(url, ca)).toBe('raftkv-server-1');
    });
  });

  describe('--client-cert-auth with --trusted-ca-file, --client-crl-file and --client-cert-allowed-hostname (mutual TLS)', () => {
    let url: string;
    let member: ServerProcess;
    beforeAll(async () => {
      const m = await startTls(['--cert-file', server1.certFile, '--key-file', server1.keyFile, '--client-cert-auth', '--trusted-ca-file', pki.caFile,
        '--client-crl-file', crl, '--client-cert-allowed-hostname', 'localhost']);
      started.push(m.server);
      member = m.server;
      url = m.url;
    }, 60_000);

    it('the etcd3 npm client speaks mutual TLS to it', async () => {
      const client = new Etcd3({
        hosts: url,
        credentials: { rootCertificate: readFileSync(pki.caFile), certChain: readFileSync(clientCert.certFile), privateKey: readFileSync(clientCert.keyFile) },
      });
      try {
        await client.put('etcd3-tls').value('yes');
        expect(await client.get('etcd3-tls').string()).toBe('yes');
      } finally {
        client.close();
      }
    });

    it('accepts a client certificate the CA signed', async () => {
      const put = await etcdctl(url, ['--cacert', pki.caFile, '--cert', clientCert.certFile, '--key', clientCert.keyFile, 'put', 'm', 'tls']);
      expect([put.code, put.stdout.trim()]).toEqual([0, 'OK']);
      const get = await etcdctl(url, ['--cacert', pki.caFile, '--cert', clientCert.certFile, '--key', clientCert.keyFile, 'get', 'm', '--print-value-only']);
      expect(get.stdout.trim()).toBe('tls');
    });

    it('refuses a client without a certificate, one signed by another CA, a revoked one, and one not valid for the allowed hostname', async () => {
      const withRevoked = await etcdctl(url, ['--cacert', pki.caFile, '--cert', revoked.certFile, '--key', revoked.keyFile,
        '--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'm']);
      expect(withRevoked.code).not.toBe(0);
      const notLocalhost = await etcdctl(url, ['--cacert', pki.caFile, '--cert', elsewhere.certFile, '--key', elsewhere.keyFile,
        '--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'm']);
      expect(notLocalhost.code).not.toBe(0);
      const bare = await etcdctl(url, ['--cacert', pki.caFile, '--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'm']);
      expect(bare.code).not.toBe(0);
      const wrong = await etcdctl(url, ['--cacert', pki.caFile, '--cert', stranger.certFile, '--key', stranger.keyFile,
        '--dial-timeout', '2s', '--command-timeout', '3s', 'get', 'm']);
      expect(wrong.code).not.toBe(0);
      // Each refusal is logged, as etcd logs it, with OpenSSL's reason.
      const out = member.output();
      expect(out).toMatch(/"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"","error":"tls: client didn't provide a certificate"/);
      expect(out).toMatch(/"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"","error":"tls: failed to verify client's certificate: CERT_REVOKED"/);
      expect(out).toMatch(/"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"","error":"client certificate authentication failed"/);
      expect(out).toMatch(/"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"","error":"tls: failed to verify client's certificate: UNABLE_TO_VERIFY_LEAF_SIGNATURE"/);
    });
  });

  describe('--auto-tls', () => {
    let url: string;
    let dataDir: string;
    beforeAll(async () => {
      const m = await startTls(['--auto-tls']);
      started.push(m.server);
      url = m.url;
      dataDir = m.server.dataDir;
    }, 60_000);

    it('makes a self-signed certificate in <data-dir>/fixtures/client and serves TLS with it', async () => {
      const certFile = join(dataDir, 'fixtures', 'client', 'cert.pem');
      expect(existsSync(certFile)).toBe(true);
      expect(existsSync(join(dataDir, 'fixtures', 'client', 'key.pem'))).toBe(true);
      const put = await etcdctl(url, ['--insecure-transport=false', '--insecure-skip-tls-verify', 'put', 'a', 'auto']);
      expect([put.code, put.stdout.trim()]).toEqual([0, 'OK']);
      // The certificate served is the one on disk.
      const served = await new Promise<string>((resolve, reject) => {
        const u = new URL(url);
        const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()!.toString());
          s.destroy();
        });
        s.on('error', reject);
      });
      expect(served.trim()).toBe(readFileSync(certFile, 'utf8').trim());
    });

    it('the certificate has the shape of the one etcd 3.4.23 makes for the same flags', async () => {
      const port = await freePort();
      const etcdUrl = `https://127.0.0.1:${port}`;
      const etcd = await startEtcd({ port, args: ['--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl, '--auto-tls'] });
      let theirs: X509Certificate;
      try {
        theirs = new X509Certificate(readFileSync(join(etcd.dataDir, 'fixtures', 'client', 'cert.pem')));
        expect(readFileSync(join(etcd.dataDir, 'fixtures', 'client', 'key.pem'), 'utf8')).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
      } finally {
        await etcd.stop();
        removeDir(etcd.dataDir);
      }
      const ours = new X509Certificate(readFileSync(join(dataDir, 'fixtures', 'client', 'cert.pem')));
      const shape = (c: X509Certificate) => ({
        subject: c.subject, issuer: c.issuer, san: c.subjectAltName, ca: c.ca, curve: c.publicKey.asymmetricKeyDetails?.namedCurve, eku: c.keyUsage,
        days: Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000),
      });
      expect(shape(ours)).toEqual(shape(theirs));
    });
  });

  describe('start errors, as etcd 3.4.23 gives them', () => {
    const cases: [string, (port: number) => string[], string][] = [
      ['an https client URL without cert and key',
        (p) => ['--listen-client-urls', `https://127.0.0.1:${p}`, '--advertise-client-urls', `https://127.0.0.1:${p}`],
        'TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:PORT with HTTPS scheme'],
      ['an unknown cipher suite',
        (p) => ['--listen-client-urls', `http://127.0.0.1:${p}`, '--advertise-client-urls', `http://127.0.0.1:${p}`, '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,ECDHE-RSA-AES128-GCM-SHA256'],
        'unexpected TLS cipher suite "ECDHE-RSA-AES128-GCM-SHA256"'],
    ];
    for (const [name, flags, message] of cases) {
      it(`${name}: raftkv and etcd both refuse to start with etcd's message`, async () => {
        for (const kind of ['raftkv', 'etcd'] as const) {
          const [client, peer] = [await freePort(), await freePort()];
          const dataDir = tempDir(`tls-start-${kind}-`);
          const args = ['--data-dir', dataDir, '--listen-peer-urls', `http://127.0.0.1:${peer}`, ...flags(client)];
          const r = kind === 'raftkv'
            ? await runToExit(process.execPath, [...raftkvNodeArgs(), ...args])
            : await runToExit(requireBinary('etcd'), args);
          removeDir(dataDir);
          expect(r.code, `${kind}: ${r.output}`).not.toBe(0);
          // raftkv logs JSON (quotes escaped), etcd 3.4 plain text.
          expect(r.output.replaceAll(String(client), 'PORT').replaceAll('\\"', '"'), kind).toContain(message);
        }
      }, 60_000);
    }

    it('certificate files beside an http client URL: the start goes on, with etcd\'s warning', async () => {
      const port = await freePort();
      const server = await startRaftkv({ port, args: ['--cert-file', server1.certFile, '--key-file', server1.keyFile] });
      started.push(server);
      expect(server.output()).toMatch(/"msg":"scheme is HTTP while key and cert files are present; ignoring key and cert files","client-url":"http:\/\/127\.0\.0\.1:\d+"/);
      const get = await etcdctl(server.clientUrl, ['get', 'x']);
      expect(get.code).toBe(0);
    });
  });
});
