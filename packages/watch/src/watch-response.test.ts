import type { Event } from '@raftkv/mvcc';
import { describe, expect, test } from 'vitest';
import { eventWireSize, fragmentWatchResponse, prevKvWireSize, watchResponse, watchResponseWireSize } from './watch-response.js';

function ev(key: string, valueBytes: number, rev: number): Event {
  return {
    type: 'put',
    kv: { key: Buffer.from(key), createRevision: rev, modRevision: rev, version: 1, value: new Uint8Array(valueBytes), lease: 0n },
  };
}

describe('eventWireSize', () => {
  test.each([
    // Expected sizes are those of mvccpb.Event encoded by @raftkv/api (ts-proto).
    // kv tag+len (2) + kv{ key(1+1+1) create(1+1) mod(1+1) version(1+1) value(1+1+3) }
    { e: ev('k', 3, 5), want: 16 },
    // a delete: type (2) + kv tag+len (2) + kv{ key(1+1+1) mod(1+1) }
    { e: { type: 'delete', kv: { key: Buffer.from('k'), createRevision: 0, modRevision: 5, version: 0, value: new Uint8Array(), lease: 0n } } as Event, want: 9 },
    // 200-byte value: 2-byte length varints for the value and the kv
    { e: ev('k', 200, 5), want: 215 },
    // negative lease: 10-byte varint
    { e: { type: 'put', kv: { ...ev('k', 0, 1).kv, lease: -1n } } as Event, want: 22 },
  ])('$want bytes', ({ e, want }) => {
    expect(eventWireSize(e)).toBe(want);
  });

  test('prevKv adds its own length-delimited size', () => {
    const e = ev('k', 3, 5);
    expect(eventWireSize({ ...e, prevKv: e.kv })).toBe(32);
  });

  test.each([0, 1, 127, 128, 300, 20_000])('prevKvWireSize is what prev_kv adds (prev value of %i bytes)', (n) => {
    const e = ev('key', 200, 7);
    const withPrev = { ...e, prevKv: ev('key', n, 6).kv };
    expect(prevKvWireSize(e)).toBe(0);
    expect(eventWireSize(e) + prevKvWireSize(withPrev)).toBe(eventWireSize(withPrev));
  });
});

describe('fragmentWatchResponse (etcd sendFragments rules)', () => {
  const events = Array.from({ length: 10 }, (_, i) => ev(`key${i}`, 100, 7));
  const resp = watchResponse({ watchId: 3n, revision: 7, events });

  test('does not split a response under the limit', () => {
    expect(fragmentWatchResponse(resp, watchResponseWireSize(resp) + 1)).toEqual([resp]);
  });

  test('does not split a single event, however large', () => {
    const one = watchResponse({ watchId: 1n, revision: 2, events: [ev('big', 10_000, 2)] });
    expect(fragmentWatchResponse(one, 100)).toEqual([one]);
  });

  test.each([300, 500, 1000])('pieces under %i bytes keep every event once, in order, fragment on all but the last', (limit) => {
    const pieces = fragmentWatchResponse(resp, limit);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.flatMap((p) => p.events)).toEqual(events);
    pieces.forEach((p, i) => {
      expect(p.fragment).toBe(i < pieces.length - 1);
      expect(p.watchId).toBe(3n);
      expect(p.revision).toBe(7);
      expect(p.events.length).toBeGreaterThan(0);
      if (p.events.length > 1) expect(watchResponseWireSize(p)).toBeLessThan(limit);
    });
    // Greedy: adding the next piece's first event would have reached the limit.
    for (let i = 0; i + 1 < pieces.length; i++) {
      const grown = { ...pieces[i]!, events: [...pieces[i]!.events, pieces[i + 1]!.events[0]!] };
      expect(watchResponseWireSize(grown)).toBeGreaterThanOrEqual(limit);
    }
  });

  test('an event larger than the limit travels alone', () => {
    const mixed = watchResponse({ watchId: 1n, revision: 2, events: [ev('a', 10, 2), ev('b', 5000, 2), ev('c', 10, 2)] });
    const pieces = fragmentWatchResponse(mixed, 1000);
    expect(pieces.map((p) => p.events.map((e) => Buffer.from(e.kv.key).toString()))).toEqual([['a'], ['b'], ['c']]);
  });

  test('rejects a non-positive limit', () => {
    expect(() => fragmentWatchResponse(resp, 0)).toThrow(RangeError);
  });
});
