// etcd 3.4's mismatch rules (etcdserver/corrupt.go), one table each for the leader's periodic
// check and the initial check at start: which peer answers raise CORRUPT / refuse the start,
// and which (another compaction, a peer behind or unreachable) are only logged.
import { EtcdErrors } from '@raftkv/api';
import type { MvccStore } from '@raftkv/mvcc';
import { describe, expect, it } from 'vitest';
import type { HashKvReply, MemberRpcClient } from '../cluster/member-rpc.js';
import type { Member } from '../cluster/membership.js';
import type { Logger } from '../logger.js';
import { checkHashKV, checkInitialHashKV } from './corruption-check.js';

const SELF = 1n;
const PEER = 2n;
const members: Member[] = [
  { id: SELF, name: 'a', peerUrls: ['http://a'], clientUrls: [], isLearner: false },
  { id: PEER, name: 'b', peerUrls: ['http://b'], clientUrls: [], isLearner: false },
];

interface Hash { hash: number; revision: number; compactRevision: number }

/** A store whose successive hashKVPaced(0) calls answer `hashes` in turn (the last one repeats). */
function storeOf(...hashes: Hash[]): MvccStore {
  let i = 0;
  return { hashKVPaced: async () => hashes[Math.min(i++, hashes.length - 1)]! } as unknown as MvccStore;
}

function rpcOf(answer: HashKvReply | Error): MemberRpcClient & { asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    hashKV: async (_url: string, revision: number) => {
      asked.push(revision);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as MemberRpcClient & { asked: number[] };
}

function logOf(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (msg: string) => { lines.push(msg); };
  return { lines, debug: add, info: add, warn: add, error: add };
}

const reply = (revision: number, compactRevision: number, hash: number): HashKvReply =>
  ({ header: { memberId: PEER.toString(16), revision }, hash, compactRevision });

const LEADER: Hash = { hash: 100, revision: 10, compactRevision: 5 };

describe('the leader\'s periodic check (checkHashKV)', () => {
  it.each<[string, Hash[], HashKvReply | Error, boolean, string | undefined]>([
    ['equal hash, revision and compaction', [LEADER], reply(10, 5, 100), false, undefined],
    ['a follower behind in revision with the same hash at the asked revision', [LEADER], reply(8, 5, 100), false, undefined],
    ['another hash at the same compact revision', [LEADER], reply(10, 5, 101), true, 'same compact revision then hashes must match'],
    ['another hash under another (older) compaction', [LEADER], reply(10, 3, 101), false, undefined],
    ['a follower revision above the leader\'s', [LEADER], reply(11, 5, 100), true, "revision from follower must be less than or equal to leader's"],
    ['a follower compaction above the leader\'s', [LEADER], reply(10, 7, 100), true, "compact revision from follower must be less than or equal to leader's"],
    ['an unreachable follower', [LEADER], new Error('UNAVAILABLE'), false, 'failed hash kv request'],
    ['the leader\'s own hash changed at the same revision', [LEADER, { ...LEADER, hash: 7 }], reply(10, 5, 100), true, 'found hash mismatch'],
    ['the leader moved on between its two hashes', [LEADER, { hash: 7, revision: 11, compactRevision: 5 }], reply(10, 5, 100), false, undefined],
  ])('%s', async (_name, hashes, answer, raises, logged) => {
    let raised = 0;
    const rpc = rpcOf(answer);
    const log = logOf();
    const found = await checkHashKV({
      store: storeOf(...hashes), memberId: SELF, members: () => members, rpc, timeoutMs: 1000, log,
      linearizableRead: async () => undefined, raiseCorrupt: async () => { raised++; },
    });
    expect(found).toBe(raises);
    expect(raised).toBe(raises ? 1 : 0);
    expect(rpc.asked).toEqual([LEADER.revision]);
    if (logged) expect(log.lines).toContain(logged);
    expect(log.lines).toContain('finished peer corruption check');
  });

  it('raises CORRUPT once however many rules a check breaks', async () => {
    let raised = 0;
    await checkHashKV({
      store: storeOf(LEADER, { ...LEADER, hash: 7 }), memberId: SELF, members: () => members, rpc: rpcOf(reply(12, 9, 1)), timeoutMs: 1000,
      log: logOf(), linearizableRead: async () => undefined, raiseCorrupt: async () => { raised++; },
    });
    expect(raised).toBe(1);
  });
});

describe('the initial check at start (checkInitialHashKV)', () => {
  it.each<[string, HashKvReply | Error, boolean, string | undefined]>([
    ['equal hashes', reply(12, 5, 100), false, undefined],
    ['another hash at the same compact revision', reply(12, 5, 101), true, 'found different hash values from remote peer'],
    ['another hash under another compaction', reply(12, 8, 101), false, 'found different compact revision values from remote peer'],
    ['a peer behind this member', EtcdErrors.FutureRev, false, 'cannot fetch hash from slow remote peer'],
    ['a peer compacted past this member\'s revision', EtcdErrors.Compacted, false, 'cannot fetch hash from remote peer; local member is behind'],
    ['an unreachable peer', new Error('UNAVAILABLE'), false, 'failed hash kv request'],
  ])('%s', async (_name, answer, refuses, logged) => {
    const log = logOf();
    const rpc = rpcOf(answer);
    const run = checkInitialHashKV({ store: storeOf(LEADER), memberId: SELF, members, rpc, timeoutMs: 1000, log });
    if (refuses) await expect(run).rejects.toThrow('1 found data inconsistency with peers');
    else await run;
    expect(rpc.asked).toEqual([LEADER.revision]);
    if (logged) expect(log.lines).toContain(logged);
    expect(log.lines.includes('initial corruption checking passed; no corruption')).toBe(!refuses);
  });
});
