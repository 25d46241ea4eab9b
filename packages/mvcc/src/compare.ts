import type { Compare } from './kv.js';
import type { KeyValue } from './key-value.js';

const EMPTY = new Uint8Array(0);

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  // A sort makes millions of calls and most keys and values differ early: a few bytes in JS
  // beat a native call; Buffer.compare (no views to allocate: it takes any Uint8Array) for the rest.
  const n = Math.min(a.length, b.length, 16);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return Buffer.compare(a, b);
}

export function compareNumbers(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `kv` satisfies compare `c` (etcd's compareKV). */
export function compareKV(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case 'value':
      result = compareBytes(kv.value, c.value ?? EMPTY);
      break;
    case 'create':
      result = compareNumbers(kv.createRevision, c.createRevision ?? 0);
      break;
    case 'mod':
      result = compareNumbers(kv.modRevision, c.modRevision ?? 0);
      break;
    case 'version':
      result = compareNumbers(kv.version, c.version ?? 0);
      break;
    case 'lease':
      result = compareNumbers(kv.lease, c.lease ?? 0n);
      break;
    case 'none':
      result = 0;
      break;
    default:
      throw new RangeError(`unknown compare target ${String(c.target)}`);
  }
  switch (c.result) {
    case 'equal':
      return result === 0;
    case 'not_equal':
      return result !== 0;
    case 'greater':
      return result > 0;
    case 'less':
      return result < 0;
    case 'always':
      return true;
    default:
      throw new RangeError(`unknown compare result ${String(c.result)}`);
  }
}
