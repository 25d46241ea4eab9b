import type { etcdserverpb } from '@raftkv/api';
import type { Member } from '../cluster/membership.js';
import type { ServerCore } from '../server-core.js';
import { unary } from './unary.js';

/** A member as the Cluster service returns it. */
function memberToWire(m: Member): etcdserverpb.Member {
  return { ID: m.id, name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}

/**
 * The Cluster service: membership changes go through raft as conf changes, as in etcd; with
 * auth on they are for root only (etcd's checkMembershipOperationPermission, before proposing).
 */
export function clusterService(core: ServerCore): etcdserverpb.ClusterServer {
  // etcd's Cluster service headers carry no revision.
  const header = () => core.header(0);
  const members = () => core.membership.list().map(memberToWire);
  return {
    memberList: unary(() => {
      core.refuseOnLearner();
      return { header: header(), members: members() };
    }),
    memberAdd: unary(async (req: etcdserverpb.MemberAddRequest, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdmin(call);
      const added = await core.memberAdd(req.peerURLs, req.isLearner);
      return { header: header(), member: memberToWire(added), members: members() };
    }),
    memberRemove: unary(async (req: etcdserverpb.MemberRemoveRequest, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdmin(call);
      await core.memberRemove(req.ID);
      return { header: header(), members: members() };
    }),
    memberUpdate: unary(async (req: etcdserverpb.MemberUpdateRequest, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdmin(call);
      await core.memberUpdate(req.ID, req.peerURLs);
      return { header: header(), members: members() };
    }),
    memberPromote: unary(async (req: etcdserverpb.MemberPromoteRequest, call) => {
      core.refuseOnLearner();
      await core.authenticator.checkAdmin(call);
      await core.memberPromote(req.ID);
      return { header: header(), members: members() };
    }),
  };
}
