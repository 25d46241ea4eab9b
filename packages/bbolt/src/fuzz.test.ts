// Seeded fuzz of the reader: damaged files must give a BoltFormatError (or read cleanly when
// the damage missed every byte in use), never another exception, a hang or a crash.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoltFormatError, BoltReader, type BoltBucket } from './index.js';
import { BoltWriter } from './writer.js';
import { fnv64a } from './format.js';

const dir = mkdtempSync(join(tmpdir(), 'bbolt-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let original: Buffer;

beforeAll(async () => {
  const path = join(dir, 'base.db');
  // 512-byte pages: many branch levels, overflow pages and nested buckets in a small file.
  const w = await BoltWriter.create(path, { pageSize: 512 });
  w.beginBucket('key');
  for (let i = 0; i < 2000; i++) w.put(Buffer.from(i.toString(16).padStart(6, '0'), 'hex'), Buffer.alloc(i % 97 === 0 ? 1500 : 20, i));
  w.endBucket();
  w.beginBucket('meta');
  w.put('consistent_index', Buffer.alloc(8, 1));
  w.beginBucket('nested');
  for (let i = 0; i < 100; i++) w.put(`n${String(i).padStart(3, '0')}`, Buffer.from('v'));
  w.endBucket();
  w.endBucket();
  await w.finish();
  original = readFileSync(path);
});

function mutate(seed: number): Buffer {
  // Seeded: every failing case prints a seed that replays it.
  const r = new Random(seed);
  const buf = Buffer.from(original);
  const ps = 512;
  const pages = buf.length / ps;
  const kind = r.int(5);
  const at = (): number => r.int(buf.length);
  switch (kind) {
    case 0: // random bytes anywhere
      for (let i = 0, n = 1 + r.int(16); i < n; i++) buf[at()] = r.int(256);
      break;
    case 1: { // a page header or element header field (ids, counts, overflow, pos, sizes)
      const page = 2 + r.int(pages - 2);
      const off = page * ps + r.int(16 * 5);
      const vals = [0, 1, 0xff, 0xffff, 0xffffffff, r.int(2 ** 32)];
      buf.writeUInt32LE(vals[r.int(vals.length)]!, Math.min(off, buf.length - 4));
      break;
    }
    case 2: // truncated
      return buf.subarray(0, r.int(buf.length));
    case 3: { // a meta field changed and the checksum made right again, in both metas
      const field = [16, 24, 40, 56][r.int(4)]!; // root, freelist, pgid, txid (meta offsets + 16)
      const v = [0n, 1n, 2n, BigInt(pages), BigInt(pages * 4), BigInt(r.int(pages)), 2n ** 63n][r.int(7)]!;
      for (const m of [0, ps]) {
        buf.writeBigUInt64LE(v, m + field);
        buf.writeBigUInt64LE(fnv64a(buf, m + 16, m + 16 + 56), m + 16 + 56);
      }
      break;
    }
    default: { // a page copied over another (shared subtrees, loops, wrong ids)
      const from = 2 + r.int(pages - 2);
      const to = 2 + r.int(pages - 2);
      buf.copy(buf, to * ps, from * ps, (from + 1) * ps);
      if (r.bool()) buf.writeBigUInt64LE(BigInt(to), to * ps);
    }
  }
  return buf;
}

/** Reads everything reachable: every bucket, nested bucket, value and a few lookups. */
function readAll(buf: Buffer): number {
  const db = BoltReader.fromBuffer(buf);
  let n = 0;
  const seen = new Set<string>();
  const walk = (b: BoltBucket, depth: number): void => {
    for (const e of b.entries()) {
      n++;
      if (e.bucket && depth < 8) {
        // A bucket reached twice is a loop through nested buckets: stop there.
        const id = e.value.subarray(0, 8).toString('hex');
        if (id !== '0000000000000000' && seen.has(id)) continue;
        seen.add(id);
        walk(b.child(e), depth + 1);
      }
    }
    b.get('consistent_index');
    b.get(Buffer.from('000400', 'hex'));
  };
  walk(db.root(), 0);
  db.freePages();
  db.bucket('meta', 'nested')?.count();
  return n;
}

describe('reader on damaged files', () => {
  it('reads the undamaged file', () => {
    expect(readAll(original)).toBe(2 + 2000 + 2 + 100);
  });

  it('throws BoltFormatError, or reads, for 3000 seeded corruptions', () => {
    let errors = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const buf = mutate(seed);
      try {
        readAll(buf);
      } catch (err) {
        if (!(err instanceof BoltFormatError)) throw new Error(`seed ${seed}: ${String((err as Error).stack)}`);
        errors++;
      }
    }
    // Most damage lands on bytes in use and is caught.
    expect(errors).toBeGreaterThan(1000);
  });

  it('names what is wrong', () => {
    expect(() => BoltReader.fromBuffer(Buffer.alloc(10))).toThrow(/no valid meta page/);
    expect(() => BoltReader.fromBuffer(Buffer.alloc(8192))).toThrow(/not a meta page|bad magic/);
    expect(() => BoltReader.fromBuffer(original.subarray(0, 4096))).toThrow(/shorter than its \d+ pages.*truncated/);
  });
});
