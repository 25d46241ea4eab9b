import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  decodeSnapshotMetadata,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeEntryHead,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  encodeSnapshotMetadata,
} from './codec.js';
import { DecodeError } from './errors.js';
import type { ConfState, Entry, Message, Snapshot } from './types.js';

const num = fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const id = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 64 });
const entry: fc.Arbitrary<Entry> = fc.record({
  term: num,
  index: num,
  type: fc.constantFrom(0, 1, 2) as fc.Arbitrary<Entry['type']>,
  data: bytes,
});
const confState: fc.Arbitrary<ConfState> = fc.record({
  voters: fc.array(id, { maxLength: 5 }),
  learners: fc.array(id, { maxLength: 3 }),
  votersOutgoing: fc.array(id, { maxLength: 5 }),
  learnersNext: fc.array(id, { maxLength: 3 }),
  autoLeave: fc.boolean(),
});
const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  data: bytes,
  metadata: fc.record({ confState, index: num, term: num }),
});
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.integer({ min: 0, max: 18 }) as fc.Arbitrary<Message['type']>,
  to: id,
  from: id,
  term: num,
  logTerm: num,
  index: num,
  entries: fc.array(entry, { maxLength: 4 }),
  commit: num,
  snapshot: fc.option(snapshot, { nil: undefined }),
  reject: fc.boolean(),
  rejectHint: num,
  context: bytes,
});
const ccType = fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>;

describe('codec round trips', () => {
  it('message', () => fc.assert(fc.property(message, (m) => {
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
  })));
  it('entry', () => fc.assert(fc.property(entry, (e) => {
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
  })));
  it('entry head: encodeEntry is the head followed by the data', () => fc.assert(fc.property(entry, (e) => {
    expect(Buffer.concat([encodeEntryHead(e), e.data])).toEqual(Buffer.from(encodeEntry(e)));
  })));
  it('hard state', () =>
    fc.assert(
      fc.property(fc.record({ term: num, vote: id, commit: num }), (h) => {
        expect(decodeHardState(encodeHardState(h))).toEqual(h);
      }),
    ));
  it('conf state', () => fc.assert(fc.property(confState, (c) => {
    expect(decodeConfState(encodeConfState(c))).toEqual(c);
  })));
  it('snapshot and its metadata', () =>
    fc.assert(
      fc.property(snapshot, (s) => {
        expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
        expect(decodeSnapshotMetadata(encodeSnapshotMetadata(s.metadata))).toEqual(s.metadata);
      }),
    ));
  it('conf change v1', () =>
    fc.assert(
      fc.property(fc.record({ type: ccType, nodeId: id, context: bytes }), (cc) => {
        expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
      },
      ),
    ));
  it('conf change v2', () =>
    fc.assert(
      fc.property(
        fc.record({
          transition: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
          changes: fc.array(fc.record({ type: ccType, nodeId: id }), { maxLength: 5 }),
          context: bytes,
        }),
        (cc) => {
          expect(decodeConfChangeV2(encodeConfChangeV2(cc))).toEqual(cc);
        },
      ),
    ));
});

describe('codec rejects bad input', () => {
  it('every strict prefix of an encoded message fails to decode', () =>
    fc.assert(
      fc.property(message, (m) => {
        const buf = encodeMessage(m);
        for (let n = 0; n < buf.length; n++) expect(() => decodeMessage(buf.subarray(0, n))).toThrow(DecodeError);
      }),
      { numRuns: 30 },
    ));

  it('trailing bytes are rejected', () => {
    const buf = encodeEntry({ term: 1, index: 2, type: 0, data: new Uint8Array([1]) });
    expect(() => decodeEntry(new Uint8Array([...buf, 0]))).toThrow(DecodeError);
  });

  it.each([
    ['unknown version', [9, 1, 1, 0, 0]],
    ['unknown entry type', [1, 1, 1, 7, 0]],
    ['varint above MAX_SAFE_INTEGER', [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0]],
    ['too-long varint', [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ['data longer than the input', [1, 1, 1, 0, 5, 1]],
  ])('entry with %s', (_n, bytes) => {
    expect(() => decodeEntry(new Uint8Array(bytes))).toThrow(DecodeError);
  });

  it('refuses to encode numbers that are not safe unsigned integers', () => {
    expect(() => encodeEntry({ term: -1, index: 0, type: 0, data: new Uint8Array() })).toThrow(RangeError);
    expect(() => encodeEntry({ term: 2 ** 60, index: 0, type: 0, data: new Uint8Array() })).toThrow(RangeError);
    expect(() => encodeHardState({ term: 0, vote: 1n << 64n, commit: 0 })).toThrow(RangeError);
  });

  it('empty conf change v2 data means "leave joint"', () => {
    expect(decodeConfChangeV2(new Uint8Array(0))).toEqual({ transition: 0, changes: [], context: new Uint8Array(0) });
  });
});
