import { describe, expect, it } from 'vitest';
import { decodeHello, decodeStatus, encodeHello, encodeStatus, isRawStart, RAW_ACCEPTED, RecordReader } from './raw-stream.js';

function record(frame: Buffer): Buffer {
  const b = Buffer.alloc(4 + frame.length);
  b.writeUInt32BE(frame.length, 0);
  frame.copy(b, 4);
  return b;
}

describe('raw peer stream wire', () => {
  it('tells a raw hello from the HTTP/2 preface by its first byte', () => {
    expect(isRawStart(encodeHello(1n, 2n, 3n)[0]!)).toBe(true);
    expect(isRawStart(Buffer.from('PRI * HTTP/2.0\r\n')[0]!)).toBe(false);
    expect(decodeHello(encodeHello(0xffffffffffffffffn, 2n, 3n))).toEqual({ clusterId: 0xffffffffffffffffn, from: 2n, to: 3n });
    expect(decodeHello(Buffer.from('RAFTKVP2' + '\0'.repeat(24)))).toBeUndefined();
  });

  it('reads the answer: accepted, a refusal with its details, pending, or an HTTP/2 GOAWAY (an older member)', () => {
    expect(decodeStatus(encodeStatus(RAW_ACCEPTED))).toEqual({ code: 0, details: '' });
    const refusal = encodeStatus(9, 'raftkv: cluster ID mismatch');
    expect(decodeStatus(refusal)).toEqual({ code: 9, details: 'raftkv: cluster ID mismatch' });
    for (let n = 0; n < refusal.length; n++) expect(decodeStatus(refusal.subarray(0, n))).toBe('pending');
    // GOAWAY frame header: length 8, type 7.
    expect(decodeStatus(Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0]))).toBe('legacy');
  });

  it('cuts records at any chunk boundary, in order, with pings between them', () => {
    const frames = [Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x61]), Buffer.alloc(300, 7), Buffer.from([0, 0, 0, 0])];
    const ping = Buffer.alloc(4);
    const wire = Buffer.concat([record(frames[0]!), ping, record(frames[1]!), record(frames[2]!), ping]);
    for (let cut = 1; cut < wire.length; cut += 7) {
      const got: string[] = [];
      const r = new RecordReader(1024, (f) => got.push(Buffer.from(f).toString('hex')), () => got.push('ping'));
      for (let off = 0; off < wire.length; off += cut) expect(r.push(wire.subarray(off, off + cut))).toBeUndefined();
      expect(got).toEqual([frames[0]!.toString('hex'), 'ping', frames[1]!.toString('hex'), frames[2]!.toString('hex'), 'ping']);
    }
  });

  it('refuses a record longer than the frame limit, or too short for a frame', () => {
    const r = new RecordReader(1024, () => {}, () => {});
    expect(r.push(Buffer.from([0, 0, 4, 1]))).toMatch(/1025 bytes/);
    const r2 = new RecordReader(1024, () => {}, () => {});
    expect(r2.push(Buffer.from([0, 0, 0, 3, 1, 2, 3]))).toMatch(/3 bytes/);
  });
});

describe('raw peer stream reader, large frames', () => {
  it('joins a frame that arrives in many reads once, whole', () => {
    const frame = Buffer.alloc(3 * 1024 * 1024, 9);
    frame.writeUInt32BE(0, 0);
    const wire = record(frame);
    const got: Buffer[] = [];
    const r = new RecordReader(4 * 1024 * 1024, (f) => got.push(Buffer.from(f)), () => {});
    for (let off = 0; off < wire.length; off += 65536) r.push(wire.subarray(off, off + 65536));
    expect(got.length).toBe(1);
    expect(got[0]!.equals(frame)).toBe(true);
  });
});
