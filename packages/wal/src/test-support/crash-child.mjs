// Child process for crash.test.ts: appends entries forever with a few concurrent
// appenders, printing each index once its append resolved (= acknowledged), until it
// is killed with SIGKILL. Plain JS importing the build so the parent can spawn `node`.
import { Wal } from '../../dist/index.js';

const [dir, segmentSizeBytes] = [process.argv[2], Number(process.argv[3])];
const opts = { segmentSizeBytes };
const wal = (await Wal.exists(dir)) ? (await Wal.open(dir, opts)).wal : await Wal.create(dir, new Uint8Array([42]), opts);
let next = wal.lastIndex;
process.stdout.write(`ready ${next}\n`);
const data = new Uint8Array(200).fill(9);
async function appender() {
  for (;;) {
    const index = ++next;
    await wal.append([
      { type: 'entry', term: 1, index, data },
      { type: 'hardState', term: 1, vote: 1n, commit: index },
    ]);
    process.stdout.write(`${index}\n`);
  }
}
await Promise.all([appender(), appender(), appender(), appender()]);
