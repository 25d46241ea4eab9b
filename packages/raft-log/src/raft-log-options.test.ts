import { describe, expect, it } from 'vitest';
import { validate, type RaftLogOptions } from './raft-log-options.js';

const valid: RaftLogOptions = {
  id: 1n,
  walDir: '/unused/wal',
  snapDir: '/unused/snap',
  metadata: new Uint8Array(0),
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 10_000,
  send: () => undefined,
  apply: () => undefined,
  fatal: () => undefined,
};

describe('validate', () => {
  it('accepts valid options, including zero entries or bytes kept below a snapshot', () => {
    expect(() => validate(valid)).not.toThrow();
    expect(() => validate({ ...valid, snapshotCatchUpEntries: 0, snapshotCatchUpBytes: 0 })).not.toThrow();
    expect(() => validate({ ...valid, electionTimeoutMs: 200 })).not.toThrow(); // exactly two heartbeats
  });

  it.each<[string, Partial<RaftLogOptions>, RegExp]>([
    ['a zero id', { id: 0n }, /id must not be 0/],
    ['a zero heartbeat', { heartbeatIntervalMs: 0 }, /heartbeatIntervalMs must be an integer >= 1, got 0/],
    ['a fractional election timeout', { electionTimeoutMs: 1000.5 }, /electionTimeoutMs must be an integer >= 1/],
    ['an election timeout under two heartbeats', { electionTimeoutMs: 199 }, /at least twice heartbeatIntervalMs/],
    ['a zero snapshot count', { snapshotCount: 0 }, /snapshotCount must be an integer >= 1/],
    ['negative catch-up entries', { snapshotCatchUpEntries: -1 }, /snapshotCatchUpEntries must be an integer >= 0/],
    ['zero snapshot bytes', { snapshotBytes: 0 }, /snapshotBytes must be an integer >= 1/],
    ['negative catch-up bytes', { snapshotCatchUpBytes: -1 }, /snapshotCatchUpBytes must be an integer >= 0/],
    ['zero snapshots kept', { maxSnapshots: 0 }, /maxSnapshots must be an integer >= 1/],
    ['an unsafe request timeout', { requestTimeoutTicks: 2 ** 53 }, /requestTimeoutTicks must be an integer >= 1/],
    ['zero pending reads', { maxPendingReads: 0 }, /maxPendingReads must be an integer >= 1/],
  ])('refuses %s with a RangeError naming it', (_name, change, message) => {
    expect(() => validate({ ...valid, ...change })).toThrow(RangeError);
    expect(() => validate({ ...valid, ...change })).toThrow(message);
  });
});
