import { status } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '@raftkv/api';

/**
 * etcd 3.4 hands raft's ErrProposalDropped to the client unchanged (its gRPC error mapping
 * has no entry for it, so the status is Unknown with raft's message). Raised when the leader
 * refuses a proposal for a reason other than leadership: a transfer in progress, or its
 * uncommitted log over the size limit.
 */
export const ErrProposalDropped = new EtcdError(status.UNKNOWN, 'raft proposal dropped');

/** The errors a proposal or read can fail with, all etcd's own. */
export const RaftLogErrors = {
  /** No leader is known (election in progress or no quorum): `etcdserver: no leader`. */
  NoLeader: EtcdErrors.NoLeader,
  /** This member is not the leader and proposal forwarding is disabled: `etcdserver: not leader`. */
  NotLeader: EtcdErrors.NotLeader,
  /** The entry proposed here was replaced by another leader's entry, or a read lost its leader. */
  LeaderChanged: EtcdErrors.LeaderChanged,
  /** The log is closed: `etcdserver: server stopped`. */
  Stopped: EtcdErrors.Stopped,
  /** A read was not confirmed within the request timeout: `etcdserver: request timed out`. */
  Timeout: EtcdErrors.Timeout,
  /** Too many reads waiting for confirmation: `etcdserver: too many requests`. */
  TooManyRequests: EtcdErrors.TooManyRequests,
  ProposalDropped: ErrProposalDropped,
} as const;
