/**
 * CRC-32C throughput: the shared implementation against the two it replaced (mvcc's
 * byte-at-a-time table, the WAL's slicing-by-8), on the sizes each caller feeds: 17-byte
 * pieces (mvcc's Hash feeds revision keys one by one), 100-byte WAL records, 16 MiB
 * snapshot files. Each variant runs in a fresh child process so V8's inline caches stay
 * monomorphic. Prints MiB/s, median of BENCH_ROUNDS (default 5) runs.
 *
 *   node dist/bench.js
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { crc32c } from './crc32c.js';

type Crc = (data: Uint8Array, seed: number) => number;

function tables(slices: number): Uint32Array {
  const t = new Uint32Array(slices * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < slices; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
}

/** The old mvcc one. */
function byteAtATime(): Crc {
  const t = tables(1);
  return (data, seed) => {
    let c = ~seed >>> 0;
    for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  };
}

/** The old WAL one. */
function slicingBy8(): Crc {
  const t = tables(8);
  return (data, seed) => {
    let crc = ~seed >>> 0;
    let i = 0;
    const end = data.length;
    const stop8 = end - (end & 7);
    while (i < stop8) {
      const a = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) ^ crc;
      crc = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
        t[768 + data[i + 4]!]! ^ t[512 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
      i += 8;
    }
    while (i < end) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
    return ~crc >>> 0;
  };
}

const VARIANTS: Record<string, () => Crc> = {
  'byte-at-a-time (old mvcc)': byteAtATime,
  'slicing-by-8 (old wal)': slicingBy8,
  'slicing-by-16 (@raftkv/checksum)': () => (data, seed) => crc32c(data, seed),
};
const SIZES = [17, 100, 16 * 2 ** 20];

/** MiB/s of `crc` over buffers of `size` bytes, about 0.3 s of work. */
function measure(crc: Crc, size: number): number {
  const buf = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
  const reps = Math.max(4, Math.floor(2 ** 25 / size));
  let c = 0;
  for (let i = 0; i < reps / 4; i++) c = crc(buf, c);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) c = crc(buf, c);
  const s = (performance.now() - t0) / 1000;
  if (c === -1) console.log(c); // keeps the loop observable
  return (reps * size) / 2 ** 20 / s;
}

const child = process.argv[2];
if (child !== undefined) {
  const crc = VARIANTS[child]!();
  if (crc(new TextEncoder().encode('123456789abcdefghij'), 0) !== 0x4340ce10) throw new Error(`${child}: wrong checksum`);
  process.stdout.write(JSON.stringify(SIZES.map((size) => measure(crc, size))));
} else {
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 5);
  const self = fileURLToPath(import.meta.url);
  console.log(`crc32c MiB/s (median of ${rounds}), node ${process.version}`);
  console.log(`| implementation | ${SIZES.map((s) => (s >= 2 ** 20 ? `${s / 2 ** 20} MiB` : `${s} B`)).join(' | ')} |`);
  console.log(`|---|${SIZES.map(() => '---:').join('|')}|`);
  for (const name of Object.keys(VARIANTS)) {
    const runs: number[][] = [];
    for (let r = 0; r < rounds; r++) runs.push(JSON.parse(execFileSync(process.execPath, [self, name], { encoding: 'utf8' })) as number[]);
    const medians = SIZES.map((_, i) => runs.map((x) => x[i]!).sort((a, b) => a - b)[Math.floor(rounds / 2)]!);
    console.log(`| ${name} | ${medians.map((m) => m.toFixed(0)).join(' | ')} |`);
  }
}
