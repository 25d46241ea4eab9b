// A raftkv binary with an allocation probe in front (run as `node dist/bench/alloc-probe.js`, the
// real binary in ALLOC_PROBE_BIN): SIGUSR2 starts V8's sampling heap profiler with objects already
// collected included (so it estimates every byte allocated, not what survives) and counts GCs; the
// next SIGUSR2 writes ALLOC_PROBE_DIR/<pid>-<n>.heapprofile and <pid>-<n>.json ({ minor, major }),
// then <pid>-<n>.done. ALLOC_PROBE_NO_INLINE=1 turns TurboFan inlining off, so a callee's
// allocations are charged to it rather than to the optimized caller. Used by alloc-cost-bench.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';

if (process.env['ALLOC_PROBE_NO_INLINE'] === '1') setFlagsFromString('--no-turbo-inlining');
const dir = process.env['ALLOC_PROBE_DIR'] ?? '.';
const bin = process.env['ALLOC_PROBE_BIN'];
if (!bin) throw new Error('alloc-probe: set ALLOC_PROBE_BIN to the raftkv binary to run');

const session = new Session();
session.connect();
let sampling = false;
let minor = 0;
let major = 0;
let windows = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    else major++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    minor = 0;
    major = 0;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
    } as object);
    writeFileSync(`${dir}/${process.pid}.started`, '');
    return;
  }
  sampling = false;
  const gcs = { minor, major };
  const base = `${dir}/${process.pid}-${windows++}`;
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (err) throw err;
    writeFileSync(`${base}.heapprofile`, JSON.stringify(res.profile));
    writeFileSync(`${base}.json`, JSON.stringify(gcs));
    writeFileSync(`${base}.done`, '');
  });
});

// The binary finds its dist/ from argv[1].
process.argv[1] = bin;
await import(pathToFileURL(bin).href);
