import type { Lessor } from '@raftkv/lease';
import type { MvccStore } from '@raftkv/mvcc';
import {
  ConfChangeType, MessageType, SnapshotStatus, encodeMessage,
  type ConfChange, type ConfChangeV2, type Message, type Snapshot,
} from '@raftkv/raft';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Applier } from '../apply/applier.js';
import { decodeConfChangeContext, encodeConfChangeContext, type Membership } from '../cluster/membership.js';
import { formatUrl } from '../cluster/member-id.js';
import type { ServerConfig } from '../config/index.js';
import { READ_PACING } from '../grpc/read-pacing.js';
import type { Logger } from '../logger.js';
import { RaftLog, type ForceNewClusterOptions } from '@raftkv/raft-log';
import type { ServerCore } from '../server-core.js';
import { removeCoveredSnapshots, snapDbName } from '../storage/received-snapshots.js';
import type { DataDirLayout } from './data-dir.js';
import { encodeWalMetadata, type Identity } from './identity.js';
import type { PeerSide } from './peers.js';
import { leasedKeys } from './state-machine.js';
import type { StartupTimeline } from './startup-timeline.js';

/** A leader whose lessor could not take over yet (no confirmed ReadIndex) tries again this soon. */
const PROMOTE_RETRY_MS = 100;

export interface RaftNodeOptions {
  config: ServerConfig;
  identity: Identity;
  layout: DataDirLayout;
  store: MvccStore;
  lessor: Lessor;
  membership: Membership;
  applier: Applier;
  peers: PeerSide;
  log: Logger;
  /** The server core, once built: told when a conf change it proposed is applied. */
  core: () => ServerCore | undefined;
  /** A conf change removed this member. */
  onRemoved: () => void;
  /** A local failure (WAL, disk): the member must stop. */
  fatal: (err: unknown) => void;
  /** Told each WAL sync's duration and each leader change (see metrics/). */
  metrics?: {
    walSynced(seconds: number): void;
    leaderChanged(lead: bigint): void;
    /** The leader sent a heartbeat (late ones and round trips are counted). */
    heartbeatSent(to: bigint): void;
    /** A snapshot send to `to`; resolves whether it was delivered. */
    snapshotSending(to: bigint, done: Promise<boolean>): void;
    /** A snapshot from the leader is being installed until `done` settles. */
    snapshotApplied(done: Promise<unknown>): void;
  };
  /** Told when a leader is first known (the start-up timeline's election phase). */
  timeline?: StartupTimeline;
}

/**
 * Opens the raft node over the WAL and snapshots, and connects it to the rest of the member:
 * messages out through the peer transport, committed entries into the applier, conf changes
 * into the membership and the transport, received snapshots into the backend, leadership into
 * the lessor.
 */
export async function openRaftNode(o: RaftNodeOptions): Promise<RaftLog> {
  const { config, identity, layout, store, lessor, membership, applier, peers, log } = o;
  const { transport } = peers;
  let raftLog: RaftLog | undefined;

  const sendSnapshot = (m: Message): void => {
    const sent = sendSnapshotFile(m);
    o.metrics?.snapshotSending(m.to, sent);
    void sent.then((ok) => raftLog?.reportSnapshot(m.to, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure));
  };

  const sendSnapshotFile = async (m: Message): Promise<boolean> => {
    const path = join(layout.snapDir, `${m.to.toString(16)}-${Date.now()}.snap.db.send`);
    let ok = false;
    try {
      // Sent as a snapshot at the applied index with the ConfState there (as etcd's merged
      // snapshot): the stored one may predate the recipient's AddNode. The backend is copied
      // after, so it is at or beyond that index (the receiver skips entries it holds).
      // After a write in steps: its ConfState and applied index then describe the same point.
      await applier.idle();
      const metadata = raftLog?.appliedSnapshotMetadata() ?? m.snapshot!.metadata;
      await store.snapshotTo(path);
      const sent: Message = { ...m, snapshot: { data: m.snapshot!.data, metadata } };
      ok = await transport.sendSnapshot(m.to, encodeMessage(sent), createReadStream(path));
    } catch (err) {
      log.warn('sending a snapshot failed', { to: m.to.toString(16), error: String(err) });
    } finally {
      await rm(path, { force: true });
    }
    return ok;
  };

  const send = (msgs: readonly Message[]): void => {
    for (const m of msgs) {
      if (m.type === MessageType.Snap) sendSnapshot(m);
      else {
        if (m.type === MessageType.Heartbeat) o.metrics?.heartbeatSent(m.to);
        try {
          transport.send(m.to, encodeMessage(m));
        } catch (err) {
          // A message over the frame limit (a huge --max-request-bytes): raft retries after a probe.
          log.warn('dropped a raft message the transport cannot carry', { to: m.to.toString(16), error: String(err) });
          setImmediate(() => raftLog?.reportUnreachable(m.to));
        }
      }
    }
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
        if (id === identity.memberId) o.onRemoved();
        break;
      case ConfChangeType.UpdateNode:
        if (ctx) membership.setRaftAttributes(id, ctx.member.peerUrls, ctx.member.isLearner);
        break;
    }
    applier.noteBackendWrite();
    peers.syncPeers();
    if (ctx) o.core()?.confChangeApplied(ctx.requestId);
  };

  let installingSnapshot = false;
  const onSnapshot = (snapshot: Snapshot): Promise<void> => {
    const installed = installSnapshot(snapshot);
    o.metrics?.snapshotApplied(installed);
    return installed;
  };
  const installSnapshot = async (snapshot: Snapshot): Promise<void> => {
    installingSnapshot = true;
    try {
      const index = snapshot.metadata.index;
      log.info('restoring the backend from the leader\'s snapshot', { index });
      await applier.flushed();
      await store.restore(join(layout.snapDir, snapDbName(index)), READ_PACING);
      lessor.recover(leasedKeys(store, () => lessor.size > 0));
      applier.alarms.reload();
      applier.auth.reload();
      membership.reload();
      peers.syncPeers();
      // The leader's backend was at or beyond the snapshot when copied; say so even if its last
      // entries left no trace there (empty entries), durably BEFORE the .snap.db goes, so the
      // start-up check holds after a crash.
      if (index > store.consistentIndex) {
        store.setConsistentIndex(index);
        applier.noteBackendWrite();
        await applier.flushed();
        await store.flushed();
      }
      await removeCoveredSnapshots(layout.snapDir, index);
    } finally {
      installingSnapshot = false;
    }
  };

  let promoteTerm = 0;
  const onLeaderChange = (lead: bigint, isLeader: boolean): void => {
    o.metrics?.leaderChanged(lead);
    if (lead !== 0n) o.timeline?.mark('first leader known', { leader: lead.toString(16), isLeader });
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
        () => setTimeout(tryPromote, PROMOTE_RETRY_MS),
      );
    };
    tryPromote();
  };

  const segmentBytes = Number(process.env['RAFTKV_WAL_SEGMENT_BYTES'] ?? 0);
  // Test tuning, as the segment size: the raft log's byte bounds (raft-log's defaults otherwise).
  const snapshotBytes = Number(process.env['RAFTKV_SNAPSHOT_BYTES'] ?? 0);
  const catchUpBytes = Number(process.env['RAFTKV_SNAPSHOT_CATCH_UP_BYTES'] ?? 0);
  raftLog = await RaftLog.open({
    id: identity.memberId,
    walDir: layout.walDir,
    snapDir: layout.snapDir,
    metadata: encodeWalMetadata(identity.memberId, identity.clusterId),
    ...(identity.voters ? { voters: identity.voters } : {}),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    electionTimeoutMs: config.electionTimeoutMs,
    snapshotCount: config.snapshotCount,
    maxSnapshots: config.maxSnapshots,
    ...(snapshotBytes > 0 ? { snapshotBytes } : {}),
    ...(catchUpBytes > 0 ? { snapshotCatchUpBytes: catchUpBytes } : {}),
    preVote: config.preVote,
    send,
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
    fatal: o.fatal,
    ...(config.forceNewCluster ? { forceNewCluster: forceNewClusterOptions(o) } : {}),
    walOptions: { ...(segmentBytes > 0 ? { segmentSizeBytes: segmentBytes } : {}), ...(o.metrics ? { onSync: o.metrics.walSynced } : {}) },
  });
  return raftLog;
}

/**
 * etcd's --force-new-cluster on a restart: the log keeps this member as the only voter (the
 * removals apply as any removal does: membership, transport); entries the backend applied count
 * as committed. Should it not be a voter, it adds itself at its advertised peer URLs.
 */
function forceNewClusterOptions(o: RaftNodeOptions): ForceNewClusterOptions {
  const { identity, config, store, log } = o;
  return {
    appliedIndex: store.consistentIndex,
    selfContext: encodeConfChangeContext({
      requestId: 0n,
      member: { id: identity.memberId, peerUrls: config.initialAdvertisePeerUrls.map(formatUrl), isLearner: false },
    }),
    onForced: (f) => {
      if (f.discardedEntries > 0) {
        log.info('discarding uncommitted WAL entries', {
          'entry-index': f.commitIndex + 1, 'commit-index-from-wal': f.commitIndex, 'number-of-discarded-entries': f.discardedEntries,
        });
      }
      log.info('forcing restart member', {
        'cluster-id': identity.clusterId, 'local-member-id': identity.memberId,
        'commit-index': f.appended.at(-1)?.index ?? f.commitIndex, 'removed-members': f.removed,
      });
    },
  };
}
