// The decoders refuse malformed bytes as etcd's Go decoder does, rather than act on part of them.
import { describe, expect, it } from 'vitest';
import * as etcdserverpb from './gen/etcdserverpb/rpc.js';

const put = (fields: number[]) => etcdserverpb.PutRequest.decode(Uint8Array.from(fields));

describe('strict decoding', () => {
  it('decodes a well-formed message and skips unknown fields of any valid wire type', () => {
    // key "a", then unknown field 15 as varint, 64-bit, length-delimited and 32-bit, then value "b"
    const m = put([0x0a, 1, 0x61, 0x78, 5, 0x79, 1, 2, 3, 4, 5, 6, 7, 8, 0x7a, 1, 0, 0x7d, 1, 2, 3, 4, 0x12, 1, 0x62]);
    expect(Buffer.from(m.key).toString()).toBe('a');
    expect(Buffer.from(m.value).toString()).toBe('b');
  });

  it.each<[string, number[], RegExp]>([
    ['a known field with the wrong wire type', [0x0a, 1, 0x61, 0x18 | 2, 1, 0], /wrong wireType = 2 for field 3/],
    ['tag 0 in the middle', [0x0a, 1, 0x61, 0x00, 0x12, 1, 0x62], /illegal tag 0/],
    ['field number 0 with a wire type', [0x0a, 1, 0x61, 0x01, 0x00, 0x12, 1, 0x62], /illegal tag 0 \(wire type 1\)/],
    ['an END_GROUP tag', [0x0a, 1, 0x61, 0x7c, 0x12, 1, 0x62], /illegal tag 15 \(wire type 4\)/],
    ['a field cut short', [0x0a, 5, 0x61], /premature|range|EOF/i],
    // a tag whose field number, read as Go reads it (int32 of a 64-bit varint >> 3), is negative
    ['a tag varint whose field number is negative', [0x0a, 1, 0x61, 0x88, 0x80, 0x80, 0x80, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01], /illegal tag -/],
    ['wire type 6 (an unknown field)', [0x0a, 1, 0x61, 0x7e, 0x00], /wire type 6/],
    // unknown field 15 as a varint of 11 bytes; the fuzzer's F20 (etcd: "proto: integer overflow")
    ['an unknown varint field over 10 bytes', [0x0a, 1, 0x61, 0x78, ...Array(10).fill(0x80), 0x01], /proto: integer overflow/],
    ['an unknown varint field cut short', [0x0a, 1, 0x61, 0x78, 0x80, 0x80], /unexpected EOF/],
  ])('refuses %s', (_name, bytes, error) => {
    expect(() => put(bytes)).toThrow(error);
  });

  it('refuses a field that runs past the end of its enclosing message', () => {
    // TxnRequest.success[0] = RequestOp (4 bytes) { request_put (2 bytes) { key: 5 bytes } }: the key
    // runs on into the bytes after the op, which belong to the TxnRequest.
    const txn = Uint8Array.from([0x12, 4, 0x12, 2, 0x0a, 5, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66]);
    expect(() => etcdserverpb.TxnRequest.decode(txn)).toThrow(/unexpected EOF/);
  });

  it('skips an unknown varint field of exactly 10 bytes, as Go does', () => {
    const m = put([0x0a, 1, 0x61, 0x78, ...Array(9).fill(0xff), 0x01, 0x12, 1, 0x62]);
    expect(Buffer.from(m.value).toString()).toBe('b');
  });

  it('reads a tag over 32 bits as Go does: an unknown field, skipped, never a truncated one', () => {
    // 2^32 + 8 as a tag (varint): truncated to 32 bits it would be field 1 (key); Go reads field 2^29 + 1
    const m = put([0x0a, 1, 0x61, 0x88, 0x80, 0x80, 0x80, 0x10, 0x01, 0x12, 1, 0x62]);
    expect(Buffer.from(m.key).toString()).toBe('a');
    expect(Buffer.from(m.value).toString()).toBe('b');
  });

  it('accepts a repeated scalar packed and unpacked, and refuses any other wire type for it', () => {
    const watch = (filters: number[]) => etcdserverpb.WatchCreateRequest.decode(Uint8Array.from([0x0a, 1, 0x61, ...filters]));
    expect(watch([0x28, 1, 0x28, 0]).filters).toEqual([1, 0]); // field 5, varint, twice
    expect(watch([0x2a, 2, 1, 0]).filters).toEqual([1, 0]); // field 5, packed
    expect(() => watch([0x2d, 1, 0, 0, 0])).toThrow(/wrong wireType = 5 for field 5/);
  });

  it('refuses a malformed nested message (a txn op)', () => {
    // TxnRequest.success[0] = RequestOp { request_put: PutRequest { tag 0 } }
    const txn = Uint8Array.from([0x12, 4, 0x12, 2, 0x00, 0x00]);
    expect(() => etcdserverpb.TxnRequest.decode(txn)).toThrow(/illegal tag 0/);
  });
});
