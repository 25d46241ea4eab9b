import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { InternalWalOptions } from './fs.js';
import type { WalRecord } from './record.js';
import type { WalReplay } from './replay.js';
import { arbLogOps } from './test-support/arbitraries.js';
import { modelReplay } from './test-support/model.js';
import { SnapshotStore } from './snapshot-store.js';
import { mulberry32 } from './test-support/seeded-random.js';
import { SimFs } from './test-support/sim-fs.js';
import { Wal, type WalOptions } from './wal.js';

const META = new TextEncoder().encode('sim');
const DIR = '/sim/member/wal';

const opts = (fs: SimFs): WalOptions => ({ segmentSizeBytes: 4096, fs }) as WalOptions & InternalWalOptions;

/** The shortest k >= from such that replaying issued[0, k) gives `replay`, or -1. */
function matchingPrefix(replay: WalReplay, issued: WalRecord[], from: number): number {
  for (let k = from; k <= issued.length; k++) if (isDeepStrictEqual(replay, modelReplay(META, issued.slice(0, k)))) return k;
  return -1;
}

describe('power loss (simulated disk)', () => {
  it('property: after power loss at any operation, open succeeds and replays a prefix holding every acknowledged record', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbLogOps(50, 700),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.noBias(fc.integer({ min: 0, max: 2 ** 31 - 1 })),
        fc.noBias(fc.integer({ min: 0, max: 10_000 })),
        async (records, batchSize, concurrency, seed, crashPoint) => {
          const rng = mulberry32(seed);
          const fs = new SimFs(rng);
          const wal = await Wal.create(DIR, META, opts(fs));
          const issued: WalRecord[] = [];
          let acked = 0;
          let image: SimFs | undefined;
          let ackedAtCrash = 0;
          const batches: WalRecord[][] = [];
          for (let i = 0; i < records.length; i += batchSize) batches.push(records.slice(i, i + batchSize));
          // Spread crash points over the run: ~6 disk operations per batch plus rotations.
          fs.armCrash(fs.opCount + 1 + (crashPoint % (batches.length * 6 + 10)), (img) => {
            image = img;
            ackedAtCrash = acked;
          });
          for (let i = 0; i < batches.length; i += concurrency) {
            const group = batches.slice(i, i + concurrency);
            let marker = 0;
            await Promise.all(
              group.map((b) => {
                issued.push(...b);
                const end = issued.length;
                for (const r of b) if (r.type === 'snapshot') marker = Math.max(marker, r.index);
                return wal.append(b).then(() => {
                  acked = Math.max(acked, end);
                });
              }),
            );
            if (marker > 0) await wal.releaseTo(marker);
          }
          await wal.close();
          if (!image) {
            image = fs.crashImage();
            ackedAtCrash = acked;
          }

          const { wal: w2, replay } = await Wal.open(DIR, opts(image));
          const k = matchingPrefix(replay, issued, ackedAtCrash);
          expect(k, 'replay is not a prefix of the issued records that includes every acknowledged one').toBeGreaterThanOrEqual(ackedAtCrash);

          // The recovered log continues cleanly, and survives a second power loss after close.
          const next: WalRecord = { type: 'entry', term: 1000, index: w2.lastIndex + 1, data: new Uint8Array([7]) };
          await w2.append([next]);
          await w2.close();
          const { wal: w3, replay: r3 } = await Wal.open(DIR, opts(image.crashImage()));
          await w3.close();
          expect(r3).toEqual(modelReplay(META, [...issued.slice(0, k), next]));
        },
      ),
      { numRuns: Number(process.env.WAL_RUNS ?? 300) },
    );
  });
});

describe('power loss during snapshot saves (simulated disk)', () => {
  it('property: the latest loadable snapshot is complete and at least as new as the last save that resolved', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }),
        fc.noBias(fc.integer({ min: 0, max: 2 ** 31 - 1 })),
        fc.noBias(fc.integer({ min: 0, max: 10_000 })),
        async (sizes, seed, crashPoint) => {
          const fs = new SimFs(mulberry32(seed));
          const dir = '/sim/member/snap';
          const store = new SnapshotStore(dir, { fs });
          const payload = (i: number) => Uint8Array.from({ length: sizes[i]! }, (_, k) => (k * 13 + i) & 0xff);
          let image: SimFs | undefined;
          let savedAtCrash = -1;
          let saved = -1;
          fs.armCrash(fs.opCount + 1 + (crashPoint % (sizes.length * 8 + 4)), (img) => {
            image = img;
            savedAtCrash = saved;
          });
          for (let i = 0; i < sizes.length; i++) {
            await store.save({ index: (i + 1) * 10, term: 1 }, payload(i));
            saved = i;
            if (i % 2 === 1) await store.purge(1);
          }
          if (!image) {
            image = fs.crashImage();
            savedAtCrash = saved;
          }
          const got = await new SnapshotStore(dir, { fs: image }).loadLatest();
          if (savedAtCrash >= 0) expect(got).toBeDefined();
          if (!got) return;
          const i = got.index / 10 - 1;
          expect(i).toBeGreaterThanOrEqual(savedAtCrash);
          expect(await got.read()).toEqual(payload(i));
        },
      ),
      { numRuns: Number(process.env.WAL_RUNS ?? 300) },
    );
  });
});
