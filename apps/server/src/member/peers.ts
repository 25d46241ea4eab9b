import { Server, ServerCredentials } from '@grpc/grpc-js';
import { decodeMessage, MessageType } from '@raftkv/raft';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { formatUrl } from '../cluster/member-id.js';
import { memberService } from '../cluster/member-rpc.js';
import type { Membership } from '../cluster/membership.js';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../logger.js';
import { PeerTransport } from '@raftkv/peer-transport';
import type { RaftLog } from '@raftkv/raft-log';
import { listenPeerTls, type PeerTlsListener } from '../security/peer-tls-listener.js';
import type { PeerSecurity } from '../security/transport-security.js';
import type { ServerCore } from '../server-core.js';
import { answerPeerHashKV } from './corruption-check.js';
import { listenPeerPlain } from './peer-plain-listener.js';
import { snapDbName, writeFileDurably } from '../storage/received-snapshots.js';

/** The member's side facing its peers: the raft transport and the peer listener serving it. */
export interface PeerSide {
  readonly transport: PeerTransport;
  /** host:port of each bound peer listener. */
  readonly endpoints: string[];
  /** Dials every member of the membership but this one, at its current peer URLs. */
  syncPeers(): void;
  /**
   * Serves the connections the peer listeners accepted so far, and every later one. Until then
   * they are held unanswered (as etcd, which serves its peer handler only once its raft node
   * exists): a peer whose stream hello is answered counts this member active and may advance its
   * election ticks, then campaign to a member with no raft to vote. Call once the raft node exists.
   */
  startServing(): void;
  close(): Promise<void>;
}

export interface PeerSideOptions {
  config: ServerConfig;
  memberId: bigint;
  clusterId: bigint;
  membership: Membership;
  snapDir: string;
  log: Logger;
  /** The raft node, once opened: received messages and snapshots go to it. */
  raft: () => RaftLog | undefined;
  /** The server core, once built: it answers the member RPCs (member list, lease and promote forwarding). */
  core: () => ServerCore | undefined;
  /** This member learned it was removed from the cluster. */
  onRemoved: () => void;
  /** Peer TLS (https peer URLs); without it, only http peer URLs are served and dialled. */
  security?: PeerSecurity;
  /** Told of heartbeat answers (round trips) and of each snapshot received (see metrics/). */
  metrics?: { heartbeatAnswered(from: bigint): void; snapshotReceiving(from: bigint, done: Promise<unknown>): void };
}

/**
 * Opens the peer side: the transport (dialling every other member) and the peer listener on
 * every `--listen-peer-urls`, serving raft traffic, snapshots and the member RPCs.
 */
export async function openPeerSide(o: PeerSideOptions): Promise<PeerSide> {
  const { config, memberId, membership, snapDir, log } = o;
  const transport = new PeerTransport({
    selfId: memberId,
    clusterId: o.clusterId,
    onMessages: (_from, msgs) => {
      const raft = o.raft();
      for (const m of msgs) {
        const msg = decodeMessage(m);
        if (msg.type === MessageType.HeartbeatResp) o.metrics?.heartbeatAnswered(msg.from);
        raft?.step(msg);
      }
    },
    onSnapshot: async (from, metadata, data) => {
      const msg = decodeMessage(metadata);
      if (msg.type !== MessageType.Snap || !msg.snapshot) throw new Error('raftkv: snapshot call without a MsgSnap');
      const index = msg.snapshot.metadata.index;
      log.info('receiving a snapshot', { from: from.toString(16), index });
      const saved = writeFileDurably(join(snapDir, snapDbName(index)), snapDir, data);
      o.metrics?.snapshotReceiving(from, saved);
      await saved;
      o.raft()?.step(msg);
    },
    onUnreachable: (id) => o.raft()?.reportUnreachable(id),
    // As etcd's peers answer a removed member "410 Gone", so it learns it must stop even when
    // it missed the conf change that removed it.
    isRemoved: (id) => membership.isRemoved(id),
    onRemoved: o.onRemoved,
    logger: log,
    // A member back from a restart must hear from the leader within an election timeout, or it
    // campaigns and disrupts the cluster: redial at least every heartbeat (etcd: every 100 ms).
    limits: { backoffMaxMs: Math.max(50, config.heartbeatIntervalMs) },
    // The server side is this file's TLS listener (checks and logs refusals); the transport only dials.
    ...(o.security ? { credentials: { channel: o.security.channelCredentials, server: ServerCredentials.createInsecure(), raw: o.security.rawTlsOptions } } : {}),
  });
  const syncPeers = (): void => {
    for (const m of membership.list()) {
      if (m.id === memberId) continue;
      try {
        if (transport.hasPeer(m.id)) transport.updatePeer(m.id, m.peerUrls);
        else transport.addPeer(m.id, m.peerUrls);
      } catch (err) {
        // A member this one cannot dial (an https peer URL without peer TLS) is unreachable, as
        // for etcd when a handshake fails: it must never stop the apply of the change that added it.
        log.warn('cannot dial a member at its peer URLs', { member: m.id.toString(16), peerUrls: m.peerUrls, error: String(err) });
      }
    }
  };
  syncPeers();

  const core = (): ServerCore => {
    const c = o.core();
    if (!c) throw new Error('raftkv: this member is still starting');
    return c;
  };
  const server = new Server(transport.serverOptions());
  const peerService = transport.service();
  server.addService(peerService.definition, peerService.implementation);
  const members = memberService({
    clusterId: () => o.clusterId,
    members: () => core().membersReply(),
    leaseRenew: async (id) => core().leaderLeaseRenew(id),
    leaseTimeToLive: async (id, keys) => core().leaderLeaseTimeToLive(id, keys),
    memberPromote: async (id) => {
      await core().leaderMemberPromote(id);
      return core().membersReply();
    },
    hashKV: (revision) => answerPeerHashKV(core().store, memberId, revision),
  });
  server.addService(members.definition, members.implementation);
  const tlsListeners: PeerTlsListener[] = [];
  let held: Duplex[] | undefined = [];
  const close = async (): Promise<void> => {
    for (const socket of held ?? []) socket.destroy();
    held = undefined;
    await transport.close();
    await Promise.all(tlsListeners.map((l) => l.close()));
    server.forceShutdown();
  };
  // grpc-js serves the connections this member accepted (and checked, for TLS) itself, but for
  // the raft streams the transport takes off them (raw streams, see @raftkv/peer-transport).
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const serve = (socket: Duplex): void => transport.serveConnection(socket, (s) => injector.injectConnection(s));
  const startServing = (): void => {
    const sockets = held;
    held = undefined;
    for (const socket of sockets ?? []) if (!socket.destroyed) serve(socket);
  };
  const accept = (socket: Duplex): void => {
    if (held === undefined) serve(socket);
    else held.push(socket);
  };
  try {
    const endpoints = await bindPeerListeners(server, accept, config.listenPeerUrls, o.security, tlsListeners, log);
    return { transport, endpoints, syncPeers, startServing, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Binds the peer URLs; http and https connections go to `serve`, other URLs to grpc-js itself. */
async function bindPeerListeners(
  server: Server, serve: (socket: Duplex) => void, urls: readonly URL[], security: PeerSecurity | undefined, tlsListeners: PeerTlsListener[], log: Logger,
): Promise<string[]> {
  const endpoints: string[] = [];
  for (const url of urls) {
    if (url.protocol === 'http:') {
      const listener = await listenPeerPlain(url, serve);
      tlsListeners.push(listener);
      endpoints.push(listener.endpoint);
      continue;
    }
    if (url.protocol === 'https:') {
      // openTransportSecurity refused https peer URLs without peer TLS before this.
      if (!security) throw new Error(`cannot listen on TLS for ${url.host}: KeyFile and CertFile are not presented`);
      const listener = await listenPeerTls(url, security, serve, log);
      tlsListeners.push(listener);
      endpoints.push(listener.endpoint);
      continue;
    }
    if (url.protocol === 'unixs:') throw new Error(`${formatUrl(url)}: unixs peer URLs are not supported`);
    const address = url.protocol === 'unix:' ? `unix:${url.host}${url.pathname}` : url.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    endpoints.push(url.protocol === 'unix:' ? address : `${url.hostname}:${port}`);
  }
  return endpoints;
}
