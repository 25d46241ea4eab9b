// TLS at the door through an injected provider: certificates made by openssl for each run;
// gRPC (both :authority forms), HTTP/1.1 and HTTP/2 (ALPN) on one https port; certificates
// swapped without a restart; client certificates required and checked.
import { credentials, Metadata, Server } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { notImplemented, unary } from '../grpc/unary.js';
import { clientIdentity, connectionKeyOfCall, RELAYED_CONNECTION_HEADER } from '../security/client-identities.js';
import { Pki } from '../security/test-support/pki.js';
import { openFrontDoor, type FrontDoor, type TlsServerSettings } from './front-door.js';

const run = promisify(execFile);

/** `name`'s certificate and key from the shared test CA, as PEM. */
function issuePem(pki: Pki, name: string, cn: string): { key: Buffer; cert: Buffer } {
  const { certFile, keyFile } = pki.issue(name, cn);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile) };
}

/** The CN auth would find for each Status call (CN-based auth's view of the connection). */
const statusCallers: string[] = [];

function maintenance(): etcdserverpb.MaintenanceServer {
  return {
    status: unary((_req, call) => {
      statusCallers.push(clientIdentity(connectionKeyOfCall(call) ?? '') ?? 'no one');
      return {
      header: { clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n }, version: '3.4.23', dbSize: 1n, dbSizeInUse: 1n, leader: 2n,
      raftIndex: 9n, raftTerm: 3n, raftAppliedIndex: 9n, errors: [], isLearner: false, storageVersion: '', dbSizeQuota: 0n, downgradeInfo: undefined,
      };
    }),
    hashKv: notImplemented('Maintenance.HashKV'), alarm: notImplemented('Maintenance.Alarm'), hash: notImplemented('Maintenance.Hash'),
    defragment: notImplemented('Maintenance.Defragment'), snapshot: (call) => call.destroy(new Error('no')),
    moveLeader: notImplemented('Maintenance.MoveLeader'), downgrade: notImplemented('Maintenance.Downgrade'),
  } as etcdserverpb.MaintenanceServer;
}

/** The subject CN of the certificate the door presents on a new connection. */
function presentedCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('TLS at the front door', () => {
  const pki = new Pki('door-test-ca');
  const first = issuePem(pki, 'server1', 'door-server-1');
  const second = issuePem(pki, 'server2', 'door-server-2');
  const client = issuePem(pki, 'client', 'door-client');
  const ca = readFileSync(pki.caFile);
  let settings: TlsServerSettings = { context: { ...first, ca }, requestCert: false, rejectUnauthorized: false };
  let server: Server;
  let door: FrontDoor;
  let port: number;
  const rejections: string[] = [];

  beforeAll(async () => {
    server = new Server();
    server.addService(etcdserverpb.MaintenanceService, maintenance());
    door = await openFrontDoor({
      grpcServer: server, clientUrls: [new URL('https://127.0.0.1:0')],
      tls: { settingsFor: () => settings, rejected: (url, remote, err) => rejections.push(`${url.protocol} ${remote.split(':')[0]} ${err.message}`) },
    });
    port = Number(door.endpoints[0]!.split(':')[1]);
  });
  afterAll(async () => {
    await door.close();
    server.forceShutdown();
    pki.remove();
  });

  async function grpcStatus(authority?: string, withClientCert = false, metadata = new Metadata()): Promise<string> {
    const creds = withClientCert ? credentials.createSsl(ca, client.key, client.cert) : credentials.createSsl(ca);
    const c = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, creds, authority === undefined ? {} : { 'grpc.default_authority': authority });
    try {
      const res = await new Promise<etcdserverpb.StatusResponse>((resolve, reject) =>
        c.status({}, metadata, (err, r) => (err ? reject(err) : resolve(r))));
      return res.version;
    } finally {
      c.close();
    }
  }

  it('serves gRPC (host:port and URL-form :authority), HTTP/1.1 and HTTP/2 over TLS on one port', async () => {
    expect(await grpcStatus()).toBe('3.4.23');
    expect(await grpcStatus(`https://127.0.0.1:${port}`)).toBe('3.4.23');
    for (const http of ['--http1.1', '--http2']) {
      const { stdout } = await run('curl', ['-s', http, '--cacert', pki.caFile, '-w', ' %{http_version}', `https://127.0.0.1:${port}/version`]);
      expect(stdout).toBe(`{"etcdserver":"3.4.23","etcdcluster":"3.4.0"} ${http === '--http2' ? '2' : '1.1'}`);
    }
  });

  it('etcdctl over TLS', async () => {
    const { stdout } = await run('etcdctl', ['--endpoints', `https://127.0.0.1:${port}`, '--cacert', pki.caFile, 'endpoint', 'status', '-w', 'json'],
      { env: { ...process.env, ETCDCTL_API: '3' } });
    expect(JSON.parse(stdout)[0].Status.version).toBe('3.4.23');
  });

  it('new settings from the provider apply from the next handshake, without a restart', async () => {
    expect(await presentedCn(port, ca)).toBe('door-server-1');
    settings = { ...settings, context: { ...second, ca } };
    expect(await presentedCn(port, ca)).toBe('door-server-2');
    expect(await grpcStatus()).toBe('3.4.23');
  });

  it('with client certificates required, a client without one is refused and one with a trusted one served', async () => {
    settings = { context: { ...second, ca }, requestCert: true, rejectUnauthorized: true };
    await expect(grpcStatus()).rejects.toThrow();
    // The provider hears of each refusal, with the reason (for etcd's "rejected connection" line).
    expect(rejections.at(-1)).toBe("https: 127.0.0.1 tls: client didn't provide a certificate");
    expect(await grpcStatus(undefined, true)).toBe('3.4.23');
    const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.caFile, `https://127.0.0.1:${port}/version`])
      .catch((err: { stdout: string }) => ({ stdout: err.stdout }));
    expect(stdout).toBe('000');
    settings = { context: { ...second, ca }, requestCert: false, rejectUnauthorized: false };
  });

  it('CN-based auth knows a verified client on direct and relayed connections alike, and a forged relay header names no one', async () => {
    settings = { context: { ...second, ca }, requestCert: true, rejectUnauthorized: true };
    onTestFinished(() => { settings = { context: { ...second, ca }, requestCert: false, rejectUnauthorized: false }; });
    statusCallers.length = 0;
    // A URL-form :authority makes the door relay the connection: grpc-js then sees no addresses.
    const forged = new Metadata();
    forged.set(RELAYED_CONNECTION_HEADER, 'not-the-secret 127.0.0.1:1|127.0.0.1:2');
    for (const [authority, metadata] of [[undefined, undefined], [`https://127.0.0.1:${port}`, undefined], [`https://127.0.0.1:${port}`, forged]] as const) {
      expect(await grpcStatus(authority, true, metadata)).toBe('3.4.23');
    }
    expect(statusCallers).toEqual(['door-client', 'door-client', 'door-client']);
    // Without TLS client identity, a forged header on a connection with no ends still names no one.
    settings = { context: { ...second, ca }, requestCert: false, rejectUnauthorized: false };
    statusCallers.length = 0;
    expect(await grpcStatus(`https://127.0.0.1:${port}`, false, forged)).toBe('3.4.23');
    expect(statusCallers).toEqual(['no one']);
  });

  it('a client that is not TLS at all is closed; the door goes on', async () => {
    const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/version`])
      .catch((err: { stdout: string }) => ({ stdout: err.stdout }));
    expect(stdout).toBe('000');
    expect(await grpcStatus()).toBe('3.4.23');
  });

  it('every connection is closed once its client left', async () => {
    const deadline = Date.now() + 15_000;
    while (door.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(door.openConnections).toBe(0);
  });
});
