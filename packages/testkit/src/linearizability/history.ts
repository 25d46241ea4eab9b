/**
 * The recorded history of a KV test run: what each client asked for, when, and what it saw.
 *
 * Times are milliseconds on one monotonic clock shared by every client of the run (the
 * recorder's clock). An operation that timed out or lost its connection has outcome
 * `{ status: 'unknown' }`: it may have taken effect at any moment after its invocation, or
 * never (Knossos semantics: its completion is +infinity).
 */

/** Write `value` to `key`. */
export interface PutInput {
  readonly type: 'put';
  readonly key: string;
  readonly value: string;
}

/** Linearizable read of `key`; the result is its value or `undefined` when absent. */
export interface GetInput {
  readonly type: 'get';
  readonly key: string;
}

/**
 * A txn "if value(key) == expected then put(key, value)". `expected: undefined` compares
 * against absence (etcd's `create_revision == 0`). The result says whether the compare held.
 */
export interface CasInput {
  readonly type: 'cas';
  readonly key: string;
  readonly expected: string | undefined;
  readonly value: string;
}

/** Remove `key` (a no-op when absent). */
export interface DeleteInput {
  readonly type: 'delete';
  readonly key: string;
}

export type KvInput = PutInput | GetInput | CasInput | DeleteInput;

/** What a completed operation returned, by input type. */
export type ResultOf<I extends KvInput> = I extends GetInput
  ? string | undefined
  : I extends CasInput
    ? 'ok' | 'failed'
    : 'ok';

/** Either a completion seen by the client, or unknown (timeout / connection lost). */
export type Outcome<R> =
  | { readonly status: 'ok'; readonly completeMs: number; readonly result: R }
  | { readonly status: 'unknown' };

interface OperationOf<I extends KvInput> {
  /** Unique within one history; used in witnesses. */
  readonly id: number;
  /** Which client (connection / process) issued it; only used to describe witnesses. */
  readonly client: string;
  readonly input: I;
  readonly invokeMs: number;
  readonly outcome: Outcome<ResultOf<I>>;
}

/** One operation of a history; `input.type` tells the shape of `outcome.result`. */
export type Operation =
  | OperationOf<PutInput>
  | OperationOf<GetInput>
  | OperationOf<CasInput>
  | OperationOf<DeleteInput>;

/** A handle for an invoked operation that has not been completed yet. */
export interface PendingOperation<I extends KvInput> {
  readonly id: number;
  readonly client: string;
  readonly input: I;
  readonly invokeMs: number;
}

/** The arguments `complete` takes after the handle: the result, omitted for put/delete. */
export type ResultArgs<I extends KvInput> = I extends GetInput
  ? [value: string | undefined]
  : I extends CasInput
    ? [result: 'ok' | 'failed']
    : [];

/**
 * Records a history from concurrent test clients.
 *
 * Contract: call `invoke` immediately BEFORE sending the request and `complete` immediately
 * AFTER the response arrives, so each recorded interval contains the real one. Call
 * `unknown` when the outcome cannot be known (deadline exceeded, connection reset, member
 * killed mid-request). Anything still pending when `history()` is called is recorded as
 * unknown. Completing an operation twice throws.
 *
 * @example
 * const rec = new HistoryRecorder();
 * const op = rec.invoke('c1', { type: 'put', key: 'k', value: 'v1' });
 * await client.put('k').value('v1');
 * rec.complete(op);
 * const read = rec.invoke('c2', { type: 'get', key: 'k' });
 * rec.complete(read, await client.get('k').string() ?? undefined);
 * expect(checkLinearizable(rec.history()).ok).toBe(true);
 */
export class HistoryRecorder {
  private readonly pending = new Map<number, PendingOperation<KvInput>>();
  private readonly done: Operation[] = [];
  private nextId = 0;
  private lastMs = -Infinity;

  /**
   * @param clock monotonic milliseconds; `performance.now()` unless a test injects one.
   * @param maxOperations a limit on the history's length (throws past it).
   */
  constructor(
    private readonly clock: () => number = () => performance.now(),
    private readonly maxOperations = 1_000_000,
  ) {}

  /** Records the invocation of `input` by `client` now. */
  invoke<I extends KvInput>(client: string, input: I): PendingOperation<I> {
    if (this.nextId >= this.maxOperations) {
      throw new RangeError(`history limit of ${this.maxOperations} operations reached`);
    }
    const op: PendingOperation<I> = { id: this.nextId++, client, input, invokeMs: this.now() };
    this.pending.set(op.id, op);
    return op;
  }

  /** Records that `op` returned `result` now. */
  complete<I extends KvInput>(op: PendingOperation<I>, ...result: ResultArgs<I>): void {
    const completeMs = this.now();
    this.take(op);
    const value = op.input.type === 'put' || op.input.type === 'delete' ? 'ok' : result[0];
    if (op.input.type === 'cas' && value !== 'ok' && value !== 'failed') {
      throw new TypeError(`cas result must be 'ok' or 'failed', got ${String(value)}`);
    }
    // The casts restate what ResultArgs<I> already guarantees for this input type.
    this.done.push({
      id: op.id,
      client: op.client,
      input: op.input,
      invokeMs: op.invokeMs,
      outcome: { status: 'ok', completeMs, result: value },
    } as Operation);
  }

  /** Records that `op`'s outcome is unknown: it may or may not take effect, at any later time. */
  unknown<I extends KvInput>(op: PendingOperation<I>): void {
    this.take(op);
    this.done.push(unknownOperation(op));
  }

  /** The history so far (operations still pending are included as unknown), by id. */
  history(): Operation[] {
    const all = [...this.done, ...[...this.pending.values()].map(unknownOperation)];
    return all.sort((a, b) => a.id - b.id);
  }

  private take(op: PendingOperation<KvInput>): void {
    if (!this.pending.delete(op.id)) {
      throw new Error(`operation ${op.id} is not pending (completed twice, or not ours)`);
    }
  }

  private now(): number {
    const ms = this.clock();
    if (!Number.isFinite(ms) || ms < this.lastMs) {
      throw new RangeError(`clock went backwards or is not finite: ${ms} after ${this.lastMs}`);
    }
    this.lastMs = ms;
    return ms;
  }
}

function unknownOperation(op: PendingOperation<KvInput>): Operation {
  return { ...op, outcome: { status: 'unknown' } } as Operation;
}

/**
 * One line describing `op`, for witnesses and test failures, e.g.
 * `#4 c2 [10.000, 12.500] get(k) -> "v1"` or `#7 c1 [11.000, ∞) put(k, "v2") -> ?`.
 */
export function formatOperation(op: Operation): string {
  const end = op.outcome.status === 'ok' ? `${op.outcome.completeMs.toFixed(3)}]` : '∞)';
  const interval = `[${op.invokeMs.toFixed(3)}, ${end}`;
  const show = (v: string | undefined): string => (v === undefined ? 'absent' : JSON.stringify(v));
  const key = JSON.stringify(op.input.key);
  let call: string;
  switch (op.input.type) {
    case 'put':
      call = `put(${key}, ${show(op.input.value)})`;
      break;
    case 'get':
      call = `get(${key})`;
      break;
    case 'cas':
      call = `cas(${key}, ${show(op.input.expected)} -> ${show(op.input.value)})`;
      break;
    case 'delete':
      call = `delete(${key})`;
      break;
  }
  let result: string;
  if (op.outcome.status === 'unknown') result = '?';
  else if (op.input.type === 'get') result = show(op.outcome.result);
  else result = String(op.outcome.result);
  return `#${op.id} ${op.client} ${interval} ${call} -> ${result}`;
}
