import { Server, ServerCredentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { Lessor, minLeaseTtlSeconds } from '@raftkv/lease';
import { MvccStore } from '@raftkv/mvcc';
import {
  ConfChangeType, MessageType, SnapshotStatus, decodeMessage, encodeMessage,
  type ConfChange, type ConfChangeV2, type Message, type Snapshot,
} from '@raftkv/raft';
import { Wal } from '@raftkv/wal';
import { WatchableStore } from '@raftkv/watch';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Applier, DEFAULT_COMMIT_POLICY } from './apply/applier.js';
import { IdGenerator } from './cluster/id-generator.js';
import { computeClusterId, computeMemberId, formatUrl } from './cluster/member-id.js';
import { MemberRpcClient, memberService, type MembersReply } from './cluster/member-rpc.js';
import { Membership, decodeConfChangeContext, type Member } from './cluster/membership.js';
import type { ServerConfig } from './config/index.js';
import { listenForClients, type ClientListener } from './grpc/client-listener.js';
import { clusterService } from './grpc/cluster-service.js';
import { kvService } from './grpc/kv-service.js';
import { leaseService } from './grpc/lease-service.js';
import { maintenanceService } from './grpc/maintenance-service.js';
import { KVServiceWithEncodedRange } from './grpc/range-response.js';
import { READ_PACING } from './grpc/read-pacing.js';
import { onUnexpectedError } from './grpc/unary.js';
import { watchService, WatchServiceWithEncodedResponses } from './grpc/watch-service.js';
import { BackendLeaseStore } from './lease/backend-lease-store.js';
import { startLeaseExpiry } from './lease/lease-expiry.js';
import type { Logger } from './logger.js';
import { PeerTransport } from './peer/index.js';
import { RaftLog } from './raft-log/index.js';
import { ServerCore } from './server-core.js';
import { checkBackendCoversSnapshot } from './storage/backend-check.js';
import { lockDataDir, type DataDirLock } from './storage/data-dir-lock.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much before gRPC itself refuses it. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** How long a joining member keeps asking the existing members for the member list. */
const JOIN_TIMEOUT_MS = 30_000;
/** A publish refused at once (no leader yet) is tried again this soon. */
const PUBLISH_RETRY_MS = 100;
/**
 * How long shutdown lets open calls finish before cancelling them: Watch and LeaseKeepAlive
 * streams never finish on their own. etcd 3.4, SIGTERMed with an open `etcdctl watch` and
 * `lease keep-alive`, exits in about 2 s.
 */
export const SHUTDOWN_GRACE_MS = 2_000;

export interface RunningServer {
  readonly core: ServerCore;
  /** host:port of each client listener that is bound. */
  readonly clientEndpoints: string[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** This member was removed from the cluster (etcd stops such a member). Default: close the server. */
  onRemoved?(): void;
}

function encodeIds(memberId: bigint, clusterId: bigint): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(memberId, 0);
  b.writeBigUInt64BE(clusterId, 8);
  return b;
}

function decodeIds(meta: Uint8Array): { memberId: bigint; clusterId: bigint } {
  if (meta.byteLength !== 16) throw new Error(`WAL metadata has ${meta.byteLength} bytes, want 16`);
  const b = Buffer.from(meta.buffer, meta.byteOffset, meta.byteLength);
  return { memberId: b.readBigUInt64BE(0), clusterId: b.readBigUInt64BE(8) };
}

function grpcAddress(url: URL): string {
  if (url.protocol === 'unix:' || url.protocol === 'unixs:') return `unix:${url.host}${url.pathname}`;
  return url.host;
}

/** Every live key that names a lease, for rebuilding the lessor's attachments. */
function* leasedKeys(store: MvccStore): Iterable<{ key: Uint8Array; lease: bigint }> {
  const all = store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), keysOnly: true });
  for (const kv of all.kvs) if (kv.lease !== 0n) yield { key: kv.key, lease: kv.lease };
}

/** A received backend snapshot, named by the raft index of its MsgSnap (etcd's `<index>.snap.db`). */
const snapDbName = (index: number): string => `${index.toString(16).padStart(16, '0')}.snap.db`;
const SNAP_DB_RE = /^([0-9a-f]{16})\.snap\.db$/;

async function receivedSnapshots(snapDir: string): Promise<Array<{ index: number; path: string }>> {
  const names = await readdir(snapDir).catch(() => [] as string[]);
  return names.flatMap((n) => {
    const m = SNAP_DB_RE.exec(n);
    return m ? [{ index: Number.parseInt(m[1]!, 16), path: join(snapDir, n) }] : [];
  }).sort((a, b) => b.index - a.index);
}

/** Writes a stream to `path` durably: temp file, fsync, rename, fsync the directory. */
async function writeFileDurably(path: string, dir: string, data: AsyncIterable<Uint8Array>): Promise<void> {
  const part = `${path}.part`;
  const fh = await open(part, 'w');
  try {
    for await (const chunk of data) await fh.write(chunk);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(part, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Who this member is and which cluster it belongs to, from the WAL or the flags. */
interface Identity {
  memberId: bigint;
  clusterId: bigint;
  /** Voters of a brand-new cluster (raft bootstraps them); none on restart or join. */
  voters?: bigint[];
  /** Members to seed an empty membership with (new cluster, or the list a join fetched). */
  initialMembers?: Member[];
}

async function resolveIdentity(walDir: string, config: ServerConfig, rpc: MemberRpcClient, log: Logger): Promise<Identity> {
  if (await Wal.exists(walDir)) {
    // The WAL's metadata is authoritative: flags only matter for a member that has none.
    const { wal, replay } = await Wal.open(walDir);
    await wal.close();
    return decodeIds(replay.metadata);
  }
  const token = config.initialClusterToken;
  if (config.initialClusterState === 'new') {
    const initialMembers = config.initialCluster.map((m): Member => ({
      id: computeMemberId(m.peerUrls, token), name: m.name, peerUrls: m.peerUrls.map(formatUrl), clientUrls: [], isLearner: false,
    }));
    const memberId = computeMemberId(config.initialAdvertisePeerUrls, token);
    const voters = initialMembers.map((m) => m.id);
    return { memberId, clusterId: computeClusterId(voters), voters, initialMembers };
  }
  // Joining an existing cluster: its members know our ID (MemberAdd picked it) and the cluster ID.
  const own = new Set(config.initialAdvertisePeerUrls.map(formatUrl));
  const urls = config.initialCluster.flatMap((m) => m.peerUrls.map(formatUrl)).filter((u) => !own.has(u));
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  let lastError: unknown = new Error('no other member in --initial-cluster');
  while (Date.now() < deadline && urls.length > 0) {
    for (const url of urls) {
      let reply: MembersReply;
      try {
        reply = await rpc.members(url, 2000);
      } catch (err) {
        lastError = err;
        continue;
      }
      const members = reply.members.map((m): Member => ({
        id: BigInt(`0x${m.id}`), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner,
      }));
      const self = members.find((m) => m.peerUrls.some((u) => own.has(u)));
      if (!self) {
        throw new Error(`raftkv: this member's peer URLs (${[...own].join(',')}) are not in the cluster's member list: add it with "member add" first`);
      }
      log.info('joining an existing cluster', { member: self.id.toString(16), cluster: reply.clusterId, via: url });
      return { memberId: self.id, clusterId: BigInt(`0x${reply.clusterId}`), initialMembers: members };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`raftkv: cannot fetch the member list of the existing cluster: ${String(lastError)}`);
}

/**
 * Opens the backend; when the newest backend snapshot received from a leader is ahead of it
 * (a crash between saving that snapshot and restoring from it), restores from it first.
 */
async function openBackend(dbDir: string, snapDir: string, log: Logger): Promise<MvccStore> {
  let store = await MvccStore.open({ dir: dbDir });
  const received = await receivedSnapshots(snapDir);
  const newest = received[0];
  if (newest && newest.index > store.consistentIndex) {
    log.info('restoring the backend from a received snapshot', { index: newest.index, backendIndex: store.consistentIndex });
    await store.close();
    await MvccStore.restoreFrom(newest.path, dbDir);
    store = await MvccStore.open({ dir: dbDir });
  }
  for (const r of received) if (r.index <= store.consistentIndex) await rm(r.path, { force: true });
  // Half-received snapshots and copies being sent when the member stopped.
  for (const name of await readdir(snapDir)) {
    if (name.endsWith('.snap.db.part') || name.endsWith('.snap.db.send')) await rm(join(snapDir, name), { force: true });
  }
  return store;
}

/** Lets open calls finish for `graceMs`, then cancels the rest (open streams never finish). */
function shutdownWithin(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

async function bindAll(server: Server, urls: readonly URL[], what: string): Promise<string[]> {
  const endpoints: string[] = [];
  for (const url of urls) {
    if (url.protocol === 'https:' || url.protocol === 'unixs:') {
      throw new Error(`${formatUrl(url)}: TLS ${what} listeners are not implemented yet`);
    }
    const address = grpcAddress(url);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    endpoints.push(url.protocol === 'unix:' ? address : `${url.hostname}:${port}`);
  }
  return endpoints;
}

/**
 * Starts a raftkv member: recovers the backend, the raft log (WAL and snapshots) and the
 * membership, joins its peers, publishes itself through the log, then serves gRPC on every
 * client URL. Resolves once clients can connect (which, as in etcd, needs a leader).
 */
export async function startServer(config: ServerConfig, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  // Before anything in the data dir is created or opened, so a refused process touches nothing.
  // A --wal-dir first: it gets no file of ours (it holds only segments), the socket alone on Linux.
  const locks: DataDirLock[] = [];
  const release = async (): Promise<void> => {
    for (const l of locks.splice(0).reverse()) await l.release();
  };
  try {
    if (config.walDir) locks.push(await lockDataDir(config.walDir, { holderFile: false, what: 'WAL dir' }));
    locks.push(await lockDataDir(config.dataDir));
    return await startLocked(config, log, options, release);
  } catch (err) {
    await release();
    throw err;
  }
}

async function startLocked(config: ServerConfig, log: Logger, options: StartOptions, releaseLocks: () => Promise<void>): Promise<RunningServer> {
  onUnexpectedError((err) => log.error('unexpected error answering a request', { error: err instanceof Error ? err.stack : String(err) }));
  const memberDir = join(config.dataDir, 'member');
  const walDir = config.walDir || join(memberDir, 'wal');
  const snapDir = join(memberDir, 'snap');
  const dbDir = join(memberDir, 'db');
  await mkdir(snapDir, { recursive: true });
  await mkdir(dbDir, { recursive: true });

  let core: ServerCore | undefined;
  const memberRpc = new MemberRpcClient(() => core?.clusterId ?? 0n);
  const identity = await resolveIdentity(walDir, config, memberRpc, log);
  const { memberId, clusterId } = identity;

  const store = await openBackend(dbDir, snapDir, log);
  try {
    await checkBackendCoversSnapshot(walDir, snapDir, store.consistentIndex);
  } catch (err) {
    await store.close();
    throw err;
  }
  const membership = new Membership(store.bucket('members'), store.bucket('members_removed'));
  if (membership.size === 0 && identity.initialMembers) {
    for (const m of identity.initialMembers) membership.add(m);
    await store.commit();
  }
  let fatal = (err: unknown): void => {
    log.error('fatal error, stopping', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  };
  const lessor = new Lessor({
    clock: { nowMs: () => performance.now() },
    store: new BackendLeaseStore(store.bucket('lease')),
    // A test knob: etcd 3.4 has no flag for the interval (5 minutes).
    ...(Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) > 0
      ? { checkpointIntervalMs: Number(process.env['RAFTKV_LEASE_CHECKPOINT_INTERVAL_MS']) } : {}),
    minTtlSeconds: minLeaseTtlSeconds(Math.max(1, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)), config.heartbeatIntervalMs),
  });
  lessor.recover(leasedKeys(store));
  store.setLeaseChecker((lease) => lessor.lookup(lease) !== undefined);
  const applier = new Applier(store, lessor, membership, (err) => fatal(err), (entry) => {
    log.error('skipped a log entry that cannot be applied (a bug: please report it with this line)', { ...entry });
  }, {
    intervalMs: config.backendBatchIntervalMs || DEFAULT_COMMIT_POLICY.intervalMs,
    limitEntries: config.backendBatchLimit || DEFAULT_COMMIT_POLICY.limitEntries,
  });

  // ---------------------------------------------------------------- peers
  let raftLog: RaftLog | undefined;
  let removed = false;
  let close: () => Promise<void> = async () => {};
  const removedFromCluster = (): void => {
    if (removed) return;
    removed = true;
    log.warn('this member was removed from the cluster; stopping');
    setImmediate(() => (options.onRemoved ? options.onRemoved() : void close()));
  };
  const transport = new PeerTransport({
    selfId: memberId,
    clusterId,
    onMessages: (_from, msgs) => {
      for (const m of msgs) raftLog?.step(decodeMessage(m));
    },
    onSnapshot: async (from, metadata, data) => {
      const msg = decodeMessage(metadata);
      if (msg.type !== MessageType.Snap || !msg.snapshot) throw new Error('raftkv: snapshot call without a MsgSnap');
      const index = msg.snapshot.metadata.index;
      log.info('receiving a snapshot', { from: from.toString(16), index });
      await writeFileDurably(join(snapDir, snapDbName(index)), snapDir, data);
      raftLog?.step(msg);
    },
    onUnreachable: (id) => raftLog?.reportUnreachable(id),
    // As etcd's peers answer a removed member "410 Gone", so it learns it must stop even when
    // it missed the conf change that removed it.
    isRemoved: (id) => membership.isRemoved(id),
    onRemoved: removedFromCluster,
    logger: log,
    // A member back from a restart must hear from the leader within an election timeout, or it
    // campaigns and disrupts the cluster: redial at least every heartbeat (etcd: every 100 ms).
    limits: { backoffMaxMs: Math.max(50, config.heartbeatIntervalMs) },
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

  const peerServer = new Server(transport.serverOptions());
  const peerService = transport.service();
  peerServer.addService(peerService.definition, peerService.implementation);
  const members = memberService({
    clusterId: () => clusterId,
    members: () => core!.membersReply(),
    leaseRenew: async (id) => core!.leaderLeaseRenew(id),
    leaseTimeToLive: async (id, keys) => core!.leaderLeaseTimeToLive(id, keys),
    memberPromote: async (id) => {
      await core!.leaderMemberPromote(id);
      return core!.membersReply();
    },
  });
  peerServer.addService(members.definition, members.implementation);
  const peerEndpoints = await bindAll(peerServer, config.listenPeerUrls, 'peer');

  // ---------------------------------------------------------------- raft
  const sendSnapshot = async (m: Message): Promise<void> => {
    const path = join(snapDir, `${m.to.toString(16)}-${Date.now()}.snap.db.send`);
    let ok = false;
    try {
      // The backend as applied now: at or beyond the snapshot's index (the receiver skips entries it holds).
      await store.snapshotTo(path);
      ok = await transport.sendSnapshot(m.to, encodeMessage(m), createReadStream(path));
    } catch (err) {
      log.warn('sending a snapshot failed', { to: m.to.toString(16), error: String(err) });
    } finally {
      await rm(path, { force: true });
    }
    raftLog?.reportSnapshot(m.to, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
  };

  const onConfChange = (cc: ConfChange | ConfChangeV2): void => {
    if (!('nodeId' in cc)) return; // only single changes are proposed here
    const ctx = decodeConfChangeContext(cc.context);
    const id = cc.nodeId;
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode: {
        const existing = membership.get(id);
        if (existing) {
          if (cc.type === ConfChangeType.AddNode && existing.isLearner) membership.promote(id);
        } else if (ctx) {
          membership.add({ id, name: '', peerUrls: ctx.member.peerUrls, clientUrls: [], isLearner: cc.type === ConfChangeType.AddLearnerNode });
        }
        break;
      }
      case ConfChangeType.RemoveNode:
        membership.remove(id);
        if (transport.hasPeer(id)) transport.removePeer(id);
        if (id === memberId) removedFromCluster();
        break;
      case ConfChangeType.UpdateNode:
        if (ctx) membership.setRaftAttributes(id, ctx.member.peerUrls, ctx.member.isLearner);
        break;
    }
    applier.noteBackendWrite();
    syncPeers();
    if (ctx) core?.confChangeApplied(ctx.requestId);
  };

  let installingSnapshot = false;
  const onSnapshot = async (snapshot: Snapshot): Promise<void> => {
    installingSnapshot = true;
    try {
      const index = snapshot.metadata.index;
      const path = join(snapDir, snapDbName(index));
      log.info('restoring the backend from the leader\'s snapshot', { index });
      await applier.flushed();
      await store.restore(path, READ_PACING);
      lessor.recover(leasedKeys(store));
      membership.reload();
      syncPeers();
      // The leader's backend was at or beyond the snapshot when copied; say so even if its last
      // entries left no trace there (empty entries), durably BEFORE the .snap.db goes, so the
      // start-up check holds after a crash.
      if (index > store.consistentIndex) {
        store.setConsistentIndex(index);
        applier.noteBackendWrite();
        await applier.flushed();
        await store.flushed();
      }
      for (const r of await receivedSnapshots(snapDir)) if (r.index <= index) await rm(r.path, { force: true });
    } finally {
      installingSnapshot = false;
    }
  };

  let promoteTerm = 0;
  const onLeaderChange = (_lead: bigint, isLeader: boolean): void => {
    if (!isLeader) {
      if (lessor.isPrimary) lessor.demote();
      return;
    }
    // A new leader's lessor takes over once the leader has applied everything committed before
    // its term (a confirmed ReadIndex implies it), with a full election timeout of grace.
    const term = raftLog?.term ?? 0;
    promoteTerm = term;
    const tryPromote = (): void => {
      if (!raftLog?.isLeader || promoteTerm !== term) return;
      raftLog.readIndex(Buffer.from(`promote-${term}-${Date.now()}`)).then(
        () => { if (raftLog?.isLeader && promoteTerm === term && !lessor.isPrimary) lessor.promote(config.electionTimeoutMs); },
        () => setTimeout(tryPromote, PUBLISH_RETRY_MS),
      );
    };
    tryPromote();
  };

  const segmentBytes = Number(process.env['RAFTKV_WAL_SEGMENT_BYTES'] ?? 0);
  raftLog = await RaftLog.open({
    id: memberId,
    walDir,
    snapDir,
    metadata: encodeIds(memberId, clusterId),
    ...(identity.voters ? { voters: identity.voters } : {}),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    electionTimeoutMs: config.electionTimeoutMs,
    snapshotCount: config.snapshotCount,
    maxSnapshots: config.maxSnapshots,
    preVote: config.preVote,
    send: (msgs) => {
      for (const m of msgs) {
        if (m.type === MessageType.Snap) void sendSnapshot(m);
        else {
          try {
            transport.send(m.to, encodeMessage(m));
          } catch (err) {
            // A message over the frame limit (a huge --max-request-bytes): raft retries after a probe.
            log.warn('dropped a raft message the transport cannot carry', { to: m.to.toString(16), error: String(err) });
            setImmediate(() => raftLog?.reportUnreachable(m.to));
          }
        }
      }
    },
    apply: (entries) => applier.apply(entries),
    onConfChange,
    onSnapshot,
    onLeaderChange,
    onSnapshotSaved: (index) => log.info('saved a snapshot and released WAL segments covered by it', { index }),
    backendDurable: async () => {
      // Called just before a snapshot at the applied index is saved: every entry up to it was
      // applied, including empty entries and conf changes that wrote no key, so the consistent index may
      // say so. Not while a received snapshot is being installed (the applied index is then
      // the snapshot's, and the backend is not there yet).
      const applied = raftLog?.appliedIndex ?? 0;
      if (!installingSnapshot && applied > store.consistentIndex) {
        store.setConsistentIndex(applied);
        applier.noteBackendWrite();
      }
      await applier.flushed();
      await store.flushed();
    },
    fatal: (err) => fatal(err),
    ...(segmentBytes > 0 ? { walOptions: { segmentSizeBytes: segmentBytes } } : {}),
  });
  log.info('raft log opened', { member: memberId.toString(16), cluster: clusterId.toString(16), peers: peerEndpoints });

  core = new ServerCore({
    config, store, lessor, log: raftLog, applier, ids: new IdGenerator(memberId, Date.now()), membership, transport, memberRpc,
    clusterId,
    self: {
      id: memberId,
      name: config.name,
      peerUrls: config.initialAdvertisePeerUrls.map(formatUrl),
      clientUrls: config.advertiseClientUrls.map(formatUrl),
    },
  });
  const stopLeaseExpiry = startLeaseExpiry(core, lessor, log);

  // Watchers catch up from history in bounded steps between other work, never inside apply.
  const watchHub: WatchableStore = new WatchableStore(store, { onSyncNeeded: () => setImmediate(() => watchHub.syncUnsynced()) });
  const progressTimer = setInterval(() => watchHub.progressAll(), config.experimental.watchProgressNotifyIntervalMs || 600_000);
  progressTimer.unref();

  const grpcServer = new Server({
    'grpc.max_receive_message_length': config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    // etcd's --max-concurrent-streams (default 2^32-1); Node's HTTP/2 caps the setting at 2^31-1.
    'grpc.max_concurrent_streams': Math.min(config.maxConcurrentStreams, 2 ** 31 - 1),
  });
  grpcServer.addService(KVServiceWithEncodedRange, kvService(core));
  grpcServer.addService(etcdserverpb.MaintenanceService, maintenanceService(core));
  grpcServer.addService(etcdserverpb.ClusterService, clusterService(core));
  grpcServer.addService(etcdserverpb.LeaseService, leaseService(core));
  grpcServer.addService(WatchServiceWithEncodedResponses, watchService(core, watchHub));

  let clientListener: ClientListener | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;
  close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      fatal = () => {};
      core?.close();
      stopLeaseExpiry();
      clearInterval(progressTimer);
      watchHub.close();
      await clientListener?.close();
      await shutdownWithin(grpcServer, SHUTDOWN_GRACE_MS);
      await raftLog!.close();
      await transport.close();
      peerServer.forceShutdown();
      memberRpc.close();
      await applier.flushed();
      await store.close();
      await releaseLocks();
    })();
    return closing;
  };

  // As etcd, serve clients only once this member's attributes are committed: that needs a
  // leader, and means everything committed before is applied here.
  for (;;) {
    try {
      // A catching-up member applies its publish entry only after everything before it.
      await core.publish(core.requestTimeoutMs);
      break;
    } catch (err) {
      if (closed) throw new Error('raftkv: stopped before publishing');
      log.debug('publishing member attributes failed, retrying', { error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
    }
  }
  log.info('published member attributes', { name: config.name, clientUrls: core.self.clientUrls });

  for (const url of config.listenClientUrls) {
    if (url.protocol === 'https:' || url.protocol === 'unixs:') throw new Error(`${formatUrl(url)}: TLS client listeners are not implemented yet`);
  }
  // Our own listener: etcd's Go clients may send a whole URL as :authority, which Node's HTTP/2 refuses.
  clientListener = await listenForClients(grpcServer, config.listenClientUrls, ServerCredentials.createInsecure());
  const clientEndpoints = clientListener.endpoints;
  log.info('ready to serve client requests', { endpoints: clientEndpoints, member: memberId, cluster: clusterId });
  return { core, clientEndpoints, close };
}
