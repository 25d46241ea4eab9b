import type { KeyAt, KeyIndex } from './key-index.js';
import type { MvccOpCounts } from './key-space.js';
import type { KeyValue } from './key-value.js';
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from './kv.js';
import type { Pacer } from './paced.js';
import type { Revision } from './revision.js';
import { keyString, type RangeEnd, type TreeIndex } from './tree-index.js';
import type { Change, WriteTxn } from './write-txn.js';

/**
 * A write applied in steps. `done`: it fit in its first step and was applied synchronously, as
 * the plain call would; otherwise `response` resolves once the whole write is applied and its
 * revision published.
 */
export type SteppedWrite<T> = { done: true; response: T } | { done: false; response: Promise<T> };

/** The store's own write primitives, which a stepped write calls in the same order as the plain write. */
export interface WriteHost {
  readonly index: TreeIndex;
  readonly opCounts: MvccOpCounts;
  applyPut(tw: WriteTxn, req: PutRequest): PutResponse;
  rangeAt(req: RangeRequest, rev: number): RangeResponse;
  readKeyValue(rev: Revision): KeyValue;
  writeTombstone(tw: WriteTxn, ks: string, ki: KeyIndex, at: KeyAt, prev?: KeyValue): void;
  /** Whether the write's end must build events (someone listens). */
  hasListeners(): boolean;
  /** The event of one change (its prevKv read), as the plain write's end builds it. */
  eventOf(tw: WriteTxn, c: Change): Event;
  /** Makes the write's revision current and hands `events` to the listeners; synchronous. */
  publish(tw: WriteTxn, events: Event[] | undefined): void;
  /** The plain write's end: events and publish in one go. */
  end(tw: WriteTxn): void;
  /** Marks a write as running across turns: commits wait for it, other writes are refused. Returns its end. */
  begin(): () => void;
}

/**
 * Work done by a step, in "entries" of the pacer: a put costs more than deleting one key (it
 * encodes its KV and may insert a key), about what a key of a ranged delete costs per this many.
 */
const PUT_WEIGHT = 4;

/**
 * Drives `steps` (the body of a write: a generator yielding the work it did) synchronously until
 * the pacer's step is full; if it ended by then, ends the write as the plain call does. Otherwise
 * the rest runs across turns of the caller's pause: the body's remaining steps, then the events
 * (prevKvs read in steps), then, in one synchronous step, the revision is published and the
 * listeners called. Until then readers see the store at the previous revision (the write only
 * appends index entries and backend entries at the next one, which reads bounded by the current
 * revision skip), commits wait, and other writes are refused.
 */
export function runWrite<T>(host: WriteHost, tw: WriteTxn, steps: Generator<number, T>, pacer: Pacer): SteppedWrite<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) {
      host.end(tw);
      return { done: true, response: r.value };
    }
    if (pacer.tick(r.value)) break;
  }
  const finish = host.begin();
  const response = (async () => {
    try {
      await pacer.pause();
      let result: T;
      for (;;) {
        const r = steps.next();
        if (r.done) {
          result = r.value;
          break;
        }
        if (pacer.tick(r.value)) await pacer.pause();
      }
      let events: Event[] | undefined;
      if (tw.count > 0 && host.hasListeners()) {
        events = new Array<Event>(tw.changes.length);
        for (let i = 0; i < tw.changes.length; i++) {
          events[i] = host.eventOf(tw, tw.changes[i]!);
          if (pacer.tick()) await pacer.pause();
        }
      }
      host.publish(tw, events);
      return result;
    } finally {
      finish();
    }
  })();
  return { done: false, response };
}

/** The plain write's applyTxn, yielding after each op (and inside ranged deletes). */
export function* txnSteps(
  h: WriteHost,
  tw: WriteTxn,
  req: TxnRequest,
  path: boolean[],
  pos: { i: number },
  step: number,
): Generator<number, TxnResponse> {
  const ok = path[pos.i++]!;
  const responses: ResponseOp[] = [];
  for (const op of ok ? req.success : req.failure) {
    // Same order of tests as the plain write's applyOp.
    if ('range' in op) {
      const range = h.rangeAt(op.range, tw.readRev);
      responses.push({ range });
      yield range.kvs.length + 1;
    } else if ('put' in op) {
      responses.push({ put: h.applyPut(tw, op.put) });
      yield PUT_WEIGHT;
    } else if ('deleteRange' in op) {
      responses.push({ deleteRange: yield* deleteRangeSteps(h, tw, op.deleteRange, step) });
    } else if ('txn' in op) {
      responses.push({ txn: yield* txnSteps(h, tw, op.txn, path, pos, step) });
    } else {
      throw new RangeError('empty RequestOp');
    }
  }
  return { revision: 0, succeeded: ok, responses };
}

/**
 * The plain write's applyDeleteRange, walking the index `step` keys at a time from where the
 * last walk stopped (nothing else changes the tree while a write runs, and this op only appends
 * tombstones to keys already walked), deleting each live key as the plain write does, in key order.
 */
export function* deleteRangeSteps(h: WriteHost, tw: WriteTxn, req: DeleteRangeRequest, step: number): Generator<number, DeleteRangeResponse> {
  h.opCounts.deletes++;
  const prevKvs: KeyValue[] = [];
  const end = rangeEndOf(req.rangeEnd);
  let from = keyString(req.key);
  let after: string | undefined;
  let deleted = 0;
  const live: Array<{ ks: string; ki: KeyIndex; at: KeyAt }> = [];
  for (;;) {
    live.length = 0;
    let walked = 0;
    let last: string | undefined;
    h.index.visit(from, end, (ks, ki) => {
      if (ks === after) return true;
      last = ks;
      const at = ki.get(tw.readRev);
      if (at) live.push({ ks, ki, at });
      return ++walked < step;
    });
    for (const { ks, ki, at } of live) {
      let prev: KeyValue | undefined;
      if (req.prevKv) {
        prev = h.readKeyValue(at.modified);
        prevKvs.push(prev);
      }
      h.writeTombstone(tw, ks, ki, at, prev);
      deleted++;
      yield 1;
    }
    if (walked < step || last === undefined) break;
    if (walked > live.length) yield walked - live.length;
    from = last;
    after = last;
  }
  const revision = deleted > 0 || tw.count > 0 ? tw.beginRev + 1 : tw.beginRev;
  return { revision, deleted, prevKvs };
}

/** As kvstore's: "" or absent is a single key, "\0" no upper bound. */
export function rangeEndOf(rangeEnd: Uint8Array | undefined): RangeEnd {
  if (!rangeEnd || rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return null; // etcd's "\0": no upper bound
  return keyString(rangeEnd);
}
