// What the members of a side did during one cell: the raft term and leader at its start and
// end (an election inside a cell is a slow round's first suspect), each member's CPU over the
// cell (/proc) and its WAL fsyncs and leader changes (its /metrics: etcd and raftkv export the
// same names). Kept in the JSON beside the cell's figures and printed with the round.
import { get } from 'node:http';
import { connect } from '@raftkv/testkit';
import { cpuSeconds } from './workloads.js';

/** A member of a side: its client endpoint (host:port) and its process, if running. */
export interface MemberRef { endpoint: string; pid: number | undefined }

/** One member at one moment; a field is absent when the member did not say (down, or no answer in time). */
export interface MemberProbe {
  /** Member ID, hex. */
  id?: string;
  term?: number;
  /** The leader it knows, hex ('0': none). */
  leader?: string;
  raftIndex?: number;
  cpuSeconds?: number;
  fsyncs?: number;
  fsyncSeconds?: number;
  /** fsyncs of more than 8 ms (the histogram's buckets above le="0.008"). */
  slowFsyncs?: number;
  leaderChanges?: number;
}

/** The members at a cell's start and end, in the side's member order. */
export interface CellMembers { start: MemberProbe[]; end: MemberProbe[] }

const CALL_LIMIT_MS = 1_000;

function withLimit<T>(p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.catch(() => undefined),
    new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), CALL_LIMIT_MS); }),
  ]).finally(() => clearTimeout(timer));
}

function metricsText(endpoint: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(`http://${endpoint}/metrics`, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { text += s; });
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(CALL_LIMIT_MS, () => req.destroy(new Error('metrics timed out')));
  });
}

/** The figures of a Prometheus text exposition this probe reads (exported for its test). */
export function parseMetrics(text: string): Pick<MemberProbe, 'fsyncs' | 'fsyncSeconds' | 'slowFsyncs' | 'leaderChanges'> {
  const value = (name: string): number | undefined => {
    const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const fsyncs = value('etcd_disk_wal_fsync_duration_seconds_count');
  const fast = value('etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"}');
  const out: ReturnType<typeof parseMetrics> = {};
  if (fsyncs !== undefined) out.fsyncs = fsyncs;
  const sum = value('etcd_disk_wal_fsync_duration_seconds_sum');
  if (sum !== undefined) out.fsyncSeconds = sum;
  if (fsyncs !== undefined && fast !== undefined) out.slowFsyncs = fsyncs - fast;
  const changes = value('etcd_server_leader_changes_seen_total');
  if (changes !== undefined) out.leaderChanges = changes;
  return out;
}

async function probeMember(m: MemberRef): Promise<MemberProbe> {
  const out: MemberProbe = {};
  if (m.pid === undefined) return out;
  const client = connect(m.endpoint);
  try {
    const [status, metrics] = await Promise.all([withLimit(client.status()), withLimit(metricsText(m.endpoint))]);
    try {
      out.cpuSeconds = cpuSeconds(m.pid);
    } catch {
      // exited meanwhile
    }
    if (status) {
      out.id = (status.header?.memberId ?? 0n).toString(16);
      out.term = Number(status.raftTerm);
      out.leader = status.leader.toString(16);
      out.raftIndex = Number(status.raftIndex);
    }
    if (metrics !== undefined) Object.assign(out, parseMetrics(metrics));
  } finally {
    client.close();
  }
  return out;
}

/** Every member of a side, probed together. */
export function probeMembers(members: readonly MemberRef[]): Promise<MemberProbe[]> {
  return Promise.all(members.map(probeMember));
}

const delta = (a: number | undefined, b: number | undefined): number | undefined =>
  (a === undefined || b === undefined ? undefined : b - a);

/**
 * One line for the log: the terms and leaders at start → end (members named m0, m1, ... in the
 * side's order; "!" marks a change), then per member (L: the leader at the end) its CPU ms over
 * the cell (and per operation, given the cell's `ops`), WAL fsyncs, their mean ms, and those over 8 ms.
 */
export function describeCell(c: CellMembers, ops?: number): string {
  const name = (leader: string | undefined, at: MemberProbe[]) => {
    if (leader === undefined) return '?';
    if (leader === '0') return 'none';
    const i = at.findIndex((p) => p.id === leader);
    return i >= 0 ? `m${i}` : leader;
  };
  const terms = (at: MemberProbe[]) => [...new Set(at.map((p) => p.term ?? '?'))].join('/');
  const leaders = (at: MemberProbe[]) => [...new Set(at.map((p) => name(p.leader, at)))].join('/');
  const t0 = terms(c.start);
  const t1 = terms(c.end);
  const l0 = leaders(c.start);
  const l1 = leaders(c.end);
  const head = `term ${t0}→${t1}${t0 === t1 ? '' : '!'} leader ${l0}→${l1}${l0 === l1 ? '' : '!'}`;
  const per = c.end.map((e, i) => {
    const s = c.start[i] ?? {};
    const cpu = delta(s.cpuSeconds, e.cpuSeconds);
    const n = delta(s.fsyncs, e.fsyncs);
    const secs = delta(s.fsyncSeconds, e.fsyncSeconds);
    const slow = delta(s.slowFsyncs, e.slowFsyncs);
    const changes = delta(s.leaderChanges, e.leaderChanges);
    const role = `m${i}${e.id !== undefined && e.id === e.leader ? ' (leader)' : ''}`;
    const perOp = cpu !== undefined && ops ? ` = ${Math.round((cpu * 1e6) / ops)} µs/op` : '';
    const mean = n !== undefined && secs !== undefined && n > 0 ? ((secs / n) * 1000).toFixed(2) : '-';
    return `${role} cpu ${cpu === undefined ? '?' : Math.round(cpu * 1000)} ms${perOp}, fsync ${n ?? '?'}×${mean} ms (>8 ms: ${slow ?? '?'})` +
      (changes ? `, leader changes ${changes}` : '');
  });
  return `${head}; ${per.join('; ')}`;
}
