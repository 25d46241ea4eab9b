// Start-time TLS rules, as etcd 3.4's embed package applies them: which side gets TLS, etcd's
// errors and warnings, --auto-tls files, and the trusted CA implying client certificate checks.
import { Client } from '@grpc/grpc-js';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, type ServerConfig } from '../config/index.js';
import { Pki } from './test-support/pki.js';
import { hasPeerTls, openTransportSecurity } from './transport-security.js';

function recorder() {
  const lines: string[] = [];
  const push = (msg: string, fields?: Record<string, unknown>): void => void lines.push(`${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, log: { debug() {}, info: push, warn: push, error: push } };
}

describe('openTransportSecurity', () => {
  const pki = new Pki();
  const leaf = pki.issue('leaf', 'member');
  const dataDir = mkdtempSync(join(tmpdir(), 'raftkv-transport-security-'));
  afterAll(() => {
    pki.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const config = (...flags: string[]): ServerConfig => {
    const r = parseConfig(['--data-dir', dataDir, ...flags], {}, { isDataDirInitialized: () => true });
    if (r.kind !== 'run') throw new Error(`not a run: ${r.kind}`);
    return r.config;
  };
  const client = (url: string) => ['--listen-client-urls', url, '--advertise-client-urls', url];
  const certs = ['--cert-file', leaf.certFile, '--key-file', leaf.keyFile];
  const peerCerts = ['--peer-cert-file', leaf.certFile, '--peer-key-file', leaf.keyFile];

  it('no https URL and no certificates: no TLS', async () => {
    const { log, lines } = recorder();
    expect(await openTransportSecurity(config(), log)).toEqual({});
    expect(lines).toEqual([]);
  });

  it("an https client URL without cert and key: etcd's error", async () => {
    await expect(openTransportSecurity(config(...client('https://127.0.0.1:2379')), recorder().log)).rejects.toThrow(
      'TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme');
  });

  it("an https peer URL without peer cert and key: etcd's error", async () => {
    const c = config('--listen-peer-urls', 'https://127.0.0.1:2380', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380',
      '--initial-cluster', 'default=https://127.0.0.1:2380');
    await expect(openTransportSecurity(c, recorder().log)).rejects.toThrow('cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented');
  });

  it("certificates beside http URLs: etcd's warnings, no client TLS", async () => {
    const { log, lines } = recorder();
    const s = await openTransportSecurity(config(...certs, '--client-cert-auth'), log);
    expect(s.client).toBeUndefined();
    expect(lines).toEqual([
      'scheme is HTTP while key and cert files are present; ignoring key and cert files {"client-url":"http://localhost:2379"}',
      'scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL {"client-url":"http://localhost:2379"}',
    ]);
  });

  it('a trusted CA alone makes the client certificate required (etcd 3.4: RequireAndVerifyClientCert)', async () => {
    const s = await openTransportSecurity(config(...client('https://127.0.0.1:2379'), ...certs, '--trusted-ca-file', pki.caFile), recorder().log);
    expect(s.client!.current).toMatchObject({ requestCert: true, rejectUnauthorized: true });
    const open = await openTransportSecurity(config(...client('https://127.0.0.1:2379'), ...certs), recorder().log);
    expect(open.client!.current).toMatchObject({ requestCert: false, rejectUnauthorized: false });
  });

  it("an unknown cipher suite: etcd's error, even without TLS", async () => {
    await expect(openTransportSecurity(config('--cipher-suites', 'TLS_RSA_WITH_AES_128_CBC_SHA,RC4'), recorder().log)).rejects.toThrow(
      'unexpected TLS cipher suite "RC4"');
  });

  it('--auto-tls: certificates made in <data-dir>/fixtures/client; ignored (with a warning) when certificates are given', async () => {
    const s = await openTransportSecurity(config(...client('https://127.0.0.1:2379'), '--auto-tls'), recorder().log);
    expect(s.client!.current.requestCert).toBe(false);
    expect(existsSync(join(dataDir, 'fixtures', 'client', 'cert.pem'))).toBe(true);
    const { log, lines } = recorder();
    await openTransportSecurity(config(...client('https://127.0.0.1:2379'), '--auto-tls', ...certs), log);
    expect(lines[0]).toBe('ignoring client auto TLS since certs given {}');
  });

  it('peer TLS: settings, dial credentials, and the CN/hostname exclusivity', async () => {
    const c = config(...peerCerts, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth', '--peer-cert-allowed-cn', 'member');
    expect(hasPeerTls(c)).toBe(true);
    expect(hasPeerTls(config())).toBe(false);
    expect(hasPeerTls(config('--peer-auto-tls'))).toBe(true);
    const s = await openTransportSecurity(c, recorder().log);
    expect(s.peer).toMatchObject({ allowedCn: 'member', allowedHostname: '', checkClientSan: true });
    expect(s.peer!.provider.current).toMatchObject({ requestCert: true });
    await expect(openTransportSecurity(config(...peerCerts, '--peer-cert-allowed-cn', 'a', '--peer-cert-allowed-hostname', 'b'), recorder().log))
      .rejects.toThrow('AllowedCN and AllowedHostname are mutually exclusive (cn="a", hostname="b")');
  });

  it('peer dial credentials follow rotated certificate files (from the dial after the files are seen to change)', async () => {
    const second = pki.issue('second', 'member-rotated');
    const live = { certFile: pki.path('dial.crt'), keyFile: pki.path('dial.key') };
    copyFileSync(leaf.certFile, live.certFile);
    copyFileSync(leaf.keyFile, live.keyFile);
    const s = await openTransportSecurity(config('--peer-cert-file', live.certFile, '--peer-key-file', live.keyFile, '--peer-trusted-ca-file', pki.caFile), recorder().log);
    const first = s.peer!.channelCredentials();
    expect(s.peer!.channelCredentials()).toBe(first);
    /** The CNs of the client certificates one new channel presents, to a TLS server of its own. */
    const dial = async (): Promise<string[]> => {
      const seen: string[] = [];
      const server = tls.createServer({ cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile), ca: readFileSync(pki.caFile), requestCert: true, ALPNProtocols: ['h2'] }, (c) => {
        seen.push(String(c.getPeerCertificate().subject.CN));
        c.destroy();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const client = new Client(`127.0.0.1:${(server.address() as { port: number }).port}`, s.peer!.channelCredentials());
      client.waitForReady(Date.now() + 2000, () => {});
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
      client.close();
      server.close();
      return [...new Set(seen)];
    };
    expect(await dial()).toEqual(['member']);
    copyFileSync(second.certFile, live.certFile);
    copyFileSync(second.keyFile, live.keyFile);
    await s.peer!.provider.settingsFor();
    expect(s.peer!.channelCredentials()).not.toBe(first);
    expect(await dial()).toEqual(['member-rotated']);
  });
});
