// The stream comparison catches what it must (a planted difference in each compared part) and
// accepts what legitimately differs (header IDs, how events are grouped into responses, the
// remaining TTL of a live lease).
import { describe, expect, it } from 'vitest';
import { etcdserverpb, mvccpb } from '@raftkv/api';
import { compareKeepAlive, compareWatch, type KeepAliveRecord, type WatchRecord } from './stream-compare.js';

const b = (s: string): Buffer => Buffer.from(s);
const header = (revision: bigint, memberId = 1n): etcdserverpb.ResponseHeader => ({ clusterId: memberId * 7n, memberId, revision, raftTerm: memberId });
const put = (key: string, value: string, rev: bigint): mvccpb.Event => ({
  type: mvccpb.Event_EventType.PUT, kv: { key: b(key), value: b(value), createRevision: rev, modRevision: rev, version: 1n, lease: 0n }, prevKv: undefined,
});
const resp = (fields: Partial<etcdserverpb.WatchResponse>): etcdserverpb.WatchResponse =>
  etcdserverpb.WatchResponse.fromPartial({ header: header(5n), ...fields });
const create = (watchId = 0n, startRevision = 0n): etcdserverpb.WatchRequest =>
  etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('a'), watchId, startRevision } });

/** etcd's answers to: create (auto id), create with id 0 again (auto), create with duplicate id 1, cancel 0. */
function etcdWatch(): WatchRecord {
  return {
    sent: [create(), create(), create(1n), { cancelRequest: { watchId: 0n } }],
    responses: [
      resp({ watchId: 0n, created: true }),
      resp({ watchId: 1n, created: true }),
      resp({ watchId: -1n, created: true, canceled: true, cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream' }),
      resp({ watchId: 0n, events: [put('a', 'x', 6n), put('a', 'y', 7n)], header: header(7n) }),
      resp({ watchId: 0n, canceled: true }),
    ],
    end: undefined,
  };
}

/** The same answers as raftkv gives them: other header IDs, the events in two responses. */
function raftkvWatch(): WatchRecord {
  const e = etcdWatch();
  return {
    sent: e.sent,
    responses: [
      resp({ watchId: 0n, created: true, header: header(5n, 2n) }),
      resp({ watchId: 1n, created: true, header: header(5n, 2n) }),
      resp({ watchId: -1n, created: true, canceled: true, cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream', header: header(5n, 2n) }),
      resp({ watchId: 0n, events: [put('a', 'x', 6n)], header: header(6n, 2n) }),
      resp({ watchId: 0n, events: [put('a', 'y', 7n)], header: header(7n, 2n) }),
      resp({ watchId: 0n, canceled: true, header: header(5n, 2n) }),
    ],
    end: undefined,
  };
}

describe('compareWatch', () => {
  it('accepts the same answers with other header IDs and another grouping of events', () => {
    expect(compareWatch(etcdWatch(), raftkvWatch())).toEqual([]);
  });

  it.each([
    ['a wrong cancel_reason', (r: WatchRecord) => { r.responses[2]!.cancelReason = 'mvcc: watcher range is empty'; }, 'control response cancel_reason differs'],
    ['another auto watch id', (r: WatchRecord) => { r.responses[1]!.watchId = 2n; }, 'control response watch_id differs'],
    ['a create answered without created', (r: WatchRecord) => { r.responses[1]!.created = false; r.responses[1]!.canceled = true; }, 'control response created differs'],
    ['another created revision', (r: WatchRecord) => { r.responses[0]!.header = header(4n, 2n); }, 'control response header.revision differs'],
    ['a missing cancel response', (r: WatchRecord) => { r.responses.pop(); }, 'control response count differs'],
    ['a lost event', (r: WatchRecord) => { r.responses.splice(4, 1); }, 'watcher events count differs'],
    ['an event with another mod revision', (r: WatchRecord) => { r.responses[4]!.events[0]!.kv!.modRevision = 8n; }, 'watcher event differs'],
    ['an event without its prev_kv', (r: WatchRecord) => { r.responses[4]!.events[0]!.prevKv = r.responses[3]!.events[0]!.kv; }, 'watcher event differs'],
    ['a compacted cancel with another compact_revision', (r: WatchRecord) => { r.responses.push(resp({ watchId: 1n, canceled: true, compactRevision: 3n })); }, 'watcher compacted response differs'],
    ['a fragmented response', (r: WatchRecord) => { r.responses[3]!.fragment = true; }, 'watcher fragments differ'],
    ['a stream ended by the server', (r: WatchRecord) => { (r as { end: unknown }).end = { code: 13, details: 'etcdserver: internal error' }; }, 'stream end differs: etcd open / raftkv INTERNAL'],
  ])('catches %s', (_name, plant, what) => {
    const raftkv = raftkvWatch();
    plant(raftkv);
    const diffs = compareWatch(etcdWatch(), raftkv);
    // "(etcd created, raftkv canceled)" after a control difference says which kinds met
    expect(diffs.map((d) => d.what.replace(/ \(etcd \w+, raftkv \w+\)$/, ''))).toContain(what);
  });

  it('says when a watcher was canceled as compacted on one side only, and how many raftkv canceled', () => {
    const raftkv = raftkvWatch();
    raftkv.responses.splice(3, 2, resp({ watchId: 0n, canceled: true, compactRevision: 3n, header: header(0n, 2n) }));
    const diffs = compareWatch(etcdWatch(), raftkv);
    expect(diffs.map((d) => [d.what, d.compactedOnlyOn, d.compactedWatchers])).toEqual([
      ['watcher events count differs', 'raftkv', 1],
      ['watcher compacted response differs', 'raftkv', 1],
    ]);
  });

  it('names the watcher and its create request', () => {
    const raftkv = raftkvWatch();
    raftkv.responses.splice(3, 2);
    const [d] = compareWatch(etcdWatch(), raftkv);
    expect(d?.watchId).toBe(0n);
    expect(d?.create?.key).toEqual(b('a'));
  });
});

describe('compareKeepAlive', () => {
  const ka = (ID: bigint, TTL: bigint): etcdserverpb.LeaseKeepAliveResponse => ({ header: header(3n), ID, TTL });
  const rec = (responses: etcdserverpb.LeaseKeepAliveResponse[], end?: { code: number; details: string }): KeepAliveRecord =>
    ({ sent: responses.map((r) => ({ ID: r.ID })), responses, end });
  const etcd = rec([ka(0x1001n, 86_400n), ka(0x7777777n, 0n), ka(1n, 5n)], { code: 0, details: '' });

  it('accepts a live TTL at most the granted one, 0 for 0, and any TTL of a lease that may expire', () => {
    expect(compareKeepAlive(etcd, rec([ka(0x1001n, 86_399n), ka(0x7777777n, 0n), ka(1n, 0n)], { code: 0, details: '' }))).toEqual([]);
  });

  it.each([
    ['a live TTL for an unknown lease', [ka(0x1001n, 86_400n), ka(0x7777777n, 10n), ka(1n, 5n)], 'keepalive TTL live on raftkv only'],
    ['TTL 0 for a live lease', [ka(0x1001n, 0n), ka(0x7777777n, 0n), ka(1n, 5n)], 'keepalive TTL live on etcd only'],
    ['a TTL over the granted one', [ka(0x1001n, 86_401n), ka(0x7777777n, 0n), ka(1n, 5n)], 'keepalive TTL outside 0..granted'],
    ['another ID', [ka(0x1002n, 86_400n), ka(0x7777777n, 0n), ka(1n, 5n)], 'keepalive ID differs'],
    ['a missing answer', [ka(0x1001n, 86_400n), ka(0x7777777n, 0n)], 'keepalive response count differs'],
  ])('catches %s', (_name, responses, what) => {
    expect(compareKeepAlive(etcd, rec(responses, { code: 0, details: '' })).map((d) => d.what)).toContain(what);
  });

  it('catches another end status', () => {
    const raftkv = rec(etcd.responses, { code: 13, details: 'etcdserver: internal error' });
    expect(compareKeepAlive(etcd, raftkv).map((d) => d.what)).toEqual(['stream end differs: etcd OK / raftkv INTERNAL']);
  });
});
