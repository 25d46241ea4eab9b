import { etcdserverpb, mvccpb } from '@raftkv/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkValid, goJsonString, goQuote, GoJsonDecoder, quoteChar, unquote } from './go-json.js';
import { JsonDecodeError, jsonToWire, wireToJson } from './proto-json.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('Go encoding/json texts', () => {
  // Each expected text is what etcd 3.4.23's gateway answered for the same input.
  it.each([
    ['{bad', "invalid character 'b' looking for beginning of object key string"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 2}', "invalid character '2' after object key:value pair"],
    ['[1 2]', "invalid character '2' after array element"],
    ['1 2', "invalid character '2' after top-level value"],
    ['"\u0001"', "invalid character '\\x01' in string literal"],
    ['"\\x"', "invalid character 'x' in string escape code"],
    ['tru', "invalid character ' ' in literal true (expecting 'e')"],
    ['{', 'unexpected end of JSON input'],
    ['trux', "invalid character 'x' in literal true (expecting 'e')"],
    ['-', "invalid character ' ' in numeric literal"],
    ['1.', "invalid character ' ' after decimal point in numeric literal"],
    ['1e', "invalid character ' ' in exponent of numeric literal"],
    ['\'', "invalid character '\\'' looking for beginning of value"],
    ['\u00e9', "invalid character 'Ã' looking for beginning of value"],
    ['', 'unexpected end of JSON input'],
  ])('checkValid(%j) = %j', (input, message) => {
    expect(checkValid(b(input))).toBe(message);
  });

  it('accepts valid JSON', () => {
    expect(checkValid(b(' {"a":[1,-0.5e+3,true,false,null,"\\u00e9\\n"]} '))).toBeUndefined();
  });

  it('quoteChar and goQuote as Go prints them', () => {
    expect(quoteChar(0x7f)).toBe("'\\x7f'");
    expect(quoteChar(0xa0)).toBe("'\\u00a0'");
    expect(quoteChar(0x22)).toBe('\'"\'');
    expect(goQuote(Buffer.from([0x41, 0xff, 0x0a]))).toBe('"A\\xff\\n"');
  });

  it('unquote: escapes, surrogate pairs, lone surrogates and invalid UTF-8 as U+FFFD', () => {
    expect(unquote(b('"a\\n\\u00e9\\ud83d\\ude00\\ud800"')).toString()).toBe('a\né😀\ufffd');
    expect([...unquote(Buffer.from([0x22, 0xff, 0x41, 0x22]))]).toEqual([0xef, 0xbf, 0xbd, 0x41]);
  });

  it('goJsonString: HTML-safe, U+2028 escaped, invalid UTF-8 as \\ufffd', () => {
    expect(goJsonString(b('<a&b>\u2028"\\\t\u0001'))).toBe('"\\u003ca\\u0026b\\u003e\\u2028\\"\\\\\\t\\u0001"');
    expect(goJsonString(Buffer.from([0x61, 0xc3]))).toBe('"a\\ufffd"');
  });

  it('the decoder returns successive values from chunks, then EOF; a torn value is unexpected EOF', () => {
    const d = new GoJsonDecoder(1024);
    d.push(b(' {"a":1}{"b"'));
    expect(d.next()).toEqual({ kind: 'value', value: b('{"a":1}') });
    expect(d.next()).toEqual({ kind: 'more' });
    d.push(b(':2} 12'));
    expect(d.next()).toEqual({ kind: 'value', value: b('{"b":2}') });
    expect(d.next()).toEqual({ kind: 'more' }); // 12 may go on
    d.end();
    expect(d.next()).toEqual({ kind: 'value', value: b('12') });
    expect(d.next()).toEqual({ kind: 'eof' });
    const torn = new GoJsonDecoder(1024);
    torn.push(b('{"a":'));
    torn.end();
    expect(torn.next()).toEqual({ kind: 'error', message: 'unexpected EOF' });
  });

  it('the decoder refuses a value longer than its bound', () => {
    const d = new GoJsonDecoder(8);
    d.push(b('"0123456789"'));
    expect(d.next().kind).toBe('error');
  });
});

describe('jsonToWire: jsonpb\'s decoding, checked by decoding the bytes with @raftkv/api', () => {
  const range = (json: string): etcdserverpb.RangeRequest => etcdserverpb.RangeRequest.decode(jsonToWire('etcdserverpb.RangeRequest', b(json)));

  it('proto and camel names, int64 as number or string, enums by name or number, bytes as base64 or byte array', () => {
    expect(range('{"key":"Zm9v","range_end":"AA==","limit":"5","revision":7,"sort_order":"DESCEND","sortTarget":3,"keysOnly":true,"count_only":false}'))
      .toMatchObject({ key: b('foo'), rangeEnd: Buffer.from([0]), limit: 5n, revision: 7n, sortOrder: 2, sortTarget: 3, keysOnly: true, countOnly: false });
    expect(range('{"key":[102,111,111]}').key).toEqual(b('foo'));
    expect(range('{"key":"Zm9v","rangeEnd":"YQ==","range_end":"Yg=="}').rangeEnd).toEqual(b('a'));
    expect(range('null').key).toHaveLength(0);
  });

  it('oneofs: a member set to a zero value is still set; nested txns', () => {
    const txn = etcdserverpb.TxnRequest.decode(jsonToWire('etcdserverpb.TxnRequest', b(JSON.stringify({
      compare: [{ key: 'YQ==', target: 'VERSION', version: 0 }],
      success: [{ request_txn: { success: [{ request_put: { key: 'Yg==', value: 'Yw==' } }] } }],
    }))));
    expect(txn.compare[0]!.version).toBe(0n);
    expect(txn.success[0]!.requestTxn!.success[0]!.requestPut).toMatchObject({ key: b('b'), value: b('c') });
  });

  it('repeated enums are packed', () => {
    const w = etcdserverpb.WatchRequest.decode(jsonToWire('etcdserverpb.WatchRequest', b('{"create_request":{"key":"YQ==","filters":["NODELETE",0]}}')));
    expect(w.createRequest!.filters).toEqual([1, 0]);
  });

  it.each([
    ['{"key":5}', 'json: cannot unmarshal number into Go value of type []uint8'],
    ['{"key":"YQ"}', 'illegal base64 data at input byte 0'],
    ['{"key":"YQ==","limit":"1e3"}', 'json: cannot unmarshal number 1e3 into Go value of type int64'],
    ['{"key":"YQ==","limit":"x"}', "invalid character 'x' looking for beginning of value"],
    ['{"key":"YQ==","limit":""}', 'unexpected end of JSON input'],
    ['{"key":"YQ==","sort_order":"UP"}', 'unknown value "UP" for enum etcdserverpb.RangeRequest_SortOrder'],
    ['{"key":"YQ==","sort_order":3000000000}', 'json: cannot unmarshal number 3000000000 into Go value of type etcdserverpb.RangeRequest_SortOrder'],
    ['{"key":[256]}', 'json: cannot unmarshal number 256 into Go value of type uint8'],
    ['[]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
  ])('%s → %s', (json, message) => {
    expect(() => jsonToWire('etcdserverpb.RangeRequest', b(json))).toThrow(new JsonDecodeError(message));
  });
});

describe('wireToJson: grpc-gateway\'s output', () => {
  it('an event: enum by name (PUT, the zero value, left out), nested messages, declaration order', () => {
    const wire = etcdserverpb.WatchResponse.encode({
      header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n }, watchId: 0n, created: false, canceled: false, compactRevision: 0n,
      cancelReason: '', fragment: false,
      events: [{ type: mvccpb.Event_EventType.DELETE, kv: { key: b('k'), createRevision: 0n, modRevision: 3n, version: 0n, value: Buffer.alloc(0), lease: 0n }, prevKv: undefined },
        { type: mvccpb.Event_EventType.PUT, kv: undefined, prevKv: undefined }],
    }).finish();
    expect(wireToJson('etcdserverpb.WatchResponse', wire)).toBe(
      '{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"events":[{"type":"DELETE","kv":{"key":"aw==","mod_revision":"3"}},{}]}');
  });

  it('an unknown enum value is a bare number; uint32 a number', () => {
    const alarm = etcdserverpb.AlarmResponse.encode({ header: undefined, alarms: [{ memberID: 5n, alarm: 9 as etcdserverpb.AlarmType }] }).finish();
    expect(wireToJson('etcdserverpb.AlarmResponse', alarm)).toBe('{"alarms":[{"memberID":"5","alarm":9}]}');
    const hash = etcdserverpb.HashResponse.encode({ header: undefined, hash: 4294967295 }).finish();
    expect(wireToJson('etcdserverpb.HashResponse', hash)).toBe('{"hash":4294967295}');
  });

  it('property: a PutRequest through JSON and back to the wire decodes to the same message', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.boolean(), fc.boolean(),
      (key, value, lease, prevKv, ignoreValue) => {
        const msg: etcdserverpb.PutRequest = { key: Buffer.from(key), value: Buffer.from(value), lease, prevKv, ignoreValue, ignoreLease: false };
        const json = wireToJson('etcdserverpb.PutRequest', etcdserverpb.PutRequest.encode(msg).finish());
        const back = etcdserverpb.PutRequest.decode(jsonToWire('etcdserverpb.PutRequest', b(json)));
        expect(back).toEqual(msg);
      },
    ));
  });
});
