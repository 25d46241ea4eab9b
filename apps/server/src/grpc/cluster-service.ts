import type { etcdserverpb } from '@raftkv/api';
import type { ServerCore } from '../server-core.js';
import { notImplemented, unary } from './unary.js';

function memberToWire(core: ServerCore): etcdserverpb.Member {
  const m = core.self;
  return { ID: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: false };
}

/** The Cluster service of a one-member cluster: it lists itself; changes come with raft. */
export function clusterService(core: ServerCore): etcdserverpb.ClusterServer {
  return {
    memberList: unary(() => ({ header: core.header(core.store.currentRevision), members: [memberToWire(core)] })),
    memberAdd: notImplemented('Cluster.MemberAdd'),
    memberRemove: notImplemented('Cluster.MemberRemove'),
    memberUpdate: notImplemented('Cluster.MemberUpdate'),
    memberPromote: notImplemented('Cluster.MemberPromote'),
  };
}
