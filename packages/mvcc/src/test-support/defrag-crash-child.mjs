// Child process for defragment.test.ts: builds a store with a large deleted and compacted key
// space, defragments it, and at step `argv[3]` of the defragmentation says so and waits to be
// killed with SIGKILL. A key written and committed during the copy must survive. Plain JS
// importing the build so the parent can spawn `node`.
import { MvccStore } from '../../dist/index.js';

const [dir, stopAt] = [process.argv[2], process.argv[3]];
const enc = (s) => new TextEncoder().encode(s);
const store = await MvccStore.open({ dir });
let index = 1;
const big = new Uint8Array(1024).fill(120);
for (let i = 0; i < 4000; i++) store.put({ key: enc(`k/${String(i).padStart(5, '0')}`), value: big }, index++);
store.put({ key: enc('kept'), value: enc('yes') }, index++);
await store.commit();
store.deleteRange({ key: enc('k/'), rangeEnd: enc('k0') }, index++);
await store.compact(store.currentRevision, index++).done;
await store.commit();
const sizeBefore = store.dbSizeBytes();
const pacing = { entriesPerStep: 1, pause: () => new Promise((r) => setImmediate(r)) };
await store.defragment(pacing, async (step) => {
  if (step === 'copied') {
    store.put({ key: enc('during'), value: enc('copy') }, index++);
    await store.commit();
  }
  if (step === stopAt) {
    process.stdout.write(`${JSON.stringify({ step, sizeBefore, hash: store.hash(), ci: store.consistentIndex })}\n`);
    await new Promise(() => setInterval(() => {}, 1000));
  }
});
