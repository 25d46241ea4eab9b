// The analysis of tail-timeline-bench: each timed request set against what the server recorded
// meanwhile (tail-probe-preload.ts), to tell what the slowest requests waited for.
import type { ProbeDump, ProbeEvent } from './tail-probe-preload.js';

/** One timed request: its start (ms since the epoch) and latency (ms). */
export type Timed = [startMs: number, latencyMs: number];

const WAL_WRITE = 'file-write';

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
}

const overlaps = (aStart: number, aEnd: number, e: ProbeEvent, minMs = 0): boolean =>
  Math.min(aEnd, e[1] + e[2]) - Math.max(aStart, e[1]) > minMs;

/** Lines of text: latencies, the WAL write's part, events overlapping the slowest requests. */
export function analyse(puts: readonly Timed[], dump: ProbeDump, slowQuantile = 0.98): string[] {
  const lines: string[] = [];
  const fmt = (v: number) => v.toFixed(3);
  const pcts = (name: string, v: number[]) =>
    lines.push(`${name.padEnd(34)} p50 ${fmt(percentile(v, 0.5))}  p90 ${fmt(percentile(v, 0.9))}  p99 ${fmt(percentile(v, 0.99))}  p99.9 ${fmt(percentile(v, 0.999))} ms`);
  if (puts.length === 0) return ['no requests'];
  const from = puts[0]![0];
  const to = puts[puts.length - 1]![0] + puts[puts.length - 1]![1];
  const events = dump.events.filter((e) => e[1] + e[2] >= from && e[1] <= to).sort((a, b) => a[1] - b[1]);
  // The WAL write a request waited for: the first append that started during it.
  const wal = events.filter((e) => e[0] === WAL_WRITE);
  let w = 0;
  const rows = puts.map(([start, latency]) => {
    while (w < wal.length && wal[w]![1] < start) w++;
    const walMs = w < wal.length && wal[w]![1] <= start + latency ? wal[w]![2] : 0;
    return { start, latency, walMs };
  });
  pcts('request latency', rows.map((r) => r.latency));
  pcts('its WAL write (submit to callback)', rows.map((r) => r.walMs));
  pcts('the rest (latency - WAL write)', rows.map((r) => r.latency - r.walMs));

  // Events on the event loop (or holding the disk) that a request overlapped.
  const kinds = [...new Set(events.map((e) => e[0]))].filter((k) => !k.startsWith('file-write')).sort();
  const slowAt = percentile(rows.map((r) => r.latency), slowQuantile);
  const slow = rows.filter((r) => r.latency >= slowAt);
  lines.push(`slowest ${((1 - slowQuantile) * 100).toFixed(0)}% (>= ${fmt(slowAt)} ms): ${slow.length} requests`);
  for (const kind of kinds) {
    const ev = events.filter((e) => e[0] === kind);
    const hit = (r: { start: number; latency: number }) => ev.some((e) => overlaps(r.start, r.start + r.latency, e, 0.01));
    const all = rows.filter(hit);
    lines.push(`  ${kind.padEnd(22)} ${String(ev.length).padStart(6)} events, duration p50 ${fmt(percentile(ev.map((e) => e[2]), 0.5))} ms; ` +
      `overlapped by ${(100 * all.length / rows.length).toFixed(2)}% of requests (their latency p50 ${fmt(percentile(all.map((r) => r.latency), 0.5))} ms) ` +
      `and ${(100 * slow.filter(hit).length / Math.max(1, slow.length)).toFixed(1)}% of the slowest`);
  }
  // A WAL write that shared the disk with a backend commit.
  const commits = events.filter((e) => e[0] === 'lmdb-commit');
  if (commits.length > 0) {
    const inCommit = wal.filter((e) => commits.some((c) => overlaps(e[1], e[1] + e[2], c)));
    const outside = wal.filter((e) => !inCommit.includes(e));
    lines.push(`WAL writes during a backend commit: ${inCommit.length} of ${wal.length}`);
    pcts('  during a commit', inCommit.map((e) => e[2]));
    pcts('  not during one', outside.map((e) => e[2]));
  }
  if (dump.profile !== undefined && dump.clock !== undefined) lines.push(...profileLines(rows, slowAt, dump.profile as CpuProfile, dump.clock));
  return lines;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** What the event loop was doing (V8's samples) during the slowest requests and the others. */
function profileLines(rows: ReadonlyArray<{ start: number; latency: number }>, slowAt: number, profile: CpuProfile, clock: [number, number]): string[] {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frames = (id: number): string[] => {
    const s: string[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const f = nodes.get(x)!.callFrame;
      s.push(f.functionName || '(anonymous)');
    }
    return s.reverse().slice(1);
  };
  const when: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) {
    t += d;
    when.push(clock[1] + (t - clock[0]) / 1000);
  }
  const classes = ['(idle)', '(garbage collector)', '(program)'];
  const tally = { slow: { n: 0, idle: 0, gc: 0, program: 0, js: 0 }, other: { n: 0, idle: 0, gc: 0, program: 0, js: 0 } };
  const slowStacks = new Map<string, number>();
  let i = 0;
  for (const r of rows) {
    while (i < when.length && when[i]! < r.start) i++;
    const k = r.latency >= slowAt ? 'slow' : 'other';
    tally[k].n++;
    for (let j = i; j < when.length && when[j]! <= r.start + r.latency; j++) {
      const stack = frames(profile.samples[j]!);
      const leaf = stack[stack.length - 1] ?? '';
      const c = classes.indexOf(leaf);
      if (c === 0) tally[k].idle++;
      else if (c === 1) tally[k].gc++;
      else if (c === 2) tally[k].program++;
      else {
        tally[k].js++;
        if (k === 'slow') {
          const key = stack.slice(0, 3).join(' > ') + (stack.length > 3 ? ` … ${leaf}` : '');
          slowStacks.set(key, (slowStacks.get(key) ?? 0) + 1);
        }
      }
    }
  }
  const lines = ['event-loop samples (100 µs) per request: idle / GC / program / JS'];
  for (const [k, s] of Object.entries(tally)) {
    const per = (v: number) => (v / Math.max(1, s.n)).toFixed(2);
    lines.push(`  ${k === 'slow' ? 'slowest' : 'others '} ${per(s.idle)} / ${per(s.gc)} / ${per(s.program)} / ${per(s.js)}`);
  }
  lines.push('  JS samples during the slowest, by stack:');
  for (const [key, n] of [...slowStacks].sort((a, b) => b[1] - a[1]).slice(0, 8)) lines.push(`    ${String(n).padStart(5)} ${key}`);
  return lines;
}
