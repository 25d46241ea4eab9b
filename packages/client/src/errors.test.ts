import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { EtcdErrors, type EtcdErrorName } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import { retryable } from './connection.js';
import {
  CompactedError, DeadlineExceededError, EtcdServerError, InvalidAuthTokenError, LeaderChangedError, NoLeaderError, toClientError,
  UnavailableError,
} from './errors.js';

const serviceError = (code: status, details: string): ServiceError =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });

describe('typed errors', () => {
  it.each(Object.keys(EtcdErrors) as EtcdErrorName[])('%s maps to its own class by etcd’s message', (name) => {
    const e = EtcdErrors[name];
    const err = toClientError(serviceError(e.code, e.message));
    expect(err).toBeInstanceOf(EtcdServerError);
    expect((err as EtcdServerError).etcdName).toBe(name);
    expect(err.constructor.name).toBe(`${name}Error`);
    expect(err.name).toBe(`${name}Error`);
    expect(err.message).toBe(e.message);
    expect(err.code).toBe(e.code);
  });
  it('maps statuses that are not etcd’s by code', () => {
    expect(toClientError(serviceError(status.UNAVAILABLE, 'No connection established'))).toBeInstanceOf(UnavailableError);
    expect(toClientError(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'))).toBeInstanceOf(DeadlineExceededError);
    expect(toClientError(serviceError(status.OUT_OF_RANGE, EtcdErrors.Compacted.message))).toBeInstanceOf(CompactedError);
    expect(toClientError(serviceError(status.UNAUTHENTICATED, EtcdErrors.InvalidAuthToken.message))).toBeInstanceOf(InvalidAuthTokenError);
  });
});

describe('retries', () => {
  const check = (raw: ServiceError, policy: 'idempotent' | 'write') => retryable(raw, toClientError(raw), policy).again;
  it.each([
    ['a request never sent', serviceError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'), true, true],
    ['etcdserver: no leader (refused before proposing)', serviceError(status.UNAVAILABLE, EtcdErrors.NoLeader.message), true, true],
    ['a connection lost mid-call', serviceError(status.UNAVAILABLE, 'Connection dropped'), true, false],
    ['leader changed (outcome unknown)', serviceError(status.UNAVAILABLE, EtcdErrors.LeaderChanged.message), true, false],
    ['request timed out (outcome unknown)', serviceError(status.UNAVAILABLE, EtcdErrors.Timeout.message), true, false],
    ['a deadline', serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), false, false],
    ['an answer', serviceError(status.OUT_OF_RANGE, EtcdErrors.Compacted.message), false, false],
  ])('%s: read retried %s, write retried %s', (_name, raw, read, write) => {
    expect(check(raw, 'idempotent')).toBe(read);
    expect(check(raw, 'write')).toBe(write);
  });
  it('keeps the classes distinct', () => {
    expect(toClientError(serviceError(status.UNAVAILABLE, EtcdErrors.LeaderChanged.message))).toBeInstanceOf(LeaderChangedError);
    expect(toClientError(serviceError(status.UNAVAILABLE, EtcdErrors.NoLeader.message))).toBeInstanceOf(NoLeaderError);
  });
});
