import { status } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors, etcdserverpb } from '@raftkv/api';
import type { Logger } from '../logger.js';
import type { ServerCore } from '../server-core.js';
import { toNumber } from '../apply/convert.js';
import { alarmName } from '../alarm/alarm-store.js';
import { effectiveQuotaBytes } from '../alarm/quota.js';
import { snapshotHandler } from '../snapshot/snapshot-rpc.js';
import { READ_PACING } from './read-pacing.js';
import { notImplemented, unary } from './unary.js';

/** The etcd API version raftkv speaks; clients gate features on it. */
export const ETCD_API_VERSION = '3.4.23';

export function maintenanceService(
  core: ServerCore, log?: Logger, onDefragment?: (done: Promise<unknown>) => void,
): etcdserverpb.MaintenanceServer {
  return {
    status: unary(() => ({
      header: core.header(core.store.currentRevision),
      version: ETCD_API_VERSION,
      dbSize: BigInt(core.store.dbSizeBytes()),
      dbSizeInUse: BigInt(core.store.dbSizeInUseBytes()),
      leader: core.leaderId,
      raftIndex: BigInt(core.log.commitIndex),
      raftTerm: BigInt(core.log.term),
      raftAppliedIndex: BigInt(core.appliedIndex),
      // etcd adds each raised alarm in protobuf's compact text form.
      errors: [...(core.leaderId === 0n ? [EtcdErrors.NoLeader.message] : []), ...core.alarms.get().map(alarmText)],
      isLearner: core.isLearner,
      storageVersion: '',
      dbSizeQuota: BigInt(Math.min(effectiveQuotaBytes(core.config.quotaBackendBytes), Number.MAX_SAFE_INTEGER)),
      downgradeInfo: undefined,
    })),
    // GET reads the alarms applied here after a linearizable read (etcd sends it through the
    // log: the same answer). ACTIVATE/DEACTIVATE go through the log. An unknown action makes
    // etcd 3.4 crash (a nil response): an error here.
    alarm: unary(async (req: etcdserverpb.AlarmRequest, call) => {
      core.refuseOnLearner();
      switch (req.action) {
        case etcdserverpb.AlarmRequest_AlarmAction.GET:
          // etcd sends GET through the log too, where a bad token is refused (no permission is checked).
          await core.authenticator.authInfo(call);
          await core.linearizableRead();
          // etcd 3.4's alarm responses carry no header.
          return { header: undefined, alarms: core.alarms.get(req.alarm) };
        case etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE:
          // etcd 3.4 stores an alarm of any type (only NOSPACE and CORRUPT change anything), keyed
          // by its protobuf bytes: member 0 with NONE is empty bytes, which makes it exit (and
          // every restart replays the entry). Refused here.
          if (req.memberID === 0n && req.alarm === etcdserverpb.AlarmType.NONE) {
            throw new EtcdError(status.INVALID_ARGUMENT, 'raftkv: an alarm of type NONE for member 0 cannot be raised');
          }
          return { header: undefined, alarms: await core.alarm(req, await core.authenticator.requester(call)) };
        case etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE:
          return { header: undefined, alarms: await core.alarm(req, await core.authenticator.requester(call)) };
        default:
          throw new EtcdError(status.INVALID_ARGUMENT, `raftkv: unknown alarm action ${req.action}`);
      }
    }),
    // Both hash the whole backend: in steps, so other requests and raft go on meanwhile.
    // etcd's authMaintenanceServer: Hash, HashKV, Defragment and Snapshot are for root only.
    hash: unary(async (_req, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdminRaw(call);
      const hash = await core.store.hashPaced(READ_PACING);
      return { header: core.header(core.store.currentRevision), hash };
    }),
    hashKv: unary(async (req: etcdserverpb.HashKVRequest, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdminRaw(call);
      const r = await core.store.hashKVPaced(toNumber(req.revision), READ_PACING);
      return { header: core.header(core.store.currentRevision), hash: r.hash, compactRevision: BigInt(r.compactRevision), hashRevision: BigInt(r.revision) };
    }),
    // Reclaims the backend's free space while the member keeps serving (etcd 3.4 stops it for the
    // whole copy): LMDB's compacting copy off the thread, writes committed meanwhile replayed onto
    // it in steps, commits held only for the swap. etcd answers without a header.
    defragment: unary(async (_req, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdminRaw(call);
      const t0 = performance.now();
      log?.info('starting defragment', { 'current-db-size-bytes': core.store.dbSizeBytes(), 'current-db-size-in-use-bytes': core.store.dbSizeInUseBytes() });
      let heldFrom = 0;
      let heldMs = 0;
      try {
        const running = core.store.defragment(READ_PACING, (step) => {
          if (step === 'swapping') heldFrom = performance.now();
          if (step === 'swapped') heldMs = performance.now() - heldFrom;
        });
        onDefragment?.(running);
        const r = await running;
        log?.info('finished defragment', {
          'current-db-size-bytes-diff': r.afterBytes - r.beforeBytes,
          'current-db-size-bytes': r.afterBytes,
          'commits-held-ms': Math.round(heldMs * 10) / 10,
          'replayed-txns': r.replayedTxns,
          took: `${Math.round(performance.now() - t0)}ms`,
        });
      } catch (err) {
        log?.warn('failed to defragment', { error: err });
        throw err;
      }
      return { header: undefined };
    }),
    // etcd's bbolt snapshot format, from a point-in-time copy of the backend (see snapshot/).
    snapshot: snapshotHandler(core, log),
    moveLeader: unary(async (req: etcdserverpb.MoveLeaderRequest) => {
      core.refuseOnLearner();
      await core.moveLeader(req.targetID);
      return { header: core.header(core.store.currentRevision) };
    }),
    downgrade: notImplemented('Maintenance.Downgrade'),
  };
}

/** gogo's CompactTextString of an AlarmMember, as etcd puts it in Status.errors. */
function alarmText(m: etcdserverpb.AlarmMember): string {
  return `memberID:${m.memberID} alarm:${alarmName(m.alarm)} `;
}
