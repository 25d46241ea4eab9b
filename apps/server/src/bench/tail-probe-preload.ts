// Preloaded into a raftkv process by tail-timeline-bench (NODE_OPTIONS=--import=<this>): records,
// with wall-clock start times, what may hold up a request at one in flight: V8's GCs, every
// FileHandle write and sync (the WAL's O_DSYNC writes, the segment zero-fill), and the backend's
// LMDB transactions (the body run on the event loop, and the time until the transaction resolved:
// its commit). With TAIL_PROBE_PROFILE=1 it also samples the event loop with V8's profiler every
// 100 µs. SIGUSR2 writes it all to TAIL_PROBE_OUT (JSON) and starts over.
// LMDB is seen through require('lmdb'), i.e. in the bundle bin/raftkv runs (not the unbundled ESM dist).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import Module from 'node:module';
import { performance, PerformanceObserver } from 'node:perf_hooks';

/** [kind, start (ms since the epoch), duration (ms)]. */
export type ProbeEvent = [kind: string, startMs: number, durationMs: number];

export interface ProbeDump {
  events: ProbeEvent[];
  /** A V8 CPU profile (TAIL_PROBE_PROFILE=1), and [its clock in µs, the epoch in ms] at one instant. */
  profile?: unknown;
  clock?: [monotonicUs: number, epochMs: number];
}

const out = process.env['TAIL_PROBE_OUT'];
if (out) {
  const t0 = performance.timeOrigin;
  let events: ProbeEvent[] = [];
  const since = (start: number): number => performance.now() - start;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) events.push([`gc-${gcKind(((e as unknown as { detail?: { kind?: number } }).detail)?.kind)}`, t0 + e.startTime, e.duration]);
  }).observe({ entryTypes: ['gc'] });

  // FileHandle's prototype, from a handle of our own (the WAL opens its files later, on start).
  void open('/dev/null').then(async (fh) => {
    const proto = Object.getPrototypeOf(fh) as Record<string, (...a: unknown[]) => Promise<unknown>>;
    await fh.close();
    for (const name of ['write', 'writev', 'sync', 'datasync']) {
      const orig = proto[name]!;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        const start = performance.now();
        // A 1 MiB buffer is the segment pre-allocation's zero-fill, not a WAL append.
        const zero = name === 'write' && (args[0] as { length?: number } | undefined)?.length === 1024 * 1024;
        const p = orig.apply(this, args);
        p.then(() => events.push([`file-${name}${zero ? '-zero' : ''}`, t0 + start, since(start)]), () => undefined);
        return p;
      };
    }
  });

  // The WAL appends through callback fs.write on its O_DSYNC handle (packages/wal/src/fs.ts): time each
  // from its issue to its callback, as the WAL's own histogram does.
  const fsModule = Module.createRequire(import.meta.url)('node:fs') as Record<string, (...a: unknown[]) => unknown>;
  const write = fsModule['write']!;
  fsModule['write'] = function (this: unknown, ...args: unknown[]) {
    const cb = args[args.length - 1];
    if (typeof cb !== 'function') return write.apply(this, args);
    const start = performance.now();
    args[args.length - 1] = function (this: unknown, ...r: unknown[]) {
      events.push(['file-write', t0 + start, since(start)]);
      return (cb as (...x: unknown[]) => unknown).apply(this, r);
    };
    return write.apply(this, args);
  };
  // ES modules' named imports of node:fs (the unbundled dist) see the patch only after this.
  Module.syncBuiltinESMExports();

  const modules = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = modules._load;
  modules._load = function (this: unknown, request: string, ...rest: unknown[]) {
    const m = load.call(this, request, ...rest) as { open?: (...a: unknown[]) => unknown; [probed]?: boolean };
    if (request === 'lmdb' && typeof m.open === 'function' && !m[probed]) {
      m[probed] = true;
      const openEnv = m.open;
      m.open = function (this: unknown, ...args: unknown[]) {
        const env = openEnv.apply(this, args) as { transaction: (body: () => unknown, ...r: unknown[]) => unknown };
        const transaction = env.transaction;
        env.transaction = function (this: unknown, body: () => unknown, ...r: unknown[]) {
          const asked = performance.now();
          const p = transaction.call(this, function (this: unknown) {
            const start = performance.now();
            try {
              return body.call(this);
            } finally {
              events.push(['lmdb-body', t0 + start, since(start)]);
            }
          }, ...r);
          Promise.resolve(p).then(() => events.push(['lmdb-commit', t0 + asked, since(asked)]), () => undefined);
          return p;
        };
        return env;
      };
    }
    return m;
  };

  let session: Session | undefined;
  if (process.env['TAIL_PROBE_PROFILE'] === '1') {
    session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 100 });
    session.post('Profiler.start');
  }
  process.on('SIGUSR2', () => {
    const dump: ProbeDump = { events };
    events = [];
    if (!session) {
      writeFileSync(out, JSON.stringify(dump));
      return;
    }
    dump.clock = [Number(process.hrtime.bigint() / 1000n), t0 + performance.now()];
    // A session on the main thread answers synchronously.
    session.post('Profiler.stop', (err, res) => {
      if (!err) dump.profile = res.profile;
      writeFileSync(out, JSON.stringify(dump));
      session!.post('Profiler.start');
    });
  });
}

const probed = Symbol('tail-probe');

function gcKind(kind: number | undefined): string {
  // perf_hooks.constants.NODE_PERFORMANCE_GC_*
  return kind === 1 ? 'scavenge' : kind === 2 ? 'mark-compact' : kind === 4 ? 'incremental' : kind === 8 ? 'weak-callbacks' : `kind${kind}`;
}
