import { EtcdErrors } from '@raftkv/api';
import type { MvccStore } from '@raftkv/mvcc';
import { toEtcdError } from '../apply/applier.js';
import type { HashKvReply, MemberRpcClient } from '../cluster/member-rpc.js';
import type { Member } from '../cluster/membership.js';
import { READ_PACING } from '../grpc/read-pacing.js';
import type { Logger } from '../logger.js';

/**
 * etcd 3.4's corruption checks (etcdserver/corrupt.go): members compare HashKV at the same
 * revision over the peer URLs. `--experimental-initial-corrupt-check` refuses to start a member
 * whose hash differs from a peer's at the same compact revision; `--experimental-corrupt-check-time`
 * makes the leader compare periodically and raise the CORRUPT alarm on a mismatch.
 */

/** One peer's answer, or why none came (its last URL's error). */
export interface PeerHashKV {
  id: bigint;
  peerUrls: readonly string[];
  reply?: HashKvReply;
  error?: unknown;
}

/** What a member answers a peer's HashKV call: etcd's HashByRev, read in steps so serving goes on. */
export async function answerPeerHashKV(store: MvccStore, memberId: bigint, revision: number): Promise<HashKvReply> {
  let r;
  try {
    r = await store.hashKVPaced(revision, READ_PACING);
  } catch (err) {
    // Compacted and FutureRev travel as etcd's errors (the asking member tells them apart).
    throw toEtcdError(err) ?? err;
  }
  return { header: { memberId: memberId.toString(16), revision: r.revision }, hash: r.hash, compactRevision: r.compactRevision };
}

/** Asks every other member (each of its peer URLs in turn) for its HashKV at `revision`, as etcd's getPeerHashKVs. */
export async function getPeerHashKVs(
  rpc: MemberRpcClient, members: readonly Member[], selfId: bigint, revision: number, timeoutMs: number, log: Logger,
): Promise<PeerHashKV[]> {
  const peers = members.filter((m) => m.id !== selfId && m.peerUrls.length > 0);
  return Promise.all(peers.map(async (p): Promise<PeerHashKV> => {
    let lastError: unknown;
    for (const url of p.peerUrls) {
      try {
        return { id: p.id, peerUrls: p.peerUrls, reply: await rpc.hashKV(url, revision, timeoutMs) };
      } catch (err) {
        lastError = err;
        log.warn('failed hash kv request', {
          'local-member-id': selfId, 'requested-revision': revision, 'remote-peer-endpoint': url, error: errorText(err),
        });
      }
    }
    return { id: p.id, peerUrls: p.peerUrls, error: lastError };
  }));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface InitialCheckOptions {
  store: MvccStore;
  memberId: bigint;
  members: readonly Member[];
  rpc: MemberRpcClient;
  /** etcd's request timeout (5 s + 2 election timeouts), per peer URL. */
  timeoutMs: number;
  log: Logger;
}

/** The error a member refuses to start with (etcd's text: the member ID in hex). */
export function inconsistencyError(memberId: bigint): Error {
  return new Error(`${memberId.toString(16)} found data inconsistency with peers`);
}

/**
 * etcd's CheckInitialHashKV: this member's HashKV at its current revision against each peer's
 * at that revision. A different hash with the same compact revision is a mismatch; peers that
 * cannot answer (down, behind, compacted past it) are logged and skipped. Throws
 * {@link inconsistencyError} on any mismatch. Run before the member serves peers or clients.
 */
export async function checkInitialHashKV(o: InitialCheckOptions): Promise<void> {
  const { log, memberId } = o;
  log.info('starting initial corruption check', { 'local-member-id': memberId, timeout: `${o.timeoutMs}ms` });
  const local = await o.store.hashKVPaced(0, READ_PACING);
  const rev = local.revision;
  const crev = local.compactRevision;
  const h = local.hash;
  const peers = await getPeerHashKVs(o.rpc, o.members, memberId, rev, o.timeoutMs, log);
  let mismatch = 0;
  for (const p of peers) {
    const localFields = {
      'local-member-id': memberId, 'local-member-revision': rev, 'local-member-compact-revision': crev, 'local-member-hash': h,
    };
    if (p.reply) {
      const fields = {
        ...localFields,
        'remote-peer-id': p.reply.header.memberId, 'remote-peer-endpoints': p.peerUrls,
        'remote-peer-revision': p.reply.header.revision, 'remote-peer-compact-revision': p.reply.compactRevision,
        'remote-peer-hash': p.reply.hash,
      };
      if (h !== p.reply.hash) {
        if (crev === p.reply.compactRevision) {
          log.warn('found different hash values from remote peer', fields);
          mismatch++;
        } else {
          log.warn('found different compact revision values from remote peer', fields);
        }
      }
      continue;
    }
    const fields = { ...localFields, 'remote-peer-id': p.id, 'remote-peer-endpoints': p.peerUrls, error: errorText(p.error) };
    if (EtcdErrors.FutureRev.is(p.error)) log.warn('cannot fetch hash from slow remote peer', fields);
    else if (EtcdErrors.Compacted.is(p.error)) log.warn('cannot fetch hash from remote peer; local member is behind', fields);
  }
  if (mismatch > 0) throw inconsistencyError(memberId);
  log.info('initial corruption checking passed; no corruption', { 'local-member-id': memberId });
}

export interface MonitorOptions {
  /** `--experimental-corrupt-check-time`; the monitor does nothing when 0. */
  intervalMs: number;
  store: MvccStore;
  memberId: bigint;
  members: () => readonly Member[];
  isLeader: () => boolean;
  rpc: MemberRpcClient;
  timeoutMs: number;
  /** A ReadIndex round: everything committed before it is applied here after it resolves. */
  linearizableRead: () => Promise<void>;
  /** Proposes Alarm ACTIVATE CORRUPT through raft. */
  raiseCorrupt: () => Promise<unknown>;
  log: Logger;
}

/**
 * etcd's checkHashKV, run by the leader: its own HashKV before and after a linearizable read
 * (a changed hash at the same revision and compaction is its own corruption), and each peer's at
 * its first revision: a peer ahead of the leader in revision or compaction, or with another
 * hash at the same compact revision, is a mismatch. One mismatch raises CORRUPT once per check,
 * with member ID 0 as etcd 3.4.23 does (which member is corrupt is not known).
 * @returns whether a mismatch was found.
 */
export async function checkHashKV(o: Omit<MonitorOptions, 'intervalMs' | 'isLeader'>): Promise<boolean> {
  const { log } = o;
  const first = await o.store.hashKVPaced(0, READ_PACING);
  const { hash: h, revision: rev, compactRevision: crev } = first;
  const peers = await getPeerHashKVs(o.rpc, o.members(), o.memberId, rev, o.timeoutMs, log);
  await o.linearizableRead();
  const second = await o.store.hashKVPaced(0, READ_PACING);
  const { hash: h2, revision: rev2, compactRevision: crev2 } = second;

  let alarmed = false;
  const mismatch = (): void => {
    if (alarmed) return;
    alarmed = true;
    o.raiseCorrupt().catch((err: unknown) => log.warn('failed to raise the CORRUPT alarm', { error: errorText(err) }));
  };
  if (h2 !== h && rev2 === rev && crev === crev2) {
    log.warn('found hash mismatch', {
      'revision-1': rev, 'compact-revision-1': crev, 'hash-1': h, 'revision-2': rev2, 'compact-revision-2': crev2, 'hash-2': h2,
    });
    mismatch();
  }
  let checked = 0;
  for (const p of peers) {
    if (!p.reply) continue;
    checked++;
    const r = p.reply;
    if (r.header.revision > rev2) {
      log.warn("revision from follower must be less than or equal to leader's", {
        'leader-revision': rev2, 'follower-revision': r.header.revision, 'follower-peer-id': p.id,
      });
      mismatch();
    }
    if (r.compactRevision > crev2) {
      log.warn("compact revision from follower must be less than or equal to leader's", {
        'leader-compact-revision': crev2, 'follower-compact-revision': r.compactRevision, 'follower-peer-id': p.id,
      });
      mismatch();
    }
    if (r.compactRevision === crev && r.hash !== h) {
      log.warn('same compact revision then hashes must match', {
        'leader-compact-revision': crev2, 'leader-hash': h, 'follower-compact-revision': r.compactRevision,
        'follower-hash': r.hash, 'follower-peer-id': p.id,
      });
      mismatch();
    }
  }
  log.info('finished peer corruption check', { 'number-of-peers-checked': checked });
  return alarmed;
}

/**
 * etcd's monitorKVHash: every `intervalMs`, if this member leads, {@link checkHashKV}. Returns
 * undefined when the interval is 0 (off). `stop()` waits for a check in flight.
 */
export function startCorruptionMonitor(o: MonitorOptions): { stop(): Promise<void> } | undefined {
  if (o.intervalMs <= 0) return undefined;
  o.log.info('enabled corruption checking', { 'local-member-id': o.memberId, interval: `${o.intervalMs}ms` });
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer = setTimeout(() => {
      if (stopped) return;
      running = (async () => {
        if (!o.isLeader()) return;
        try {
          await checkHashKV(o);
        } catch (err) {
          o.log.warn('failed to check hash KV', { error: errorText(err) });
        }
      })().finally(() => { if (!stopped) schedule(); });
    }, o.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
