import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { EtcdError, EtcdErrors, etcdErrorFromMessage } from './errors.js';

// Transcribed by hand from etcd 3.4.23's etcdserver/api/v3rpc/rpctypes/error.go
// (ErrGRPC* variables): name, gRPC code, exact message.
const etcdTable: [string, status, string][] = [
  ['EmptyKey', status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  ['KeyNotFound', status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  ['ValueProvided', status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  ['LeaseProvided', status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  ['TooManyOps', status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  ['DuplicateKey', status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  ['Compacted', status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  ['FutureRev', status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  ['NoSpace', status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  ['LeaseNotFound', status.NOT_FOUND, 'etcdserver: requested lease not found'],
  ['LeaseExist', status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  ['LeaseTTLTooLarge', status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  ['WatchCanceled', status.CANCELLED, 'etcdserver: watch canceled'],
  ['MemberExist', status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  ['PeerURLExist', status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  [
    'MemberNotEnoughStarted',
    status.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ],
  ['MemberBadURLs', status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  ['MemberNotFound', status.NOT_FOUND, 'etcdserver: member not found'],
  ['MemberNotLearner', status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  [
    'LearnerNotReady',
    status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ],
  ['TooManyLearners', status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],
  ['RequestTooLarge', status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  ['TooManyRequests', status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
  ['RootUserNotExist', status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  ['RootRoleNotExist', status.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  ['UserAlreadyExist', status.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  ['UserEmpty', status.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  ['UserNotFound', status.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  ['RoleAlreadyExist', status.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  ['RoleNotFound', status.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  ['RoleEmpty', status.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  [
    'AuthFailed',
    status.INVALID_ARGUMENT,
    'etcdserver: authentication failed, invalid user ID or password',
  ],
  ['PermissionDenied', status.PERMISSION_DENIED, 'etcdserver: permission denied'],
  ['RoleNotGranted', status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  [
    'PermissionNotGranted',
    status.FAILED_PRECONDITION,
    'etcdserver: permission is not granted to the role',
  ],
  ['AuthNotEnabled', status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  ['InvalidAuthToken', status.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  ['InvalidAuthMgmt', status.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  ['AuthOldRevision', status.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],
  ['NoLeader', status.UNAVAILABLE, 'etcdserver: no leader'],
  ['NotLeader', status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  ['LeaderChanged', status.UNAVAILABLE, 'etcdserver: leader changed'],
  ['NotCapable', status.UNAVAILABLE, 'etcdserver: not capable'],
  ['Stopped', status.UNAVAILABLE, 'etcdserver: server stopped'],
  ['Timeout', status.UNAVAILABLE, 'etcdserver: request timed out'],
  [
    'TimeoutDueToLeaderFail',
    status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ],
  [
    'TimeoutDueToConnectionLost',
    status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
  ],
  [
    'TimeoutWaitAppliedIndex',
    status.UNAVAILABLE,
    'etcdserver: request timed out, waiting for the applied index took too long',
  ],
  ['Unhealthy', status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  ['Corrupt', status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  ['NotSupportedForLearner', status.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  ['BadLeaderTransferee', status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  ['TimeoutLeaderTransfer', status.UNKNOWN, 'etcdserver: request timed out, leader transfer took too long'],
  ['Internal', status.INTERNAL, 'etcdserver: internal error'],
  ['InvalidSortOption', status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
];

describe('EtcdErrors', () => {
  it.each(etcdTable)('%s has etcd’s code %i and exact message', (name, code, message) => {
    const err = (EtcdErrors as Record<string, EtcdError>)[name];
    expect(err).toBeInstanceOf(EtcdError);
    expect(err?.code).toBe(code);
    expect(err?.message).toBe(message);
    expect(etcdErrorFromMessage(message)).toBe(err);
  });

  it('has exactly the errors of etcd’s table, no more', () => {
    expect(Object.keys(EtcdErrors).sort()).toEqual(etcdTable.map(([n]) => n).sort());
  });

  it('messages are unique, so a message identifies its error', () => {
    const messages = Object.values(EtcdErrors).map((e) => e.message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  it('toServiceError carries code, details and message for a grpc-js callback', () => {
    const se = EtcdErrors.Compacted.toServiceError();
    expect(se).toBeInstanceOf(Error);
    expect(se.code).toBe(status.OUT_OF_RANGE);
    expect(se.details).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(se.message).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(EtcdErrors.Compacted.is(se)).toBe(true);
    expect(EtcdErrors.FutureRev.is(se)).toBe(false);
  });

  it('is() matches a client-side ServiceError by code and details, not by message alone', () => {
    const clientSide = { code: status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided', message: '3 INVALID_ARGUMENT: etcdserver: key is not provided' };
    expect(EtcdErrors.EmptyKey.is(clientSide)).toBe(true);
    expect(EtcdErrors.EmptyKey.is({ ...clientSide, code: status.INTERNAL })).toBe(false);
    expect(EtcdErrors.EmptyKey.is(null)).toBe(false);
    expect(etcdErrorFromMessage('etcdserver: something new')).toBeUndefined();
  });

  it('the table cannot be changed at run time', () => {
    expect(Object.isFrozen(EtcdErrors)).toBe(true);
  });
});
