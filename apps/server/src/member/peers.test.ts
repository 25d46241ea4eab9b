import { MvccStore } from '@raftkv/mvcc';
import { encodeMessage, MessageType, type Message } from '@raftkv/raft';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemberRpcClient } from '../cluster/member-rpc.js';
import { Membership } from '../cluster/membership.js';
import { parseConfig, type ServerConfig } from '../config/index.js';
import { createLogger } from '../logger.js';
import type { RaftLog } from '@raftkv/raft-log';
import { openPeerSide, type PeerSide } from './peers.js';
import { credentials } from '@grpc/grpc-js';
import { copyFileSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Pki } from '../security/test-support/pki.js';
import { openTransportSecurity, type PeerSecurity } from '../security/transport-security.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c(); });
const log = createLogger('error');

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftkv-peers-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function config(peerUrl: string): ServerConfig {
  const parsed = parseConfig(['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'default=http://127.0.0.1:2380'], {});
  if (parsed.kind !== 'run') throw new Error('not a run config');
  return parsed.config;
}

/** The messages a peer side hands to its raft node. */
class ReceivingRaft {
  readonly stepped: Message[] = [];
  step(m: Message): void { this.stepped.push(m); }
  reportUnreachable(): void {}
}

async function peerSide(
  id: bigint, peerUrl: string, members: Array<{ id: bigint; url: string }>, raft: ReceivingRaft, security?: PeerSecurity, serving = true,
): Promise<PeerSide> {
  const store = await MvccStore.open({ dir: tempDir() });
  cleanups.push(() => store.close());
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  for (const m of members) membership.add({ id: m.id, name: '', peerUrls: [m.url], clientUrls: [], isLearner: false });
  const side = await openPeerSide({
    config: config(peerUrl), memberId: id, clusterId: 99n, membership, snapDir: tempDir(), log,
    raft: () => raft as unknown as RaftLog, core: () => undefined, onRemoved: () => {}, ...(security ? { security } : {}),
  });
  cleanups.push(() => side.close());
  if (serving) side.startServing();
  return side;
}

const heartbeat = (from: bigint, to: bigint): Message => ({
  type: MessageType.Heartbeat, to, from, term: 3, logTerm: 0, index: 0, entries: [], commit: 5,
  snapshot: undefined, reject: false, rejectHint: 0, context: new Uint8Array(),
});

describe('openPeerSide', () => {
  it('binds every peer URL and delivers raft messages from a dialled member to the raft node', async () => {
    const rb = new ReceivingRaft();
    const b = await peerSide(2n, 'http://127.0.0.1:0', [], rb);
    const bUrl = `http://${b.endpoints[0]}`;
    expect(b.endpoints).toHaveLength(1);
    const a = await peerSide(1n, 'http://127.0.0.1:0', [{ id: 1n, url: 'http://127.0.0.1:1' }, { id: 2n, url: bUrl }], new ReceivingRaft());
    const deadline = Date.now() + 10_000;
    while (rb.stepped.length === 0 && Date.now() < deadline) {
      a.transport.send(2n, encodeMessage(heartbeat(1n, 2n)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(rb.stepped[0]).toMatchObject({ type: MessageType.Heartbeat, from: 1n, to: 2n, term: 3, commit: 5 });
  });

  it('holds its peers\' connections unanswered until startServing (the raft node exists), then serves them', async () => {
    const rb = new ReceivingRaft();
    const b = await peerSide(6n, 'http://127.0.0.1:0', [], rb, undefined, false);
    const a = await peerSide(7n, 'http://127.0.0.1:0', [{ id: 7n, url: 'http://127.0.0.1:1' }, { id: 6n, url: `http://${b.endpoints[0]}` }], new ReceivingRaft());
    const aSeesB = () => a.transport.stats().peers.get(6n)?.active;
    // a dials b and sends for a while: b's listener accepted the connection, but nothing is answered.
    for (let i = 0; i < 10; i++) {
      a.transport.send(6n, encodeMessage(heartbeat(7n, 6n)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(aSeesB()).toBe(false);
    expect(rb.stepped).toHaveLength(0);
    b.startServing();
    const deadline = Date.now() + 10_000;
    while ((rb.stepped.length === 0 || !aSeesB()) && Date.now() < deadline) {
      a.transport.send(6n, encodeMessage(heartbeat(7n, 6n)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(aSeesB()).toBe(true);
    expect(rb.stepped[0]).toMatchObject({ type: MessageType.Heartbeat, from: 7n, to: 6n });
  });

  it('answers member RPCs only once the server core exists', async () => {
    const side = await peerSide(3n, 'http://127.0.0.1:0', [], new ReceivingRaft());
    const rpc = new MemberRpcClient(() => 99n);
    cleanups.push(() => rpc.close());
    await expect(rpc.members(`http://${side.endpoints[0]}`, 5000)).rejects.toThrow(/still starting/);
  });

  it('refuses an https peer URL without peer TLS (etcd\'s message)', async () => {
    await expect(peerSide(4n, 'https://127.0.0.1:0', [], new ReceivingRaft())).rejects.toThrow('cannot listen on TLS for 127.0.0.1:0: KeyFile and CertFile are not presented');
  });

  it('with peer TLS: serves https, answers member RPCs dialled with the peer certificate, refuses callers without one', async () => {
    const pki = new Pki();
    cleanups.push(() => pki.remove());
    const leaf = pki.issue('peer', 'peer');
    const rotated = pki.issue('peer2', 'peer-rotated');
    const live = { certFile: pki.path('live.crt'), keyFile: pki.path('live.key') };
    copyFileSync(leaf.certFile, live.certFile);
    copyFileSync(leaf.keyFile, live.keyFile);
    const parsed = parseConfig(['--listen-peer-urls', 'https://127.0.0.1:0', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380',
      '--initial-cluster', 'default=https://127.0.0.1:2380', '--peer-cert-file', live.certFile, '--peer-key-file', live.keyFile,
      '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth'], {});
    if (parsed.kind !== 'run') throw new Error('not a run config');
    const { peer } = await openTransportSecurity(parsed.config, log);
    const side = await peerSide(5n, 'https://127.0.0.1:0', [], new ReceivingRaft(), peer);
    const url = `https://${side.endpoints[0]}`;
    const rpc = new MemberRpcClient(() => 99n, peer!.channelCredentials);
    cleanups.push(() => rpc.close());
    await expect(rpc.members(url, 5000)).rejects.toThrow(/still starting/);
    const bare = new MemberRpcClient(() => 99n, credentials.createSsl(readFileSync(pki.caFile)));
    cleanups.push(() => bare.close());
    await expect(bare.members(url, 3000)).rejects.toThrow(/UNAVAILABLE|Deadline|No connection/i);
    // Without TLS credentials an https peer URL cannot be dialled at all.
    expect(() => new MemberRpcClient(() => 99n).members(url, 1000)).toThrow(/https needs peer TLS/);
    // Peer certificate files replaced on disk: the next connection to the listener gets the new one.
    const served = (): Promise<string> => new Promise((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: Number(side.endpoints[0]!.split(':')[1]), ca: readFileSync(pki.caFile),
        cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile), ALPNProtocols: ['h2'] }, () => {
        resolve(String(c.getPeerCertificate().subject.CN));
        c.destroy();
      });
      c.on('error', reject);
    });
    expect(await served()).toBe('peer');
    copyFileSync(rotated.certFile, live.certFile);
    copyFileSync(rotated.keyFile, live.keyFile);
    expect(await served()).toBe('peer-rotated');
  });
});
