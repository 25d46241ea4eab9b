// How the fuzz run compares raftkv's answers with etcd's: canonical renderings without headers or
// member IDs, the first path where they differ, whole keyspaces, and a Go panic's signature.
import { createHash } from 'node:crypto';
import { etcdserverpb } from '@raftkv/api';
import { outcomeText, shape } from './report.js';
import { crashExcerpt } from './servers.js';
import type { RawClient } from './wire.js';

const EVERYTHING = Buffer.from([0]);

/** A keyspace as comparable lines, with the revision it was read at. */
export interface KeyspaceView { revision: string; kvs: string[] }

/** A header-free, comparable rendering of a decoded response. */
export function canonical(v: unknown, self: bigint | undefined): unknown {
  if (typeof v === 'bigint') return self !== undefined && v === self ? 'SELF' : `${v}`;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const b = Buffer.from(v);
    return b.length > 64 ? `len ${b.length} sha1 ${createHash('sha1').update(b).digest('hex')}` : `hex ${b.toString('hex')}`;
  }
  if (Array.isArray(v)) return v.map((x) => canonical(x, self));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (k === 'header' && x && typeof x === 'object') {
        out[k] = { revision: canonical((x as { revision?: bigint }).revision, undefined) };
        continue;
      }
      out[k] = canonical(x, self);
    }
    return out;
  }
  return v;
}

/** The first path where two canonical values differ. */
export function firstDiff(a: unknown, b: unknown, path = ''): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== undefined) return d;
    }
  }
  return `${path || '.'}: etcd ${JSON.stringify(a)?.slice(0, 200)} / raftkv ${JSON.stringify(b)?.slice(0, 200)}`;
}

/** "panic: <what> at <first etcd frame>" from a Go panic in the output. */
export function panicSignature(output: string): string {
  const lines = output.split('\n');
  let at = -1;
  for (let i = lines.length - 1; i >= 0 && at < 0; i--) if (lines[i]!.startsWith('panic:')) at = i;
  if (at < 0) return shape(crashExcerpt(output, 1));
  const frame = lines.slice(at).find((l) => l.includes('go.etcd.io/etcd/')) ?? '';
  return `${lines[at]} at ${frame.replace(/\(0x[^)]*\)/g, '()').replace(/^.*go\.etcd\.io\/etcd\//, '')}`;
}

/** A difference's path with its array indexes as N, so one finding is not many. */
export function stripPaths(d: string): string {
  return d.replace(/\.\d+(?=[.:])/g, '.N');
}

/** Every key of the keyspace, or the failed call's outcome as text. */
export async function rangeAll(c: RawClient, serializable: boolean): Promise<KeyspaceView | string> {
  const req = etcdserverpb.RangeRequest.fromPartial({ key: EVERYTHING, rangeEnd: EVERYTHING, serializable });
  const o = await c.unary('/etcdserverpb.KV/Range', Buffer.from(etcdserverpb.RangeRequest.encode(req).finish()), 15_000);
  if (o.code !== 0) return outcomeText(o);
  const res = etcdserverpb.RangeResponse.decode(o.body!);
  return {
    revision: `${res.header?.revision ?? 0n}`,
    kvs: res.kvs.map((kv) => {
      const v = kv.value.length > 32 ? `len ${kv.value.length} sha1 ${createHash('sha1').update(kv.value).digest('hex').slice(0, 12)}` : kv.value.toString('hex');
      return `${kv.key.toString('hex').slice(0, 80)}${kv.key.length > 40 ? `…(${kv.key.length})` : ''} = ${v} ver ${kv.version} create ${kv.createRevision} mod ${kv.modRevision} lease ${kv.lease}`;
    }),
  };
}

export function diffViews(a: KeyspaceView | string, b: KeyspaceView | string): string | undefined {
  if (typeof a === 'string' || typeof b === 'string') {
    return typeof a === 'string' && typeof b === 'string' && a === b ? undefined : `range failed: ${typeof a === 'string' ? a : 'ok'} / ${typeof b === 'string' ? b : 'ok'}`;
  }
  const lines: string[] = [];
  if (a.revision !== b.revision) lines.push(`revision ${a.revision} / ${b.revision}`);
  const sa = new Set(a.kvs);
  const sb = new Set(b.kvs);
  for (const x of a.kvs) if (!sb.has(x)) lines.push(`only first: ${x}`);
  for (const x of b.kvs) if (!sa.has(x)) lines.push(`only second: ${x}`);
  return lines.length === 0 ? undefined : lines.slice(0, 12).join('\n');
}
