import { describe, expect, it } from 'vitest';
import { nodeFs } from './fs.js';
import { readReplayStart } from './replay-start.js';
import { ReplayStartTracker } from './replay-start-tracker.js';
import { useTempDirs } from './test-support/tmp.js';

const tempDir = useTempDirs();
const DATA_START = 100;

/** A tracker over a fresh directory, with batches starting in segment 1 at 200, 300, ... (last index 10, 20, ...). */
async function trackerWithBatches(count: number): Promise<{ tracker: ReplayStartTracker; dir: string }> {
  const dir = await tempDir();
  const tracker = new ReplayStartTracker(nodeFs, dir);
  for (let i = 1; i <= count; i++) {
    tracker.batchStart(1, 100 + 100 * i, i, 7, DATA_START, { lastIndex: 10 * i, hardState: { term: 2, vote: 1n, commit: 10 * i } });
  }
  return { tracker, dir };
}

describe('ReplayStartTracker', () => {
  it('records the latest batch start the durable marker does not precede', async () => {
    const { tracker, dir } = await trackerWithBatches(5);
    tracker.markerDurable(35); // batches with last index 10, 20, 30 qualify
    await tracker.close();
    const hint = await readReplayStart(nodeFs, dir);
    expect(hint).toMatchObject({ seq: 1, offset: 400, crc: 3, segmentStartCrc: 7, dataStart: DATA_START, lastIndex: 30 });
    expect(hint?.hardState).toEqual({ term: 2, vote: 1n, commit: 30 });
  });

  it('moves the hint forward with the next durable marker, and drops a hint not yet started at close', async () => {
    const { tracker, dir } = await trackerWithBatches(5);
    tracker.markerDurable(20);
    await tracker.close();
    expect((await readReplayStart(nodeFs, dir))?.lastIndex).toBe(20);
    tracker.markerDurable(50);
    await tracker.close();
    expect((await readReplayStart(nodeFs, dir))?.lastIndex).toBe(50);
    // While one hint is written, a newer one waits; close drops it (the log is closing).
    tracker.batchStart(1, 900, 9, 7, DATA_START, { lastIndex: 60 });
    tracker.batchStart(1, 1000, 10, 7, DATA_START, { lastIndex: 70 });
    tracker.markerDurable(60);
    tracker.markerDurable(70);
    await tracker.close();
    expect((await readReplayStart(nodeFs, dir))?.lastIndex).toBe(60);
  });

  it('writes no hint when no batch start qualifies, or when it would skip nothing', async () => {
    const { tracker, dir } = await trackerWithBatches(3);
    tracker.markerDurable(5);
    await tracker.close();
    expect(await readReplayStart(nodeFs, dir)).toBeUndefined();

    const other = new ReplayStartTracker(nodeFs, dir);
    other.batchStart(1, DATA_START, 0, 7, DATA_START, { lastIndex: 0 });
    other.markerDurable(10);
    await other.close();
    expect(await readReplayStart(nodeFs, dir)).toBeUndefined();
  });

  it('takes no starts in a segment whose body holds a metadata record', async () => {
    const { tracker, dir } = await trackerWithBatches(3);
    tracker.metadataInBody(1);
    tracker.batchStart(1, 900, 9, 7, DATA_START, { lastIndex: 90 });
    tracker.markerDurable(100);
    await tracker.close();
    expect(await readReplayStart(nodeFs, dir)).toBeUndefined();
  });

  it('keeps a bounded number of starts and still hints the newest', async () => {
    const { tracker, dir } = await trackerWithBatches(1000);
    tracker.markerDurable(10 * 1000);
    await tracker.close();
    expect((await readReplayStart(nodeFs, dir))?.lastIndex).toBe(10 * 1000);
    // The oldest were dropped: a marker that only they would have matched gives no hint.
    const again = await trackerWithBatches(1000);
    again.tracker.markerDurable(10);
    await again.tracker.close();
    expect(await readReplayStart(nodeFs, again.dir)).toBeUndefined();
  });
});
