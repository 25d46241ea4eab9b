// `raftkv snapshot status`: what `etcdctl snapshot status` reports of an etcd-format snapshot,
// computed the same way (etcd's v3_snapshot.go Status): a CRC-32C over every top-level bucket's
// name, keys and values, the main revision of the last key of "key", the number of entries,
// and the database's size (high-water page × page size).
import { BoltReader } from '@raftkv/bbolt';
import { Crc32c } from '@raftkv/checksum';
import { humanBytes } from './snapshot-rpc.js';

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** Reads the whole file (its structure checked as it goes). @throws BoltFormatError for a damaged file. */
export function snapshotStatus(path: string): SnapshotStatus {
  const db = BoltReader.open(path);
  try {
    const h = new Crc32c();
    let revision = 0;
    let totalKey = 0;
    const root = db.root();
    for (const b of root.entries()) {
      if (!b.bucket) throw new Error(`cannot get hash of bucket ${b.key.toString()}`);
      h.update(b.key);
      const isKey = b.key.toString('latin1') === 'key';
      for (const e of root.child(b).entries()) {
        // bbolt's ForEach gives a nested bucket a nil value: nothing of it is hashed.
        h.update(e.key);
        if (!e.bucket) h.update(e.value);
        if (isKey) revision = Number(e.key.readBigUInt64BE(0));
        totalKey++;
      }
    }
    return { hash: h.sum(), revision, totalKey, totalSize: db.size };
  } finally {
    db.close();
  }
}

/** etcdctl's three writers: simple (its default), table and json. */
export function formatStatus(s: SnapshotStatus, format: 'simple' | 'table' | 'json'): string {
  const row = [s.hash.toString(16), String(s.revision), String(s.totalKey), humanBytes(s.totalSize)];
  if (format === 'json') return `${JSON.stringify(s)}\n`;
  if (format === 'simple') return `${row.join(', ')}\n`;
  return table(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], [row]);
}

/** olekukonko/tablewriter as etcdctl sets it up: headers centred, cells right-aligned. */
function table(hdr: string[], rows: string[][]): string {
  const widths = hdr.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const centre = (s: string, w: number) => {
    const gap = w - s.length;
    const left = Math.floor(gap / 2);
    return ' '.repeat(left) + s + ' '.repeat(gap - left);
  };
  let out = line + `|${hdr.map((h, i) => ` ${centre(h, widths[i]!)} `).join('|')}|\n` + line;
  for (const r of rows) out += `|${r.map((c, i) => ` ${c.padStart(widths[i]!)} `).join('|')}|\n`;
  return out + line;
}
