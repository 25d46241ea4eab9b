import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BoltReader, BoltWriter } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'bbolt-rt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A bucket: sorted distinct keys, each a value or a nested bucket. */
interface Model { entries: Map<string, Buffer | Model> }

async function write(model: Model, pageSize: number, fillPercent?: number): Promise<string> {
  const path = join(dir, `db-${n++}`);
  const w = await BoltWriter.create(path, { pageSize, ...(fillPercent !== undefined ? { fillPercent } : {}) });
  const { size } = await fill(w, model);
  expect(readFileSync(path).length).toBe(size);
  return path;
}

/** Makes the writer's calls for `model`, then finishes it. */
async function fill(w: BoltWriter, model: Model): Promise<Awaited<ReturnType<BoltWriter['finish']>>> {
  const walk = async (m: Model): Promise<void> => {
    for (const hex of [...m.entries.keys()].sort()) {
      const v = m.entries.get(hex)!;
      if (Buffer.isBuffer(v)) w.put(Buffer.from(hex, 'hex'), v);
      else { w.beginBucket(Buffer.from(hex, 'hex')); await walk(v); w.endBucket(); }
      if (w.needsDrain) await w.drain();
    }
  };
  for (const hex of [...model.entries.keys()].sort()) {
    w.beginBucket(Buffer.from(hex, 'hex'));
    await walk(model.entries.get(hex) as Model);
    w.endBucket();
  }
  return w.finish();
}

function readBack(b: ReturnType<BoltReader['root']>): Model {
  const m: Model = { entries: new Map() };
  for (const e of b.entries()) m.entries.set(e.key.toString('hex'), e.bucket ? readBack(b.child(e)) : Buffer.from(e.value));
  return m;
}

// Hex of the key: Buffer order of bytes equals string order of lowercase hex.
const key = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b).toString('hex'));
const value = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((len) => new Uint8Array(len).fill(len % 251)) },
).map((b) => Buffer.from(b));
const leafBucket: fc.Arbitrary<Model> = fc.array(fc.tuple(key, value), { maxLength: 400 }).map((kvs) => ({ entries: new Map(kvs) }));
const bucket: fc.Arbitrary<Model> = fc.array(fc.tuple(key, fc.oneof({ weight: 6, arbitrary: value }, { weight: 1, arbitrary: leafBucket })), { maxLength: 300 })
  .map((kvs) => ({ entries: new Map<string, Buffer | Model>(kvs) }));
const db = fc.array(fc.tuple(key, bucket), { maxLength: 5 }).map((bs) => ({ entries: new Map<string, Buffer | Model>(bs) }));

describe('BoltWriter → BoltReader', () => {
  it('reads back every bucket, nested bucket, key and value in order (any page size and fill)', async () => {
    await fc.assert(fc.asyncProperty(db, fc.constantFrom(512, 1024, 4096), fc.constantFrom(undefined, 0.5, 1), async (model, pageSize, fill) => {
      const path = await write(model, pageSize, fill);
      const r = BoltReader.open(path);
      try {
        expect(r.meta.pageSize).toBe(pageSize);
        const got = readBack(r.root());
        expect(got).toEqual(sortedModel(model));
        // Point lookups descend the branch pages.
        for (const [bname, b] of model.entries) {
          const rb = r.bucket(Buffer.from(bname, 'hex'))!;
          for (const [k, v] of (b as Model).entries) {
            if (Buffer.isBuffer(v)) expect(rb.get(Buffer.from(k, 'hex'))).toEqual(v);
            else expect(rb.bucket(Buffer.from(k, 'hex'))!.count()).toBe(v.entries.size);
          }
          expect(rb.get(Buffer.from('ff'.repeat(41), 'hex'))).toBeUndefined();
        }
        // Every page is in use: the freelist is empty and the file ends at the high-water mark.
        expect(r.freePages()).toEqual([]);
      } finally {
        r.close();
      }
      // The same bytes read from memory.
      const m = BoltReader.fromBuffer(readFileSync(path));
      expect(readBack(m.root())).toEqual(sortedModel(model));
      rmSync(path);
    }), { numRuns: 60, seed: 1301 });
  });

  it('streams the bytes of the file, meta pages first, from the layout a dry run of the same calls gives', async () => {
    await fc.assert(fc.asyncProperty(db, fc.constantFrom(512, 4096), fc.constantFrom(undefined, 0.5, 1), async (model, pageSize, fillPercent) => {
      const opts = { pageSize, ...(fillPercent !== undefined ? { fillPercent } : {}) };
      const path = await write(model, pageSize, fillPercent);
      const layout = await fill(BoltWriter.plan(opts), model);
      const sent: Buffer[] = [];
      const streamed = await fill(BoltWriter.stream((chunks) => { sent.push(...chunks.map((c) => Buffer.from(c))); }, layout, opts), model);
      expect(streamed).toEqual(layout);
      expect(Buffer.concat(sent).equals(readFileSync(path))).toBe(true);
      rmSync(path);
    }), { numRuns: 40, seed: 1302 });
  });

  it('a stream whose tree does not come out as its layout said fails at finish', async () => {
    const model: Model = { entries: new Map([['6b6579', { entries: new Map([['01', Buffer.alloc(5000)]]) }]]) };
    const layout = await fill(BoltWriter.plan({ pageSize: 512 }), model);
    const other: Model = { entries: new Map([['6b6579', { entries: new Map([['01', Buffer.alloc(6000)]]) }]]) };
    await expect(fill(BoltWriter.stream(() => undefined, layout, { pageSize: 512 }), other)).rejects.toThrow(/meta pages said/);
  });

  it('builds trees several levels deep for many keys and finds each key', async () => {
    const entries = new Map<string, Buffer>();
    for (let i = 0; i < 50_000; i++) entries.set(i.toString(16).padStart(8, '0'), Buffer.from(`value-${i}`));
    const path = await write({ entries: new Map([['6b6579', { entries }]]) }, 512);
    const r = BoltReader.open(path);
    const b = r.bucket('key')!;
    expect(b.count()).toBe(50_000);
    for (const i of [0, 1, 777, 25_000, 49_999]) expect(b.get(Buffer.from(i.toString(16).padStart(8, '0'), 'hex'))?.toString()).toBe(`value-${i}`);
    r.close();
  });

  it('refuses keys out of order, empty keys, puts at the root, and unbalanced buckets', async () => {
    const w = await BoltWriter.create(join(dir, 'bad'));
    expect(() => w.put('k', Buffer.from('v'))).toThrow(/root holds only buckets/);
    w.beginBucket('b');
    w.put('b', Buffer.alloc(0));
    expect(() => w.put('a', Buffer.alloc(0))).toThrow(/not above the previous key/);
    expect(() => w.put('b', Buffer.alloc(0))).toThrow(/not above the previous key/);
    expect(() => w.put('', Buffer.alloc(0))).toThrow(/key of 0 bytes/);
    await expect(w.finish()).rejects.toThrow(/still open/);
    w.endBucket();
    expect(() => w.beginBucket('a')).toThrow(/not above the previous key/);
    expect(() => w.endBucket()).toThrow(/without an open bucket/);
    await w.finish();
  });
});

function sortedModel(m: Model): Model {
  const out: Model = { entries: new Map() };
  for (const k of [...m.entries.keys()].sort()) {
    const v = m.entries.get(k)!;
    out.entries.set(k, Buffer.isBuffer(v) ? v : sortedModel(v));
  }
  return out;
}
