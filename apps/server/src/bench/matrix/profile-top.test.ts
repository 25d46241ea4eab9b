import { expect, test } from 'vitest';
import { selfTimes } from './profile-top.js';

test('self time per function and per file, from the samples and their time deltas', () => {
  const frame = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
  const { functions, files, totalMs } = selfTimes({
    nodes: [
      { id: 1, callFrame: frame('(root)', '', -1) },
      { id: 2, callFrame: frame('append', 'file:///w/packages/wal/dist/wal.js', 9) },
      { id: 3, callFrame: frame('', 'file:///w/node_modules/.pnpm/lmdb@3.5.6/node_modules/lmdb/write.js', 99) },
      { id: 4, callFrame: frame('append', 'file:///w/packages/wal/dist/wal.js', 9) },
    ],
    startTime: 0, endTime: 10_000,
    samples: [2, 3, 2, 4, 1],
    timeDeltas: [1000, 3000, 1000, 2000, 500],
  });
  expect(totalMs).toBe(7.5);
  // Two nodes of the same function at the same place are one row.
  expect(functions[0]).toEqual({ name: 'append', where: 'packages/wal/dist/wal.js:10', ms: 4 });
  expect(functions[1]).toEqual({ name: '(anonymous)', where: 'lmdb/write.js:100', ms: 3 });
  expect(files.get('lmdb/write.js')).toBe(3);
  expect(files.get('(root)')).toBe(0.5);
});
