import { describe, expect, it } from 'vitest';
import { PendingReads, readKey } from './pending-reads.js';
import { RaftLogErrors } from './proposal-errors.js';

const ctx = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const key = (s: string): string => readKey(ctx(s));

describe('PendingReads', () => {
  it('answers a read once raft confirmed its point and the applied index reached it, in order', async () => {
    const reads = new PendingReads(10);
    const answered: string[] = [];
    const a = reads.add(key('a'), 100).then((s) => { answered.push('a'); return s; });
    const b = reads.add(key('b'), 100).then((s) => { answered.push('b'); return s; });
    reads.confirm([{ index: 7, requestCtx: ctx('a') }, { index: 9, requestCtx: ctx('b') }]);
    reads.release(6);
    await Promise.resolve();
    expect(answered).toEqual([]);
    reads.release(8);
    expect((await a).index).toBe(7);
    expect(answered).toEqual(['a']);
    reads.release(9);
    expect((await b).index).toBe(9);
  });

  it('refuses a duplicate context and more than its limit; rejects unconfirmed reads on expiry and leader change only', async () => {
    const reads = new PendingReads(3);
    const confirmed = reads.add(key('c'), 5, { index: 4, requestCtx: ctx('c') });
    const expiring = reads.add(key('e'), 5);
    const leaderBound = reads.add(key('l'), 50);
    expect(reads.refusal(key('c'))?.message).toMatch(/already pending/);
    expect(reads.refusal(key('x'))).toBe(RaftLogErrors.TooManyRequests);
    reads.expire(5);
    await expect(expiring).rejects.toBe(RaftLogErrors.Timeout);
    reads.leaderChanged();
    await expect(leaderBound).rejects.toBe(RaftLogErrors.LeaderChanged);
    expect(reads.refusal(key('x'))).toBeUndefined();
    reads.release(4); // the confirmed one outlived both
    expect((await confirmed).index).toBe(4);
  });

  it('keys a read by its context\'s bytes, so a context that is a view into a larger buffer is matched by a copy', async () => {
    const reads = new PendingReads(3);
    const request = new Uint8Array(Buffer.from('..id-7..')).subarray(2, 6);
    const r = reads.add(readKey(request), 100);
    expect(reads.refusal(key('id-7'))?.message).toMatch(/already pending/);
    reads.confirm([{ index: 3, requestCtx: ctx('id-7') }]); // as decoded from the leader's answer
    reads.release(3);
    expect((await r).index).toBe(3);
  });

  it('rejects every read when failed', async () => {
    const reads = new PendingReads(3);
    const r = reads.add(key('z'), 5, { index: 9, requestCtx: ctx('z') });
    reads.failAll(RaftLogErrors.Stopped);
    await expect(r).rejects.toBe(RaftLogErrors.Stopped);
    reads.release(100); // nothing left to answer
  });
});
