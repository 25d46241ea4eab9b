import fc from 'fast-check';
import { encodeFrame as frame } from './frame-reader.js';
import { describe, expect, it } from 'vitest';
import { encodeHeaderBlock, type HeaderField } from './header-block.js';
import { DEFAULT_FRONT_DOOR_LIMITS } from './limits.js';
import { classifyStart, Http2StartScan, isGrpcContentType, type ScanResult } from './protocol-sniff.js';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

describe('classifyStart', () => {
  it.each([
    ['', 'need-more'],
    ['P', 'need-more'],
    ['PRI * HTTP/2.0\r\n', 'need-more'],
    [PREFACE, 'http2'],
    [`${PREFACE}\x00\x00\x00\x04`, 'http2'],
    ['PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'malformed-preface'],
    ['PRI * HTTP/1.1\r\n\r\n', 'malformed-preface'],
    ['GET', 'need-more'],
    ['GET /version', 'need-more'],
    ['GET /version HTTP/1.1\r\n', 'http1'],
    ['GET /version HTTP/1.0\n', 'http1'],
    ['M-SEARCH * HTTP/1.1\r\n', 'http1'],
    ['GET /version HTTP/2.0\r\n', 'garbage'],
    ['GET /version\r\n', 'garbage'],
    ['GET  HTTP/1.1\r\n', 'garbage'],
    ['hello garbage\r\n', 'garbage'],
    [' GET / HTTP/1.1\r\n', 'garbage'],
    ['\x16\x03\x01\x02\x00', 'garbage'],
    ['A'.repeat(33), 'garbage'],
    [`GET /${'a'.repeat(5000)}`, 'garbage'],
  ])('%j is %s', (text, kind) => {
    expect(classifyStart(Buffer.from(text, 'latin1'))).toBe(kind);
  });

  it('a prefix of a classified start is need-more or the same verdict (so chunking never changes the answer)', () => {
    const starts = fc.oneof(
      fc.constantFrom(PREFACE, 'GET /version HTTP/1.1\r\n', 'POST /v3/kv/range HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n\r\nXX'),
      fc.string({ maxLength: 60 }),
    );
    fc.assert(fc.property(starts, fc.nat(), (text, cutAt) => {
      const bytes = Buffer.from(text, 'latin1');
      const whole = classifyStart(bytes);
      const prefix = classifyStart(bytes.subarray(0, cutAt % (bytes.length + 1)));
      expect(prefix === 'need-more' || prefix === whole).toBe(true);
    }), { seed: 11, numRuns: 2000 });
  });
});

describe('isGrpcContentType', () => {
  it.each([
    ['application/grpc', true], ['application/grpc+proto', true], ['Application/GRPC', true], ['application/grpc; charset=x', true],
    ['application/grpc-web', false], ['application/json', false], [undefined, false], ['', false],
  ])('%s: %s', (value, expected) => {
    expect(isGrpcContentType(value)).toBe(expected);
  });
});


const hf = (name: string, value: string): HeaderField => ({ name, value, neverIndex: false });
const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));
const ACK = frame(4, 1, 0, Buffer.alloc(0));
const request = (authority: string, contentType?: string): Buffer => frame(1, 0x4, 1, encodeHeaderBlock([
  hf(':method', 'POST'), hf(':scheme', 'http'), hf(':path', '/p'), hf(':authority', authority), ...(contentType ? [hf('content-type', contentType)] : []),
]));

function scanAll(bytes: Buffer, cuts: number[] = [bytes.length]): { result: ScanResult | undefined; scan: Http2StartScan } {
  const scan = new Http2StartScan(DEFAULT_FRONT_DOOR_LIMITS, { bytesReceived: 0, chunksReceived: 0, bytesCopied: 0 });
  let result: ScanResult | undefined;
  let at = 0;
  for (let i = 0; at < bytes.length && result === undefined; i++) {
    const n = Math.max(1, cuts[i % cuts.length]!);
    result = scan.push(bytes.subarray(at, at + n));
    at += n;
  }
  return { result, scan };
}

describe('Http2StartScan', () => {
  it.each([
    ['gRPC, host:port', request('127.0.0.1:2379', 'application/grpc'), { grpc: true, urlAuthority: false }],
    ['gRPC, URL authority', request('http://127.0.0.1:2379', 'application/grpc+proto'), { grpc: true, urlAuthority: true }],
    ['plain HTTP/2 (no content-type)', request('127.0.0.1:2379'), { grpc: false, urlAuthority: false }],
    ['unix URL authority', request('unix:///tmp/etcd.sock', 'application/grpc'), { grpc: true, urlAuthority: true }],
  ])('%s', (_name, req, expected) => {
    const { result, scan } = scanAll(Buffer.concat([Buffer.from(PREFACE), SETTINGS, ACK, req]));
    expect(result).toEqual({ kind: 'request', request: expected });
    expect(scan.ackSeen).toBe(true);
    // The ACK of the door's SETTINGS is left out of what is handed over; everything else is kept.
    expect(scan.handOver()).toEqual(Buffer.concat([Buffer.from(PREFACE), SETTINGS, req]));
  });

  it('finds the same first request however the bytes are chunked', () => {
    const bytes = Buffer.concat([Buffer.from(PREFACE), SETTINGS, frame(8, 0, 0, Buffer.alloc(4)), ACK, request('http://h:1', 'application/grpc'), frame(0, 1, 1, Buffer.alloc(5))]);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (cuts) => {
      const { result, scan } = scanAll(bytes, cuts);
      expect(result).toEqual({ kind: 'request', request: { grpc: true, urlAuthority: true } });
      const handed = scan.handOver();
      expect(handed.length).toBe(scan.bytes - 9);
    }), { seed: 7, numRuns: 300 });
  });

  it.each([
    ['a frame over the size limit', frame(0, 0, 1, Buffer.alloc(0)).fill(0xff, 0, 3)],
    ['malformed HPACK', frame(1, 0x4, 1, Buffer.from([0xff, 0x7f]))],
    ['a CONTINUATION of another stream', Buffer.concat([frame(1, 0, 1, Buffer.from([0x82])), frame(9, 0x4, 3, Buffer.from([0x84]))])],
    ['a SETTINGS ACK with a payload', frame(4, 1, 0, Buffer.alloc(6))],
    ['padding longer than the frame', frame(1, 0x4 | 0x8, 1, Buffer.from([9, 0x82]))],
  ])('refuses %s (the relay then answers it)', (_name, bytes) => {
    expect(scanAll(Buffer.concat([Buffer.from(PREFACE), SETTINGS, bytes])).result).toEqual({ kind: 'refused' });
  });

  it('refuses a header block of more CONTINUATIONs than the limit', () => {
    const frames = [frame(1, 0, 1, Buffer.from([0x82]))];
    for (let i = 0; i <= DEFAULT_FRONT_DOOR_LIMITS.maxContinuationFrames; i++) frames.push(frame(9, 0, 1, Buffer.alloc(0)));
    expect(scanAll(Buffer.concat([Buffer.from(PREFACE), ...frames])).result).toEqual({ kind: 'refused' });
  });

  it('without the ACK, hands over every byte', () => {
    const bytes = Buffer.concat([Buffer.from(PREFACE), SETTINGS, request('h:1', 'application/grpc')]);
    const { result, scan } = scanAll(bytes, [5]);
    expect(result?.kind).toBe('request');
    expect(scan.ackSeen).toBe(false);
    expect(scan.handOver()).toEqual(bytes);
  });
});
