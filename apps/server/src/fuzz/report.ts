// What a fuzz run found and counted: findings (deduplicated by signature), per-method and
// per-code counts, and the replayable form of a request.
import { CODE_NAMES, type Outcome } from './wire.js';

export type FindingKind =
  | 'crash' // raftkv exited
  | 'restart-failed' // raftkv did not start again on its data dir
  | 'lost' // an acknowledged write is missing after kill -9 + restart
  | 'keyspace' // raftkv's and etcd's keyspaces differ after a batch
  | 'diverged' // cluster members do not converge
  | 'mismatch' // code/message/body differ from etcd's
  | 'unresponsive' // the put + linearizable get after a batch failed
  | 'etcd-not-total'; // etcd itself crashed on the request

export interface Finding {
  readonly kind: FindingKind;
  readonly signature: string;
  /** Where the first occurrence came from: `seed S item I` (replay with `--seed S --batches 1`). */
  readonly where: string;
  readonly method?: string;
  /** The request in replayable form (see `replayForm`). */
  readonly request?: string;
  readonly etcd?: string;
  readonly raftkv?: string;
  readonly detail?: string;
  count: number;
}

/** JSON with bigints as "123n", byte strings as {"hex": ...}: `parseReplayForm` reads it back. */
export function replayForm(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      const bytes = Buffer.from((x as { data: number[] }).data);
      return bytes.length > 64 ? { hex: bytes.subarray(0, 16).toString('hex'), repeatLast: bytes.length } : { hex: bytes.toString('hex') };
    }
    return x;
  });
}

export function parseReplayForm(text: string): unknown {
  return JSON.parse(text, (_k, x: unknown) => {
    if (typeof x === 'string' && /^-?\d+n$/.test(x)) return BigInt(x.slice(0, -1));
    if (x && typeof x === 'object' && typeof (x as { hex?: unknown }).hex === 'string') {
      const { hex, repeatLast } = x as { hex: string; repeatLast?: number };
      const head = Buffer.from(hex, 'hex');
      if (repeatLast === undefined) return head;
      return Buffer.concat([head, Buffer.alloc(repeatLast - head.length, head[head.length - 1] ?? 0)]);
    }
    return x;
  });
}

export function outcomeText(o: Outcome | undefined): string {
  if (o === undefined) return '(not sent)';
  return o.code === 0 ? 'OK' : `${CODE_NAMES[o.code] ?? o.code}: ${o.details}`;
}

/** Numbers, hex IDs and sizes replaced, so one bug is one signature. */
export function shape(text: string): string {
  return text.replace(/0x[0-9a-f]+/gi, 'X').replace(/\d+/g, 'N').slice(0, 200);
}

export class Findings {
  private readonly bySig = new Map<string, Finding>();

  add(f: Omit<Finding, 'count'>): Finding {
    const found = this.bySig.get(f.signature);
    if (found) { found.count++; return found; }
    const created: Finding = { ...f, count: 1 };
    this.bySig.set(f.signature, created);
    return created;
  }

  all(): Finding[] {
    return [...this.bySig.values()];
  }
}

export class Counters {
  readonly sent = new Map<string, number>();
  readonly codes = new Map<string, number>();
  /** What was compared with etcd beyond unary answers (streams, their responses and events, membership). */
  readonly compared = new Map<string, number>();
  skippedKnown = 0;
  crashes = 0;
  restarts = 0;
  resets = 0;
  batches = 0;

  inc(map: Map<string, number>, k: string, n = 1): void {
    map.set(k, (map.get(k) ?? 0) + n);
  }

  total(): number {
    let n = 0;
    for (const v of this.sent.values()) n += v;
    return n;
  }
}

export function summaryText(c: Counters, findings: Finding[], seeds: [number, number]): string {
  const lines: string[] = [];
  lines.push(`fuzz: ${c.total()} requests/scenarios in ${c.batches} batches, seeds ${seeds[0]}..${seeds[1]}`);
  lines.push(`  crashes ${c.crashes}, restarts ${c.restarts}, fresh resets ${c.resets}, skipped as known ${c.skippedKnown}`);
  lines.push('  sent per method:');
  for (const [k, v] of [...c.sent].sort()) lines.push(`    ${k.padEnd(28)} ${v}`);
  if (c.compared.size > 0) {
    lines.push('  compared with etcd:');
    for (const [k, v] of [...c.compared].sort()) lines.push(`    ${k.padEnd(28)} ${v}`);
  }
  lines.push('  answers by code (server code):');
  for (const [k, v] of [...c.codes].sort()) lines.push(`    ${k.padEnd(40)} ${v}`);
  lines.push(`  findings: ${findings.length}`);
  for (const f of findings) {
    lines.push(`  - [${f.kind}] ${f.signature} (x${f.count}, first at ${f.where})`);
    if (f.request) lines.push(`      request: ${f.request.length > 600 ? `${f.request.slice(0, 600)}…` : f.request}`);
    if (f.etcd !== undefined) lines.push(`      etcd:    ${f.etcd}`);
    if (f.raftkv !== undefined) lines.push(`      raftkv:  ${f.raftkv}`);
    if (f.detail) lines.push(`      detail:  ${f.detail.split('\n').join('\n               ')}`);
  }
  return lines.join('\n');
}
