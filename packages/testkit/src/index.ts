// @raftkv/testkit: raftkv's test support (private, not published). See README.md.

// Processes: every child dies with the test worker; starts retry on fresh ports after a port race.
export { killAllChildren, liveChildPids, spawnTracked, terminate, killNow, StartError, STOP_DEADLINE_MS } from './processes/children.js';
export { freePort, freePorts } from './processes/ports.js';
export { raftkvBinary, raftkvNodeArgs, removeDir, requireBinary, tempDir } from './processes/binaries.js';
export type { ServerProcess, StartOptions } from './processes/server-process.js';
export { startRaftkv } from './processes/raftkv.js';
export { etcdHashKV, etcdctlSync, gatewayCall, startEtcd, type EtcdStartOptions } from './processes/reference-etcd.js';
export { startPair, type ServerPair } from './processes/pair.js';
export { etcdctl, etcdctlWhile, normaliseEtcdctl, type CommandResult } from './processes/etcdctl.js';

// Clusters of real processes and what differential tests compare.
export { clusterSubject, MAX_CLUSTER_SIZE, startCluster } from './cluster.js';
export type { Cluster, ClusterMember, ClusterOptions, ServerKind } from './cluster.js';
export { startSubjects, TOPOLOGIES, type Subjects, type Topology } from './subjects.js';

// Talking to a server, generating load, comparing answers.
export { connect, deleteRangeRequest, putRequest, rangeRequest, txnRequest, type EtcdClient } from './grpc-client.js';
export { findLostWrites, memberStatus, waitForConvergence, Workload } from './workload.js';
export type { AcknowledgedWrite, LostWrite, MemberState, OperationCounts, RevisionRegression, WorkloadOptions, WorkloadStats } from './workload.js';
export { normaliseError, normaliseResponse, outcome } from './normalise.js';
export { Random } from './random.js';
export { eventually } from './eventually.js';

// Also reachable alone as @raftkv/testkit/fault-proxy and @raftkv/testkit/linearizability.
export * from './fault-proxy/index.js';
export * from './linearizability/index.js';
