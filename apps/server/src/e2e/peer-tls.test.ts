// Peer TLS on the real binary: three members over https peer URLs with mutual TLS and an
// allowed CN elect a leader and replicate; a caller without a certificate, with one from another
// CA or with another CN is refused with etcd's "rejected connection" log line and the reason;
// a member started with a certificate from another CA cannot join.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { etcdctl, freePorts, killNow, raftkvNodeArgs, removeDir, spawnTracked, tempDir, terminate } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pki } from '../security/test-support/pki.js';

const READY = /ready to serve client requests/;

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves once the output matches `re` (rejects if the process exits first). */
  waitFor(re: RegExp): Promise<void>;
  /** Resolves once `pred(output)` holds, checked whenever output arrives. */
  waitUntil(pred: (output: string) => boolean): Promise<void>;
}

function spawnMember(name: string, clientUrl: string, peerUrl: string, flags: string[]): Member {
  const dataDir = tempDir(`peer-tls-${name}-`);
  const child = spawnTracked(process.execPath, [...raftkvNodeArgs(), '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (b: Buffer): void => {
    out += b.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.on('exit', () => { for (const w of waiters.splice(0)) w(); });
  return {
    name, clientUrl, peerUrl, dataDir, child, output: () => out,
    async waitUntil(pred) {
      while (!pred(out)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited first:\n${out}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    waitFor(re) {
      return this.waitUntil((o) => re.test(o));
    },
  };
}

/** Connects to a peer port with `opts` and resolves once the member has closed the connection. */
function dialPeer(peerUrl: string, opts: tls.ConnectionOptions): Promise<void> {
  const u = new URL(peerUrl);
  return new Promise((resolve) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ALPNProtocols: ['h2'], ...opts });
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.resume();
  });
}

describe('peer TLS: a three-member cluster over https peer URLs', () => {
  const pki = new Pki();
  const certs = [1, 2, 3].map((i) => pki.issue(`m${i}`, 'raftkv-peer'));
  const intruder = pki.issue('intruder', 'intruder');
  const other = new Pki('other-ca', pki.dir);
  const stranger = other.issue('stranger', 'raftkv-peer');
  const members: Member[] = [];
  let extra: Member | undefined;

  beforeAll(async () => {
    const ports = await freePorts(6);
    const peerUrls = [0, 1, 2].map((i) => `https://127.0.0.1:${ports[3 + i]}`);
    const initialCluster = peerUrls.map((u, i) => `m${i + 1}=${u}`).join(',');
    for (let i = 0; i < 3; i++) {
      members.push(spawnMember(`m${i + 1}`, `http://127.0.0.1:${ports[i]}`, peerUrls[i]!, [
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new',
        '--peer-cert-file', certs[i]!.certFile, '--peer-key-file', certs[i]!.keyFile, '--peer-trusted-ca-file', pki.caFile,
        '--peer-client-cert-auth', '--peer-cert-allowed-cn', 'raftkv-peer',
        // The leader's corruption check asks each peer for its HashKV over the same mutual TLS.
        '--experimental-corrupt-check-time', '1s',
      ]));
    }
    await Promise.all(members.map((m) => m.waitFor(READY)));
  }, 90_000);

  afterAll(async () => {
    if (extra) await killNow(extra.child);
    for (const m of members) await terminate(m.child);
    for (const m of [...members, ...(extra ? [extra] : [])]) removeDir(m.dataDir);
    pki.remove();
  });

  it('elects a leader and replicates writes', async () => {
    const put = await etcdctl(members[0]!.clientUrl, ['put', 'over', 'tls']);
    expect([put.code, put.stdout.trim()]).toEqual([0, 'OK']);
    for (const m of members) {
      const get = await etcdctl(m.clientUrl, ['get', 'over', '--print-value-only']);
      expect(get.stdout.trim(), m.name).toBe('tls');
    }
    const statuses = await Promise.all(members.map(async (m) => JSON.parse((await etcdctl(m.clientUrl, ['endpoint', 'status', '-w', 'json'])).stdout)[0].Status));
    const leaders = new Set(statuses.map((s: { leader: number }) => String(s.leader)));
    expect(leaders.size).toBe(1);
    expect([...leaders][0]).not.toBe('0');
    const list = await etcdctl(members[0]!.clientUrl, ['member', 'list']);
    for (const m of members) expect(list.stdout).toContain(m.peerUrl);
    // Raft traffic rides the raw streams over the same mutual TLS, not the gRPC fallback.
    for (const m of members) {
      expect(m.output(), m.name).toMatch(/peer stream established.*"stream":"raw"/);
      expect(m.output(), m.name).not.toMatch(/"stream":"grpc"/);
    }
  });

  it('the leader\'s corruption check gets both peers\' HashKV over peer TLS', async () => {
    await Promise.race(members.map((m) => m.waitFor(/"msg":"finished peer corruption check".*"number-of-peers-checked":2/)));
    const list = await etcdctl(members[0]!.clientUrl, ['alarm', 'list']);
    expect([list.code, list.stdout]).toEqual([0, '']);
  });

  it('refuses a caller without a certificate, from another CA, or with another CN, and logs why', async () => {
    const ca = readFileSync(pki.caFile);
    const target = members[0]!;
    await dialPeer(target.peerUrl, { ca });
    await target.waitFor(/"msg":"rejected connection".*"error":"tls: client didn't provide a certificate"/);
    await dialPeer(target.peerUrl, { ca, cert: readFileSync(stranger.certFile), key: readFileSync(stranger.keyFile) });
    await target.waitFor(/"msg":"rejected connection".*"error":"tls: failed to verify client's certificate: [A-Z_]+"/);
    await dialPeer(target.peerUrl, { ca, cert: readFileSync(intruder.certFile), key: readFileSync(intruder.keyFile) });
    await target.waitFor(/"msg":"rejected connection".*"dns-names":\["localhost"\],"error":"client certificate authentication failed"/);
    // The cluster is unaffected.
    const put = await etcdctl(target.clientUrl, ['put', 'after', 'refusals']);
    expect(put.code).toBe(0);
  });

  it('a member whose certificate another CA signed cannot join', async () => {
    const [clientPort, peerPort] = await freePorts(2);
    const peerUrl = `https://127.0.0.1:${peerPort}`;
    // MemberAdd takes an https peer URL on members with peer TLS.
    const add = await etcdctl(members[0]!.clientUrl, ['member', 'add', 'm4', `--peer-urls=${peerUrl}`]);
    expect(add.code, add.stderr).toBe(0);
    const before = members.map((m) => (m.output().match(/failed to verify client's certificate/g) ?? []).length);
    const initialCluster = [...members.map((m) => `${m.name}=${m.peerUrl}`), `m4=${peerUrl}`].join(',');
    extra = spawnMember('m4', `http://127.0.0.1:${clientPort}`, peerUrl, [
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'existing',
      // It trusts the members' CA, so the handshake gets as far as its own certificate.
      '--peer-cert-file', stranger.certFile, '--peer-key-file', stranger.keyFile, '--peer-trusted-ca-file', pki.caFile,
    ]);
    // Its calls to the members are refused by each it tries, with the reason logged there.
    await Promise.race(members.map((m, i) => m.waitUntil((o) => (o.match(/failed to verify client's certificate/g) ?? []).length > before[i]!)));
    expect(extra.output()).not.toMatch(READY);
    // Three of four members answer: the cluster still commits.
    const put = await etcdctl(members[1]!.clientUrl, ['put', 'still', 'serving']);
    expect(put.code).toBe(0);
  }, 60_000);
});

describe('peer TLS: --peer-auto-tls', () => {
  const members: Member[] = [];
  beforeAll(async () => {
    const ports = await freePorts(6);
    const peerUrls = [0, 1, 2].map((i) => `https://127.0.0.1:${ports[3 + i]}`);
    const initialCluster = peerUrls.map((u, i) => `a${i + 1}=${u}`).join(',');
    for (let i = 0; i < 3; i++) {
      members.push(spawnMember(`a${i + 1}`, `http://127.0.0.1:${ports[i]}`, peerUrls[i]!, [
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--peer-auto-tls',
      ]));
    }
    await Promise.all(members.map((m) => m.waitFor(READY)));
  }, 90_000);
  afterAll(async () => {
    for (const m of members) await terminate(m.child);
    for (const m of members) removeDir(m.dataDir);
  });

  it('members with self-signed certificates (in <data-dir>/fixtures/peer) form a cluster over TLS', async () => {
    const put = await etcdctl(members[0]!.clientUrl, ['put', 'auto', 'peer-tls']);
    expect(put.code).toBe(0);
    const get = await etcdctl(members[2]!.clientUrl, ['get', 'auto', '--print-value-only']);
    expect(get.stdout.trim()).toBe('peer-tls');
    for (const m of members) {
      const cert = readFileSync(`${m.dataDir}/fixtures/peer/cert.pem`, 'utf8');
      // The certificate each member serves on its peer URL is the one it made.
      const served = await new Promise<string>((resolve, reject) => {
        const u = new URL(m.peerUrl);
        const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
          resolve(s.getPeerX509Certificate()!.toString());
          s.destroy();
        });
        s.on('error', reject);
      });
      expect(served.trim(), m.name).toBe(cert.trim());
    }
  });
});
