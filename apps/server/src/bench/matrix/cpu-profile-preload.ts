// Preloaded into raftkv processes by `pnpm bench --cpu-prof DIR` (NODE_OPTIONS=--import=<this>;
// Node refuses --cpu-prof in NODE_OPTIONS): samples the process with V8's profiler from the start
// and writes DIR/raftkv-<pid>.cpuprofile when the process exits (a clean stop; kill -9 leaves none).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env['BENCH_CPU_PROF_DIR'];
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // A session on the main thread answers synchronously, so this runs to the end inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `raftkv-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
