import { describe, expect, test } from 'vitest';
import { parseOptions } from './options.js';

describe('pnpm bench options', () => {
  test('the full matrix by default: 3 rounds, 5 s cells, both member counts, 100,000 watchers, the noise side', () => {
    const { opts, out, tls } = parseOptions([], '/bin/raftkv');
    expect(opts).toMatchObject({ quick: false, rounds: 3, cellSeconds: 5, members: [1, 3], rows: [], noiseFloor: true, raftkvBin: '/bin/raftkv' });
    expect(opts.watchers).toEqual([10, 1000, 100_000]);
    expect(out).toBeUndefined();
    expect(tls).toBe(false);
  });

  test('--quick: shorter cells, fewer rounds, fewer watchers; explicit flags still win', () => {
    const { opts } = parseOptions(['--quick', '--rounds', '3'], 'b');
    expect(opts).toMatchObject({ quick: true, rounds: 3, cellSeconds: 1 });
    expect(Math.max(...opts.watchers)).toBeLessThan(100_000);
  });

  test('--rows, --members, --watchers, --no-noise, --out', () => {
    const { opts, out } = parseOptions(['--rows', 'put, watch', '--members', '3', '--watchers', '10,1_000', '--no-noise', '--out', 'x.json'], 'b');
    expect(opts).toMatchObject({ rows: ['put', 'watch'], members: [3], watchers: [10, 1000], noiseFloor: false });
    expect(out).toBe('x.json');
  });

  test('--before BIN: a second raftkv build, as an absolute path', () => {
    expect(parseOptions([], 'b').opts.raftkvBeforeBin).toBeUndefined();
    expect(parseOptions(['--before', '/tmp/base/apps/server/bin/raftkv'], 'b').opts.raftkvBeforeBin).toBe('/tmp/base/apps/server/bin/raftkv');
  });

  test('--tls alone means one member', () => {
    expect(parseOptions(['--tls'], 'b')).toMatchObject({ tls: true, opts: { members: [1] } });
  });

  test.each([
    [['--members', '2']],
    [['--rounds', '0']],
    [['--seconds', 'abc']],
    [['--bogus']],
  ])('%j is refused', (argv) => {
    expect(() => parseOptions(argv, 'b')).toThrow();
  });
});
