import { status } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors, etcdserverpb } from '@raftkv/api';
import type { ServerCore } from '../server-core.js';
import { toNumber } from '../apply/convert.js';
import { READ_PACING } from './read-pacing.js';
import { notImplemented, unary } from './unary.js';

/** The etcd API version raftkv speaks; clients gate features on it. */
export const ETCD_API_VERSION = '3.4.23';

export function maintenanceService(core: ServerCore): etcdserverpb.MaintenanceServer {
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
      errors: core.leaderId === 0n ? [EtcdErrors.NoLeader.message] : [],
      isLearner: core.isLearner,
      storageVersion: '',
      dbSizeQuota: BigInt(core.config.quotaBackendBytes),
      downgradeInfo: undefined,
    })),
    // No alarm can be raised yet (no quota enforcement, no corruption check, no alarm store):
    // GET lists none and DEACTIVATE clears none, truthfully; ACTIVATE says it is not served
    // rather than pretend. An unknown action makes etcd 3.4 crash (a nil response): an error here.
    alarm: unary((req: etcdserverpb.AlarmRequest) => {
      core.refuseOnLearner();
      switch (req.action) {
        case etcdserverpb.AlarmRequest_AlarmAction.GET:
        case etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE:
          // etcd 3.4's alarm responses carry no header.
          return { header: undefined, alarms: [] };
        case etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE:
          throw new EtcdError(status.UNIMPLEMENTED, 'raftkv: raising alarms is not implemented yet');
        default:
          throw new EtcdError(status.INVALID_ARGUMENT, `raftkv: unknown alarm action ${req.action}`);
      }
    }),
    // Both hash the whole backend: in steps, so other requests and raft go on meanwhile.
    hash: unary(async () => {
      core.refuseOnLearner();
      const hash = await core.store.hashPaced(READ_PACING);
      return { header: core.header(core.store.currentRevision), hash };
    }),
    hashKv: unary(async (req: etcdserverpb.HashKVRequest) => {
      core.refuseOnLearner();
      const r = await core.store.hashKVPaced(toNumber(req.revision), READ_PACING);
      return { header: core.header(core.store.currentRevision), hash: r.hash, compactRevision: BigInt(r.compactRevision), hashRevision: BigInt(r.revision) };
    }),
    defragment: notImplemented('Maintenance.Defragment'),
    snapshot: notImplemented('Maintenance.Snapshot') as unknown as etcdserverpb.MaintenanceServer['snapshot'],
    moveLeader: unary(async (req: etcdserverpb.MoveLeaderRequest) => {
      core.refuseOnLearner();
      await core.moveLeader(req.targetID);
      return { header: core.header(core.store.currentRevision) };
    }),
    downgrade: notImplemented('Maintenance.Downgrade'),
  };
}
