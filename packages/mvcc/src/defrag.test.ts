import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFRAG_DIR, DefragCopy } from './defrag.js';
import { openEnvironment, treesOf, txnBody } from './lmdb-env.js';
import { DATA_FILE } from './lmdb-file.js';
import { tempDir } from './test-support/helpers.js';

/** A journaled body putting `size` keys `<name>/<i>`. */
function puts(name: string, size: number) {
  return txnBody(size, (t) => {
    for (let i = 0; i < size; i++) t.keyDb.put(Buffer.from(`${name}/${i}`), Buffer.from(name));
  });
}

/** The keys of the copy's key tree, after it was closed. */
async function keysOf(dir: string): Promise<string[]> {
  const env = openEnvironment(dir);
  try {
    return [...treesOf(env).keyDb.getKeys()].map((k) => k.toString());
  } finally {
    await env.close();
  }
}

describe('DefragCopy', () => {
  it('replays the journal in transactions of about entriesPerStep entries, never splitting a body, pausing after each', async () => {
    const envDir = tempDir();
    const copy = new DefragCopy(envDir, 6);
    expect(copy.dir).toBe(join(envDir, DEFRAG_DIR));
    expect(copy.dataFile).toBe(join(envDir, DEFRAG_DIR, DATA_FILE));
    await copy.makeDir();
    copy.open();
    copy.journal.push(puts('a', 3), puts('b', 3), puts('c', 3), puts('d', 10), puts('e', 1));
    expect(copy.behind).toBe(5);
    const behindAtPauses: number[] = [];
    await copy.replay(async () => {
      behindAtPauses.push(copy.behind);
    });
    // a+b (6), then c (3 + 10 > 6), d alone (10 > 6), e.
    expect(behindAtPauses).toEqual([3, 2, 1, 0]);

    // Bodies journaled later are replayed by the next call; without a pause, in one go.
    copy.journal.push(puts('f', 2));
    await copy.replay();
    expect(copy.behind).toBe(0);
    await copy.close();
    expect(existsSync(copy.dataFile)).toBe(true);
    const keys = await keysOf(copy.dir);
    expect(keys.length).toBe(3 + 3 + 3 + 10 + 1 + 2);
    expect(new Set(keys.map((k) => k.split('/')[0]))).toEqual(new Set(['a', 'b', 'c', 'd', 'e', 'f']));

    await copy.removeDir();
    expect(existsSync(copy.dir)).toBe(false);
  });

  it('makeDir empties what an earlier attempt left; discard closes the copy and removes it', async () => {
    const envDir = tempDir();
    const first = new DefragCopy(envDir, 64);
    await first.makeDir();
    first.open();
    first.journal.push(puts('old', 5));
    await first.replay();
    await first.close();

    const copy = new DefragCopy(envDir, 64);
    await copy.makeDir();
    expect(existsSync(copy.dataFile)).toBe(false);
    copy.open();
    copy.journal.push(puts('new', 1));
    await copy.replay();
    await copy.discard();
    expect(existsSync(copy.dir)).toBe(false);
  });
});
