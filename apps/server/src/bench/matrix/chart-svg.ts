// The matrix result drawn as SVG, hand-written (no dependency): for one member count, a row per
// workload with etcd's and raftkv's bars side by side, left the figure (ops/s, events/s, or
// ms / bytes for start-up rows), right the p99 latency. Each row has its own scale (the units
// differ); whiskers span the rounds (min–max); a grey tick marks the second etcd side, so the
// gap between etcd's bar and that tick is the noise of the run.
import { present } from './report.js';
import type { BenchResult, RowResult, SideName, SideStats } from './runner.js';

const ROW_H = 40;
const BAR_H = 13;
const LABEL_W = 250;
const PANEL_W = 330;
const GAP = 90;
const TOP = 90;
const COLORS: Record<'etcd' | 'raftkv', string> = { etcd: '#4e79a7', raftkv: '#f28e2b' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function num(n: number): string {
  const a = Math.abs(n);
  return a >= 10_000 ? `${(n / 1000).toFixed(0)}k` : a >= 1000 ? `${(n / 1000).toFixed(1)}k` : a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

type Pick = (s: SideStats) => { median: number; rounds: number[] };
const valueOf: Pick = (s) => ({ median: s.median.value, rounds: s.rounds.map((r) => r.value) });
const p99Of: Pick = (s) => ({ median: s.median.p99Ms, rounds: s.rounds.map((r) => r.p99Ms ?? NaN) });

/** One panel's bars for a row; '' when the row has no such figure. */
function bars(row: RowResult, pick: Pick, x0: number, y0: number, unit: string, better: 'higher' | 'lower'): string {
  const sides = (['etcd', 'raftkv', 'etcd-again'] as SideName[]).filter((s) => row.sides[s]);
  const figures = sides.map((s) => pick(row.sides[s]!));
  if (!present(figures[0]?.median) || !present(figures[1]?.median)) {
    return present(figures[0]?.median) || present(figures[1]?.median)
      ? `<text x="${x0}" y="${y0 + 22}" class="small">one side has no figure</text>` : '';
  }
  const all = figures.flatMap((f) => [f.median, ...f.rounds]).filter(present);
  const scale = (Math.max(...all) * 1.12) || 1;
  const w = (v: number) => Math.max(1, (v / scale) * PANEL_W);
  const out: string[] = [];
  (['etcd', 'raftkv'] as const).forEach((side, i) => {
    const f = figures[i]!;
    const y = y0 + 4 + i * (BAR_H + 3);
    out.push(`<rect x="${x0}" y="${y}" width="${w(f.median).toFixed(1)}" height="${BAR_H}" fill="${COLORS[side]}"><title>${side}: ${num(f.median)} ${esc(unit)} (median of ${f.rounds.length})</title></rect>`);
    const rs = f.rounds.filter(present);
    let labelX = x0 + w(f.median) + 4;
    if (rs.length > 1 && Math.min(...rs) < Math.max(...rs)) {
      const a = w(Math.min(...rs));
      const b = w(Math.max(...rs));
      const cy = y + BAR_H / 2;
      out.push(`<path d="M${(x0 + a).toFixed(1)} ${cy}H${(x0 + b).toFixed(1)}M${(x0 + a).toFixed(1)} ${cy - 4}v8M${(x0 + b).toFixed(1)} ${cy - 4}v8" class="whisker"/>`);
      labelX = Math.max(labelX, x0 + b + 4);
    }
    out.push(`<text x="${labelX.toFixed(1)}" y="${y + BAR_H - 2}" class="small">${num(f.median)}</text>`);
  });
  const again = figures[2];
  if (again && present(again.median)) {
    const x = x0 + w(again.median);
    out.push(`<path d="M${x.toFixed(1)} ${y0 + 1}v${BAR_H + 6}" class="noise"><title>etcd again: ${num(again.median)} ${esc(unit)}</title></path>`);
  }
  const r = figures[1]!.median / figures[0]!.median;
  const good = better === 'higher' ? r >= 1 : r <= 1;
  out.push(`<text x="${x0 + PANEL_W + 8}" y="${y0 + 18}" class="${good ? 'good' : 'bad'}">×${r.toFixed(2)}</text>`);
  if (again && present(again.median)) {
    out.push(`<text x="${x0 + PANEL_W + 8}" y="${y0 + 32}" class="small">noise ×${(again.median / figures[0]!.median).toFixed(2)}</text>`);
  }
  return out.join('');
}

/** The SVG for the rows of `members` members; undefined when the result has none. */
export function renderChart(result: BenchResult, members: 1 | 3): string | undefined {
  const rows = result.rows.filter((r) => r.members === members);
  if (rows.length === 0) return undefined;
  const left = LABEL_W;
  const right = LABEL_W + PANEL_W + GAP;
  const width = right + PANEL_W + GAP;
  const height = TOP + rows.length * ROW_H + 40;
  const o = result.options;
  const nf = result.noiseFloor;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push('<style>.small{font-size:10px;fill:#333}.title{font-size:15px;font-weight:bold}.head{font-weight:bold}' +
    '.good{fill:#2a7a2a;font-weight:bold}.bad{fill:#b22222;font-weight:bold}.whisker{stroke:#222;stroke-width:1;fill:none}' +
    '.noise{stroke:#888;stroke-width:3}.rule{stroke:#ddd}</style>');
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="10" y="20" class="title">raftkv vs etcd 3.4.23, ${members} member${members === 1 ? '' : 's'} — ${esc(result.startedAt.slice(0, 16).replace('T', ' '))} UTC</text>`);
  parts.push(`<text x="10" y="36" class="small">${o.quick ? 'quick run: ' : ''}median of ${o.rounds} alternating rounds, ${o.cellSeconds} s cells, fresh data dirs; ` +
    `load average ${result.machine.loadAvgStart[0]!.toFixed(1)} at the start, ${result.machine.loadAvgEnd[0]!.toFixed(1)} at the end; each row has its own scale</text>`);
  parts.push(`<text x="10" y="48" class="small">whiskers: min–max over rounds; grey tick: etcd run again, the noise floor` +
    `${nf && present(nf.value.factor) ? ` (etcd differed from itself by up to ×${nf.value.factor.toFixed(2)} this run)` : ''}</text>`);
  parts.push(`<rect x="10" y="58" width="12" height="10" fill="${COLORS.etcd}"/><text x="26" y="67">etcd</text>`);
  parts.push(`<rect x="70" y="58" width="12" height="10" fill="${COLORS.raftkv}"/><text x="86" y="67">raftkv</text>`);
  parts.push('<path d="M146 56v14" class="noise"/><text x="154" y="67">etcd again (noise floor)</text>');
  parts.push(`<text x="${left}" y="${TOP - 6}" class="head">figure (↑ higher or ↓ lower is better) — raftkv/etcd</text>`);
  parts.push(`<text x="${right}" y="${TOP - 6}" class="head">p99 latency ms (↓) — raftkv/etcd</text>`);
  rows.forEach((row, i) => {
    const y = TOP + i * ROW_H;
    parts.push(`<line x1="10" x2="${width - 10}" y1="${y}" y2="${y}" class="rule"/>`);
    parts.push(`<text x="10" y="${y + 18}">${esc(row.id)}</text>`);
    parts.push(`<text x="10" y="${y + 32}" class="small">${esc(row.unit)} ${row.better === 'higher' ? '↑' : '↓'}</text>`);
    parts.push(bars(row, valueOf, left, y, row.unit, row.better));
    parts.push(bars(row, p99Of, right, y, 'ms', 'lower'));
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
