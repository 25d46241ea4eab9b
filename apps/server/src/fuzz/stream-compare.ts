// Comparison of one Watch or LeaseKeepAlive stream as etcd and raftkv answered the same request
// sequence. Only what is deterministic given that sequence is compared (see README, Fuzzing):
// - Watch: the control responses (created, canceled by request, progress) in order, with watch
//   id, cancel reason and header revision (etcd sends them through one FIFO); per watcher, the
//   compacted cancellations, the events flattened (how events are grouped into responses depends
//   on when etcd's 100 ms sync loop runs) and the fragmented responses; the status ending the
//   stream. Header IDs (member, cluster, raft term) and event-response header revisions are not.
// - LeaseKeepAlive: per response the lease ID and the TTL (0 on both, or live on both with
//   raftkv's TTL at most etcd's, which is the granted TTL); the ending status.
import { createHash } from 'node:crypto';
import { etcdserverpb, mvccpb } from '@raftkv/api';
import { FREE_LEASES } from './generate.js';
import { CODE_NAMES } from './wire.js';

/** How a stream ended: the server's status, or undefined while open when the client cancelled. */
export interface StreamEnd {
  readonly code: number;
  readonly details: string;
}

/** One side's record of a stream: what it sent (decoded; undefined for bytes that do not decode) and got. */
export interface StreamRecord<Req, Res> {
  readonly sent: (Req | undefined)[];
  readonly responses: Res[];
  /** The status the server ended the stream with; undefined when the client ended it. */
  readonly end: StreamEnd | undefined;
}

export type WatchRecord = StreamRecord<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;
export type KeepAliveRecord = StreamRecord<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>;

/** One difference: `what` is the signature part (no numbers that vary), `detail` the values. */
export interface StreamDiff {
  readonly what: string;
  readonly detail: string;
  /** The watcher the difference is about, when it is about one. */
  readonly watchId?: bigint;
  /** That watcher's create request, when known (matched by order of the created responses). */
  readonly create?: etcdserverpb.WatchCreateRequest;
  /** Set when the watcher was canceled as compacted on one side only. */
  readonly compactedOnlyOn?: 'etcd' | 'raftkv';
  /** How many watchers of the stream raftkv canceled as compacted. */
  readonly compactedWatchers?: number;
  /** For a compacted-response difference: how many such responses etcd and raftkv sent the watcher. */
  readonly compactedCounts?: readonly [number, number];
  /** Both ends, when the difference is how the stream ended. */
  readonly end?: { etcd: StreamEnd | undefined; raftkv: StreamEnd | undefined };
}

const hex = (b: Uint8Array): string => {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return buf.length > 32 ? `len ${buf.length} sha1 ${createHash('sha1').update(buf).digest('hex').slice(0, 12)}` : buf.toString('hex');
};

const kvText = (kv: mvccpb.KeyValue | undefined): string => (kv === undefined ? '-'
  : `${hex(kv.key)}=${hex(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease}`);

export function eventText(ev: mvccpb.Event): string {
  return `${ev.type === mvccpb.Event_EventType.DELETE ? 'DELETE' : ev.type === mvccpb.Event_EventType.PUT ? 'PUT' : `type${ev.type}`} ${kvText(ev.kv)} prev ${kvText(ev.prevKv)}`;
}

const endText = (e: StreamEnd | undefined): string => (e === undefined ? 'open (ended by the client)' : `${CODE_NAMES[e.code] ?? e.code}: ${e.details}`);

/** Responses that go through etcd's control channel (FIFO with the requests that caused them). */
function isControl(r: etcdserverpb.WatchResponse): boolean {
  if (r.created) return true;
  if (r.canceled && r.compactRevision === 0n) return true;
  return r.watchId === -1n && r.events.length === 0;
}

const controlText = (r: etcdserverpb.WatchResponse): string =>
  `id ${r.watchId}${r.created ? ' created' : ''}${r.canceled ? ' canceled' : ''}${r.cancelReason ? ` "${r.cancelReason}"` : ''} rev ${r.header?.revision ?? 0n}`;

interface WatcherView {
  events: string[];
  /** compact_revision and header revision of each compacted cancellation. */
  compacted: string[];
  /** Per fragmented response group: the events of each piece ("3+4"); "-" before one that never ended. */
  fragments: string[];
  /** Responses with no events and no flags (progress_notify ticks). */
  empty: number;
}

interface WatchView {
  control: etcdserverpb.WatchResponse[];
  watchers: Map<bigint, WatcherView>;
}

function watchView(responses: readonly etcdserverpb.WatchResponse[]): WatchView {
  const control: etcdserverpb.WatchResponse[] = [];
  const watchers = new Map<bigint, WatcherView>();
  const open = new Map<bigint, number[]>();
  for (const r of responses) {
    if (isControl(r)) {
      control.push(r);
      continue;
    }
    let w = watchers.get(r.watchId);
    if (w === undefined) {
      w = { events: [], compacted: [], fragments: [], empty: 0 };
      watchers.set(r.watchId, w);
    }
    for (const ev of r.events) w.events.push(eventText(ev));
    if (r.compactRevision !== 0n) w.compacted.push(`compact ${r.compactRevision} canceled ${r.canceled} rev ${r.header?.revision ?? 0n}`);
    else if (r.events.length === 0 && !r.fragment) w.empty++;
    const pieces = open.get(r.watchId);
    if (r.fragment) open.set(r.watchId, [...(pieces ?? []), r.events.length]);
    else if (pieces !== undefined) {
      w.fragments.push([...pieces, r.events.length].join('+'));
      open.delete(r.watchId);
    }
  }
  // A group still open at the end lost its last piece.
  for (const [id, pieces] of open) watchers.get(id)!.fragments.push(`-${pieces.join('+')}`);
  return { control, watchers };
}

/** The create request behind each watch id: the n-th created response answers the n-th create. */
function createsById(sent: readonly (etcdserverpb.WatchRequest | undefined)[], control: readonly etcdserverpb.WatchResponse[]): Map<bigint, etcdserverpb.WatchCreateRequest> {
  const out = new Map<bigint, etcdserverpb.WatchCreateRequest>();
  const creates = sent.filter((s) => s?.createRequest !== undefined).map((s) => s!.createRequest!);
  const created = control.filter((r) => r.created);
  for (let i = 0; i < Math.min(creates.length, created.length); i++) {
    if (created[i]!.watchId !== -1n) out.set(created[i]!.watchId, creates[i]!);
  }
  return out;
}

function firstListDiff(a: readonly string[], b: readonly string[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `#${i} of ${a.length}/${b.length}: etcd ${a[i]?.slice(0, 300) ?? '(none)'} / raftkv ${b[i]?.slice(0, 300) ?? '(none)'}`;
  }
  return undefined;
}

/** The differences between etcd's and raftkv's answers to the same Watch request sequence. */
export function compareWatch(etcd: WatchRecord, raftkv: WatchRecord): StreamDiff[] {
  const diffs: StreamDiff[] = [];
  const e = watchView(etcd.responses);
  const k = watchView(raftkv.responses);
  const creates = createsById(etcd.sent, e.control);
  const aboutWatcher = (id: bigint): Pick<StreamDiff, 'watchId' | 'create'> => {
    const create = creates.get(id);
    return create === undefined ? { watchId: id } : { watchId: id, create };
  };
  for (let i = 0; i < Math.max(e.control.length, k.control.length); i++) {
    const a = e.control[i];
    const b = k.control[i];
    if (a !== undefined && b !== undefined && controlText(a) === controlText(b)) continue;
    const field = a === undefined || b === undefined ? 'count'
      : a.watchId !== b.watchId ? 'watch_id'
        : a.created !== b.created ? 'created'
          : a.canceled !== b.canceled ? 'canceled'
            : a.cancelReason !== b.cancelReason ? 'cancel_reason' : 'header.revision';
    const kind = (r: etcdserverpb.WatchResponse | undefined): string => (r === undefined ? 'none' : r.created ? 'created' : r.canceled ? 'canceled' : 'progress');
    diffs.push({
      what: `control response ${field} differs (etcd ${kind(a)}, raftkv ${kind(b)})`,
      detail: `control #${i}: etcd ${a ? controlText(a) : '(none)'} / raftkv ${b ? controlText(b) : '(none)'}`,
      ...(a !== undefined ? aboutWatcher(a.watchId) : b !== undefined ? aboutWatcher(b.watchId) : {}),
    });
    break; // later control responses are shifted by this one
  }
  const ids = new Set([...e.watchers.keys(), ...k.watchers.keys()]);
  const compactedWatchers = [...k.watchers.values()].filter((w) => w.compacted.length > 0).length;
  for (const id of ids) {
    const a = e.watchers.get(id) ?? { events: [], compacted: [], fragments: [], empty: 0 };
    const b = k.watchers.get(id) ?? { events: [], compacted: [], fragments: [], empty: 0 };
    const onlyOn = (a.compacted.length > 0) === (b.compacted.length > 0) ? {} : { compactedOnlyOn: a.compacted.length > 0 ? 'etcd' as const : 'raftkv' as const, compactedWatchers };
    const about = (w: bigint): Pick<StreamDiff, 'watchId' | 'create' | 'compactedOnlyOn' | 'compactedWatchers'> => ({ ...aboutWatcher(w), ...onlyOn });
    const ev = firstListDiff(a.events, b.events);
    if (ev !== undefined) diffs.push({ what: a.events.length !== b.events.length ? 'watcher events count differs' : 'watcher event differs', detail: `watch ${id} event ${ev}`, ...about(id) });
    const cp = firstListDiff(a.compacted, b.compacted);
    if (cp !== undefined) {
      diffs.push({ what: 'watcher compacted response differs', detail: `watch ${id} ${cp}`, ...about(id), compactedWatchers, compactedCounts: [a.compacted.length, b.compacted.length] });
    }
    const fr = firstListDiff(a.fragments, b.fragments);
    if (fr !== undefined) diffs.push({ what: 'watcher fragments differ', detail: `watch ${id} fragment group ${fr}`, ...about(id) });
    if (a.empty !== b.empty) diffs.push({ what: 'watcher empty responses differ', detail: `watch ${id}: etcd ${a.empty} / raftkv ${b.empty}`, ...about(id) });
  }
  diffs.push(...compareEnd(etcd.end, raftkv.end));
  return diffs;
}

function compareEnd(e: StreamEnd | undefined, k: StreamEnd | undefined): StreamDiff[] {
  if (e?.code === k?.code && e?.details === k?.details) return [];
  return [{
    what: `stream end differs: etcd ${e === undefined ? 'open' : CODE_NAMES[e.code]} / raftkv ${k === undefined ? 'open' : CODE_NAMES[k.code]}`,
    detail: `etcd ${endText(e)} / raftkv ${endText(k)}`, end: { etcd: e, raftkv: k },
  }];
}

/** The differences between etcd's and raftkv's answers to the same LeaseKeepAlive request sequence. */
export function compareKeepAlive(etcd: KeepAliveRecord, raftkv: KeepAliveRecord): StreamDiff[] {
  const diffs: StreamDiff[] = [];
  const n = Math.max(etcd.responses.length, raftkv.responses.length);
  for (let i = 0; i < n; i++) {
    const a = etcd.responses[i];
    const b = raftkv.responses[i];
    const text = (r: etcdserverpb.LeaseKeepAliveResponse | undefined): string => (r === undefined ? '(none)' : `ID ${r.ID} TTL ${r.TTL}`);
    const detail = `response #${i} of ${etcd.responses.length}/${raftkv.responses.length}: etcd ${text(a)} / raftkv ${text(b)}`;
    if (a === undefined || b === undefined) { diffs.push({ what: 'keepalive response count differs', detail }); break; }
    if (a.ID !== b.ID) { diffs.push({ what: 'keepalive ID differs', detail }); break; }
    // A FREE lease may be granted with a TTL of seconds: it expires at slightly different moments.
    if (FREE_LEASES.includes(a.ID)) {
      if (a.TTL < 0n || b.TTL < 0n) { diffs.push({ what: 'keepalive TTL negative', detail }); break; }
      continue;
    }
    // etcd answers the granted TTL of a live lease and 0 for an unknown or expired one.
    if ((a.TTL === 0n) !== (b.TTL === 0n)) { diffs.push({ what: `keepalive TTL ${a.TTL === 0n ? 'live on raftkv only' : 'live on etcd only'}`, detail }); break; }
    if (b.TTL < 0n || b.TTL > a.TTL) { diffs.push({ what: 'keepalive TTL outside 0..granted', detail }); break; }
  }
  diffs.push(...compareEnd(etcd.end, raftkv.end));
  return diffs;
}
