// What `raftkv snapshot restore` leaves in a data dir so the first start checks its flags: the
// member and cluster IDs the restore's flags give. etcd fixes them by writing a WAL at restore;
// raftkv bootstraps raft from the flags at the first start, so it compares them there instead.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface RestoredMember {
  /** Hex, as etcd prints IDs. */
  memberId: string;
  clusterId: string;
  name: string;
}

function markerPath(dataDir: string): string {
  return join(dataDir, 'member', 'restored-member.json');
}

export async function writeRestoredMarker(dataDir: string, m: RestoredMember): Promise<void> {
  await writeFile(markerPath(dataDir), `${JSON.stringify(m)}\n`, { mode: 0o600 });
}

/** The marker of a restored data dir, or undefined (also once the member has a WAL: then it no longer matters). */
export function readRestoredMarker(dataDir: string): RestoredMember | undefined {
  const path = markerPath(dataDir);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as RestoredMember;
}
