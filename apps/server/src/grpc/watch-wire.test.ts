// The hand-written Watch response bytes must be the generated encoder's, and a gathered batch must
// reach a real grpc-js client as separate messages (which needs the grpc-js patch in patches/).
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb, mvccpb, WatchClient } from '@raftkv/api';
import type { Event, KeyValue } from '@raftkv/mvcc';
import type { WatchResponse } from '@raftkv/watch';
import { afterEach, describe, expect, it } from 'vitest';
import { keyValueToWire } from '../apply/convert.js';
import { WatchServiceWithEncodedResponses } from './watch-service.js';
import { messagesInWrite } from './encoded-responses.js';
import { messagesOfWrite, WatchResponseEncoder } from './watch-wire.js';

const kv = (key: string, rev: number, value = 'v', lease = 0n): KeyValue =>
  ({ key: Buffer.from(key), createRevision: 2, modRevision: rev, version: rev - 1, value: Buffer.from(value), lease });
const put: Event = { type: 'put', kv: kv('a', 7, 'x'.repeat(300), 0x7fff_ffff_ffff_ffffn) };
const withPrev: Event = { type: 'put', kv: kv('b', 8), prevKv: kv('b', 5, 'old') };
const del: Event = { type: 'delete', kv: { key: Buffer.from('c'), createRevision: 0, modRevision: 9, version: 0, value: Buffer.alloc(0), lease: 0n } };

const watchResponse = (f: Partial<WatchResponse> & { watchId: bigint; revision: number }): WatchResponse => ({
  events: [], created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, ...f,
});
const eventToWire = (ev: Event): mvccpb.Event => ({
  type: ev.type === 'put' ? mvccpb.Event_EventType.PUT : mvccpb.Event_EventType.DELETE,
  kv: keyValueToWire(ev.kv), prevKv: ev.prevKv ? keyValueToWire(ev.prevKv) : undefined,
});

const header = (revision: number, term = 3n): etcdserverpb.ResponseHeader =>
  ({ clusterId: 0xdead_beef_0000_0001n, memberId: 0xffff_ffff_ffff_fff0n, revision: BigInt(revision), raftTerm: term });

function generated(r: WatchResponse, term = 3n): Buffer {
  return Buffer.from(etcdserverpb.WatchResponse.encode({
    header: header(r.revision, term), watchId: r.watchId, created: r.created, canceled: r.canceled,
    compactRevision: BigInt(r.compactRevision), cancelReason: r.cancelReason, fragment: r.fragment, events: r.events.map(eventToWire),
  }).finish());
}

const cases: Array<[string, WatchResponse]> = [
  ['events of watch id 0', watchResponse({ watchId: 0n, revision: 7, events: [put] })],
  ['events of a large watch id', watchResponse({ watchId: 2n ** 40n + 5n, revision: 9, events: [put, withPrev, del] })],
  ['a fragment', watchResponse({ watchId: 4n, revision: 9, events: [withPrev], fragment: true })],
  ['a fragment of watch id 0', watchResponse({ watchId: 0n, revision: 9, events: [del], fragment: true })],
  ['created', watchResponse({ watchId: 3n, revision: 6, created: true })],
  ['refused', watchResponse({ watchId: -1n, revision: 6, created: true, canceled: true, cancelReason: 'mvcc: watcher range is empty' })],
  ['compacted', watchResponse({ watchId: 1n, revision: 0, canceled: true, compactRevision: 12 })],
  ['progress', watchResponse({ watchId: -1n, revision: 20 })],
  ['events of a watch id above 2^53', watchResponse({ watchId: 2n ** 60n + 3n, revision: 21, events: [del, put] })],
  ['events of watch id 127 (one varint byte)', watchResponse({ watchId: 127n, revision: 21, events: [del] })],
  ['events of watch id 128 (two varint bytes)', watchResponse({ watchId: 128n, revision: 22, events: [del] })],
];

describe('WatchResponseEncoder', () => {
  it.each(cases)('encodes %s as the generated encoder does', (_name, r) => {
    const enc = new WatchResponseEncoder((rev) => header(rev));
    enc.add(r);
    const write = enc.take()!;
    expect(messagesOfWrite(write)).toEqual([generated(r)]);
    expect(write.byteLength).toBe(5 + generated(r).byteLength);
    expect(enc.take()).toBeUndefined();
  });

  it('gathers responses into one write whose frames are the messages, in order; a new term gets a new header', () => {
    let term = 3n;
    const enc = new WatchResponseEncoder((rev) => header(rev, term));
    const expected: Buffer[] = [];
    for (const [, r] of cases) {
      if (r.revision === 9) term = 4n;
      enc.add(r);
      expected.push(generated(r, term));
    }
    expect(enc.pendingBytes).toBe(expected.reduce((n, m) => n + 5 + m.byteLength, 0));
    const write = enc.take()!;
    expect(write.byteLength).toBe(expected.reduce((n, m) => n + 5 + m.byteLength, 0));
    expect(messagesOfWrite(write)).toEqual(expected);
    expect(messagesInWrite(write)).toBe(cases.length); // what grpc_server_msg_sent_total counts
    expect(enc.pendingBytes).toBe(0);
    enc.add(cases[0]![1]);
    expect(messagesInWrite(enc.take())).toBe(1);
  });
});

describe('header fields shared by every encoder', () => {
  it('are the header of the revision and term asked, whichever stream asked first', () => {
    let term = 5n;
    const a = new WatchResponseEncoder((rev) => header(rev, term));
    const b = new WatchResponseEncoder((rev) => header(rev, term));
    const at = (rev: number) => watchResponse({ watchId: 1n, revision: rev, events: [del] });
    for (const rev of [30, 31, 30 + 256]) a.add(at(rev));
    for (const rev of [30, 31, 30 + 256]) b.add(at(rev));
    const expected = [30, 31, 30 + 256].map((rev) => generated(at(rev), 5n));
    expect(messagesOfWrite(a.take()!)).toEqual(expected);
    expect(messagesOfWrite(b.take()!)).toEqual(expected);
    term = 6n; // a new leader's term at a revision already sent
    b.add(at(31));
    expect(messagesOfWrite(b.take()!)).toEqual([generated(at(31), 6n)]);
  });
});

describe('a gathered write over grpc-js', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.forceShutdown();
    server = undefined;
  });

  it('reaches a client as separate WatchResponses (the patched grpc-js writes the frames as they are)', async () => {
    const sent = cases.slice(0, 4).map(([, r]) => r);
    server = new Server();
    server.addService(WatchServiceWithEncodedResponses, {
      watch: (call: ServerDuplexStream<etcdserverpb.WatchRequest, Buffer>) => {
        const enc = new WatchResponseEncoder((rev) => header(rev));
        for (const r of sent) enc.add(r);
        call.write(enc.take()!);
        enc.add(sent[0]!);
        call.write(enc.take()!); // a single message, framed here too
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server!.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    const client = new WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const received = await new Promise<etcdserverpb.WatchResponse[]>((resolve, reject) => {
        const got: etcdserverpb.WatchResponse[] = [];
        const stream = client.watch();
        stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
        stream.on('end', () => resolve(got));
        stream.on('error', reject);
      });
      expect(received.map((r) => Buffer.from(etcdserverpb.WatchResponse.encode(r).finish())))
        .toEqual([...sent, sent[0]!].map((r) => generated(r)));
    } finally {
      client.close();
    }
  });
});
