// Child process for persistence.test.ts: opens a store on the build, applies the recorded
// writes of phase 1, commits, applies those of phase 2 without committing, says so and waits
// to be killed with SIGKILL. Plain JS importing the build so the parent can spawn `node`.
import { readFileSync } from 'node:fs';
import { MvccStore } from '../../dist/index.js';

const [dir, opsFile] = [process.argv[2], process.argv[3]];
// Uint8Arrays were written as { $bytes: base64 }, bigints as { $bigint: decimal }.
const revive = (_k, v) => {
  if (v === null || typeof v !== 'object') return v;
  if (typeof v.$bytes === 'string') return new Uint8Array(Buffer.from(v.$bytes, 'base64'));
  if (typeof v.$bigint === 'string') return BigInt(v.$bigint);
  return v;
};
const { committed, applied } = JSON.parse(readFileSync(opsFile, 'utf8'), revive);
const store = await MvccStore.open({ dir });
const apply = (ops) => { for (const op of ops) store[op.method](...op.args); };
apply(committed);
await store.commit();
apply(applied);
process.stdout.write('applied\n');
setInterval(() => {}, 1000);
